package space

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const baselines = "../configs/baselines/"

// A published figure: a value, how far from it a count may be, and where it was published.
type figure struct {
	value float64
	// tol is the largest allowed |count − value|: 0 for an exact figure, half the last digit
	// for a figure the source rounds.
	tol    float64
	source string
}

func exact(v float64, source string) figure { return figure{v, 0, source} }

// rounded is a figure published with the given number of decimals.
func rounded(v float64, decimals int, source string) figure {
	return figure{v, 0.5 * math.Pow(10, -float64(decimals)), source}
}

// withinMACs is a MAC figure held to 0.1% (or to its rounding, if that is coarser).
func withinMACs(v float64, decimals int, source string) figure {
	f := rounded(v, decimals, source)
	f.tol = math.Max(f.tol, 0.001*v)
	return f
}

const (
	tvDocs       = "torchvision model documentation and weights metadata (num_params, _ops in GFLOPS)"
	benchLayers  = "shared/bench/torch_reference_layers.txt (PyTorch definitions in torch_reference.py)"
	akamaster    = "akamaster/pytorch_resnet_cifar10 (He et al. option A), printed parameter totals"
	imgclsmob    = "osmr/imgclsmob model tests (weight_count)"
	heResNet     = "He et al. 2016, Table 6 (CIFAR-10)"
	hePreact     = "He et al. ECCV 2016, Table 2 (CIFAR)"
	zagoruyko    = "Zagoruyko & Komodakis 2016, Table 4 / text"
	huangDense   = "Huang et al. 2017, Table 2"
	xieResNeXt   = "Xie et al. 2017, Table 7 (CIFAR)"
	huSE         = "Hu et al. 2018, section 4 (SE-ResNet-50 ~2.5M more than ResNet-50's ~25M); exact total of the authors' model as ported by Cadene/pretrainedmodels and timm legacy_seresnet50"
	huSEFlops    = "Hu et al. 2018, section 4: ResNet-50 3.86 GFLOPs; their 3.87 for SE-ResNet-50 also counts SE's pooling and scaling, which the conv+linear convention leaves out, so the conv+linear MACs stay within the rounding of 3.86"
	timmIncResV2 = "timm inception_resnet_v2 model card (Params (M) 55.8, GMACs 13.2)"
)

// published holds, for every baseline, the figures of its papers or reference implementations.
// Params are in units, MACs in multiply-accumulates per image; rounded figures are scaled.
var published = []struct {
	config      string
	params      []figure // in millions when rounded
	macs        []figure // in GMACs for ImageNet, MMACs for small
	paramsScale float64  // unit of the params figures
	macsScale   float64
}{
	// small/: exact, from the PyTorch definitions the engine is compared with.
	{"small/resnet20_mnist", []figure{exact(272186, benchLayers)}, []figure{exact(31021952, benchLayers)}, 1, 1},
	{"small/se_resnet20_mnist", []figure{exact(280670, benchLayers)}, []figure{exact(31030016, benchLayers)}, 1, 1},
	{"small/resnext20_8x4d_mnist", []figure{exact(249322, benchLayers)}, []figure{exact(32140288, benchLayers)}, 1, 1},
	{"small/densenet_bc_k12_mnist", []figure{exact(175690, benchLayers)}, []figure{exact(55066344, benchLayers)}, 1, 1},
	{"small/incres_small_mnist", []figure{exact(259594, benchLayers)}, []figure{exact(22956800, benchLayers)}, 1, 1},
	{"small/vgg_small_mnist", []figure{exact(96554, benchLayers)}, []figure{exact(18320512, benchLayers)}, 1, 1},
	{"small/resnet20_cifar", []figure{exact(272474, benchLayers)}, []figure{exact(40813184, benchLayers)}, 1, 1},
	{"small/se_resnet20_cifar", []figure{exact(280958, benchLayers)}, []figure{exact(40821248, benchLayers)}, 1, 1},
	{"small/densenet_bc_k12_cifar", []figure{exact(176122, benchLayers)}, []figure{exact(72365352, benchLayers)}, 1, 1},

	// cifar/: the papers round; reference implementations give exact totals.
	{"cifar/resnet20", []figure{rounded(0.27, 2, heResNet), exact(0.269722, akamaster)}, nil, 1e6, 1e9},
	{"cifar/resnet56", []figure{rounded(0.85, 2, heResNet), exact(0.853018, akamaster)}, nil, 1e6, 1e9},
	{"cifar/resnet110", []figure{rounded(1.7, 1, heResNet), exact(1.727962, akamaster)}, nil, 1e6, 1e9},
	{"cifar/preact_resnet164", []figure{rounded(1.7, 1, hePreact), exact(1.703258, imgclsmob+" preresnet164bn_cifar10")}, nil, 1e6, 1e9},
	{"cifar/wrn_16_4", []figure{rounded(2.7, 1, zagoruyko)}, nil, 1e6, 1e9},
	{"cifar/wrn_28_10", []figure{rounded(36.5, 1, zagoruyko), exact(36.479194, imgclsmob+" wrn28_10_cifar10")}, nil, 1e6, 1e9},
	{"cifar/densenet_bc_100_12", []figure{rounded(0.8, 1, huangDense), exact(0.769162, imgclsmob+" densenet100_k12_bc_cifar10")}, nil, 1e6, 1e9},
	{"cifar/resnext29_8x64d", []figure{rounded(34.4, 1, xieResNeXt)}, nil, 1e6, 1e9},

	// imagenet/: torchvision's exact parameter counts and its GFLOPS (_ops, 3 significant
	// decimals), which count conv and linear multiply-accumulates.
	{"imagenet/alexnet", []figure{exact(61100840, tvDocs)}, []figure{withinMACs(0.714, 3, tvDocs)}, 1, 1e9},
	{"imagenet/vgg16", []figure{exact(138357544, tvDocs)}, []figure{withinMACs(15.47, 2, tvDocs)}, 1, 1e9},
	{"imagenet/googlenet", []figure{exact(6624904, tvDocs)}, []figure{withinMACs(1.498, 3, tvDocs)}, 1, 1e9},
	{"imagenet/inception_v3", []figure{exact(27161264, tvDocs)}, []figure{withinMACs(5.713, 3, tvDocs)}, 1, 1e9},
	{"imagenet/resnet18", []figure{exact(11689512, tvDocs)}, []figure{withinMACs(1.814, 3, tvDocs)}, 1, 1e9},
	{"imagenet/resnet34", []figure{exact(21797672, tvDocs)}, []figure{withinMACs(3.664, 3, tvDocs)}, 1, 1e9},
	{"imagenet/resnet50", []figure{exact(25557032, tvDocs)}, []figure{withinMACs(4.089, 3, tvDocs)}, 1, 1e9},
	{"imagenet/resnext50_32x4d", []figure{exact(25028904, tvDocs)}, []figure{withinMACs(4.23, 2, tvDocs)}, 1, 1e9},
	{"imagenet/wide_resnet50_2", []figure{exact(68883240, tvDocs)}, []figure{withinMACs(11.398, 3, tvDocs)}, 1, 1e9},
	{"imagenet/densenet121", []figure{exact(7978856, tvDocs)}, []figure{withinMACs(2.834, 3, tvDocs)}, 1, 1e9},
	{"imagenet/se_resnet50", []figure{exact(28088024, huSE)}, []figure{rounded(3.86, 2, huSEFlops)}, 1, 1e9},
	{"imagenet/inception_resnet_v2", []figure{rounded(55.8, 1, timmIncResV2)}, []figure{rounded(13.2, 1, timmIncResV2)}, 1e6, 1e9},
}

func TestCountsEqualPublishedFigures(t *testing.T) {
	for _, p := range published {
		t.Run(p.config, func(t *testing.T) {
			a, err := Load(baselines + p.config + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			c, err := a.Counts()
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got int64, scale float64, figs []figure) {
				for _, f := range figs {
					if d := math.Abs(float64(got)/scale - f.value); d > f.tol+1e-12*f.value {
						t.Errorf("%s = %d, published %v (±%v) ×%g by %s", what, got, f.value, f.tol, scale, f.source)
					}
				}
			}
			check("params", c.Params, p.paramsScale, p.params)
			check("MACs", c.MACs, p.macsScale, p.macs)
		})
	}
}

// A torchConv is one conv or linear row of torch_reference_layers.txt.
type torchConv struct {
	desc    string // e.g. "Conv2d k3x3 s1 p1 g1 bias=False"
	in, out string // e.g. "(16, 28, 28)"
	macs    int64
}

var torchRow = regexp.MustCompile(`^\S+\s+((?:Conv2d|Linear)[^()]*?)\s+(\([^)]*\))\s+(\([^)]*\))\s+(\d+)$`)

// readTorchLayers reads the conv and linear rows of each net in the bench's layer dump.
func readTorchLayers(t *testing.T) map[string][]torchConv {
	f, err := os.Open("testdata/torch_reference_layers.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nets := map[string][]torchConv{}
	var net string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "## "); ok {
			net = strings.Fields(name)[0]
			continue
		}
		if m := torchRow.FindStringSubmatch(line); m != nil {
			macs, _ := strconv.ParseInt(m[4], 10, 64)
			nets[net] = append(nets[net], torchConv{strings.Join(strings.Fields(m[1]), " "), m[2], m[3], macs})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return nets
}

func tuple(s Shape, vector bool) string {
	if vector {
		return fmt.Sprintf("(%d,)", s.C)
	}
	return fmt.Sprintf("(%d, %d, %d)", s.C, s.H, s.W)
}

// describe renders a conv or linear layer as the bench's dump does.
func describe(n *Net, l Layer) torchConv {
	in := n.Layers[l.Inputs[0]].Shape
	if l.Op == OpLinear {
		return torchConv{fmt.Sprintf("Linear bias=%s", pyBool(l.Bias)), tuple(Shape{C: int(in.Elems()), H: 1, W: 1}, true), tuple(l.Shape, true), l.MACs}
	}
	return torchConv{fmt.Sprintf("Conv2d k%dx%d s%d p%d g%d bias=%s", l.KH, l.KW, l.Stride, l.PadH, l.Groups, pyBool(l.Bias)),
		tuple(in, false), tuple(l.Shape, false), l.MACs}
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// The small baselines are the bench's PyTorch networks conv for conv: the same convs and linear
// layers with the same kernels, strides, paddings, groups, biases and shapes, in the same order
// up to the order of parallel branches.
func TestSmallBaselinesHaveTheBenchLayers(t *testing.T) {
	nets := readTorchLayers(t)
	if len(nets) != 9 {
		t.Fatalf("read %d nets from the layer dump, want 9", len(nets))
	}
	key := func(c torchConv) string { return fmt.Sprintf("%s %s %s %d", c.desc, c.in, c.out, c.macs) }
	for name, want := range nets {
		t.Run(name, func(t *testing.T) {
			a, err := Load(baselines + "small/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			n, err := a.Expand()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range n.Layers {
				if l.Op == OpConv || l.Op == OpLinear {
					got = append(got, key(describe(n, l)))
				}
			}
			var w []string
			for _, c := range want {
				w = append(w, key(c))
			}
			slices.Sort(got)
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("convs and linear layers differ from PyTorch's:\n got %q\nwant %q", got, w)
			}
		})
	}
}
