package pytorch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	oldrand "math/rand"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
)

// python is Debian's interpreter, where the package python3-torch installs torch.
const python = "/usr/bin/python3"

// needTorch skips the test unless python can import torch and numpy.
func needTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Skipf("PyTorch parity needs %s with torch and numpy (Debian: apt-get install python3-torch): %v %s", python, err, bytes.TrimSpace(out))
	}
}

// trainedOnce are the networks whose training step is compared: between them they have every
// op with parameters or a backward that matters (flatten before a linear, squeeze-and-excitation,
// concatenation, average pooling, scaled residuals, grouped convolutions, option-A shortcuts),
// and no dropout, whose masks the two frameworks draw differently.
var trainedOnce = []string{"vgg_small_mnist", "se_resnet20_mnist", "densenet_bc_k12_mnist", "incres_small_mnist", "resnext20_8x4d_mnist", "resnet20_cifar"}

// reluMargin is how far from 0 the ReLU inputs of a training check's batch must keep for a
// difference in the weights after the step to count against nas.
const reluMargin = 1e-5

// parityCase is one network of the test, as the Python script reads it.
type parityCase struct {
	Name    string      `json:"name"`
	Py      string      `json:"py"`
	N       int         `json:"n"`
	Shape   []int       `json:"shape"`
	Classes int         `json:"classes"`
	Input   string      `json:"input"`
	Logits  string      `json:"logits"`
	Train   *trainCheck `json:"train,omitempty"`

	params int64
}

// trainCheck is one SGD step on each of several batches; parity.py compares the one whose ReLU
// inputs are farthest from 0 (see TestPyTorchParity).
type trainCheck struct {
	N       int          `json:"n"`
	LR      float64      `json:"lr"`
	Batches []trainBatch `json:"batches"`
}

// trainBatch is a batch and the weights after nas's step on it.
type trainBatch struct {
	Input  string  `json:"input"`
	Labels []int32 `json:"labels"`
	After  string  `json:"after"`
}

// parityResult is what the Python script measured of a case.
type parityResult struct {
	Name        string   `json:"name"`
	Error       string   `json:"error"`
	Params      int64    `json:"params"`
	NumParams   int64    `json:"num_params"`
	LogitsDiff  float64  `json:"logits_diff"`
	LogitsScale float64  `json:"logits_scale"`
	TrainDiff   *float64 `json:"train_diff"`
	TrainWorst  string   `json:"train_worst"`
	Margin      float64  `json:"margin"`
	Missing     []string `json:"missing"`
}

// TestPyTorchParity exports every baseline of configs/baselines/small and cifar and 20 random
// genomes of each search space of configs/spaces, with random weights and BatchNorm statistics,
// runs each module in PyTorch on the input nas ran, and checks the parameter count against space's
// and the logits against nas's within 1e-4 of their scale; for the networks of trainedOnce it also
// takes one plain SGD step in both on the same batch (BatchNorm in training mode) and compares
// every weight and running statistic after it.
//
// A ReLU input within float32 rounding of 0 may fall on either side in two correct float32
// computations, which moves a gradient by that element's whole contribution: enough to move a
// weight by more than the tolerance. So nas steps on eight batches, parity.py compares the step on
// the one whose ReLU inputs (in float64) keep farthest from 0, and a difference when that margin is
// under reluMargin counts as inconclusive rather than wrong; all but one network must agree.
func TestPyTorchParity(t *testing.T) {
	needTorch(t)
	var archs []*space.Arch
	for _, dir := range []string{"small", "cifar"} {
		files, _ := filepath.Glob(filepath.Join("..", "configs", "baselines", dir, "*.yaml"))
		for _, f := range files {
			a, err := space.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			archs = append(archs, a)
		}
	}
	spaces, _ := filepath.Glob(filepath.Join("..", "configs", "spaces", "*.yaml"))
	for _, f := range spaces {
		s, err := space.LoadSpace(f)
		if err != nil {
			t.Fatal(err)
		}
		rng := oldrand.New(oldrand.NewSource(1))
		for k := 0; k < 20; {
			a, err := s.Decode(s.Random(rng))
			if err != nil {
				continue
			}
			a.Name = fmt.Sprintf("%s_%d", strings.TrimSuffix(filepath.Base(f), ".yaml"), k)
			archs = append(archs, a)
			k++
		}
	}
	if len(archs) < 28+40 {
		t.Fatalf("%d networks, want the 28 baselines and 40 genomes", len(archs))
	}

	dir := t.TempDir()
	start := time.Now()
	var cases []*parityCase
	pool := parallel.NewPool(2)
	defer pool.Close()
	for i, a := range archs {
		c, err := exportCase(dir, i, a, pool, slices.Contains(trainedOnce, a.Name))
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		cases = append(cases, c)
	}
	if n := countTrained(cases); n != len(trainedOnce) {
		t.Fatalf("%d networks to train once, want %d", n, len(trainedOnce))
	}
	manifest := filepath.Join(dir, "cases.json")
	b, _ := json.Marshal(cases)
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("nas exported and ran %d networks in %v", len(cases), time.Since(start).Round(time.Second))
	start = time.Now()
	cmd := exec.Command(python, filepath.Join("testdata", "parity.py"), manifest)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parity.py: %v\n%s", err, stderr.String())
	}
	t.Logf("PyTorch ran them in %v", time.Since(start).Round(time.Second))
	results := map[string]parityResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r parityResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		results[r.Name] = r
	}
	agreed := 0
	for _, c := range cases {
		r, ok := results[c.Name]
		switch {
		case !ok:
			t.Errorf("%s: no result from parity.py", c.Name)
		case r.Error != "":
			t.Errorf("%s: %s", c.Name, r.Error)
		default:
			if r.Params != c.params || r.NumParams != c.params {
				t.Errorf("%s: the module has %d parameters (NUM_PARAMS %d), space counts %d", c.Name, r.Params, r.NumParams, c.params)
			}
			if r.LogitsDiff > 1e-4*max(1, r.LogitsScale) {
				t.Errorf("%s: logits differ by %.3g, on a scale of %.3g", c.Name, r.LogitsDiff, r.LogitsScale)
			}
			if c.Train != nil {
				if r.TrainDiff == nil || len(r.Missing) > 0 {
					t.Errorf("%s: no training comparison (tensors not on both sides: %v)", c.Name, r.Missing)
				} else if *r.TrainDiff <= 1e-4 {
					agreed++
				} else if r.Margin < reluMargin {
					t.Logf("%s: inconclusive: after one SGD step, %s differs by %.3g, but a ReLU input is within %.2g of 0", c.Name, r.TrainWorst, *r.TrainDiff, r.Margin)
				} else {
					t.Errorf("%s: after one SGD step, %s differs by %.3g (relative to 1+|w|); the ReLU inputs keep %.2g from 0", c.Name, r.TrainWorst, *r.TrainDiff, r.Margin)
				}
			}
		}
	}
	if agreed < len(trainedOnce)-1 {
		t.Errorf("the weights after one SGD step agree for %d networks, want at least %d", agreed, len(trainedOnce)-1)
	}
	if testing.Verbose() {
		for _, c := range cases {
			r := results[c.Name]
			line := fmt.Sprintf("%-28s %10d params, logits within %.2g of %.3g", c.Name, r.Params, r.LogitsDiff, r.LogitsScale)
			if r.TrainDiff != nil {
				line += fmt.Sprintf(", weights after a step within %.2g (ReLU margin %.2g)", *r.TrainDiff, r.Margin)
			}
			t.Log(line)
		}
	}
}

func countTrained(cases []*parityCase) int {
	n := 0
	for _, c := range cases {
		if c.Train != nil {
			n++
		}
	}
	return n
}

// exportCase exports a with random weights and BatchNorm statistics to dir, runs nas on a random
// batch, and with train also takes one SGD step on another batch.
func exportCase(dir string, i int, a *space.Arch, pool *parallel.Pool, train bool) (*parityCase, error) {
	net, err := a.Expand()
	if err != nil {
		return nil, err
	}
	const n = 2
	m, err := evaluator.Build(net, n, pool, uint64(i+1), 0)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(i), 3))
	ts := m.Weights()
	for _, t := range ts {
		for j := range t.Data {
			switch {
			case strings.HasSuffix(t.Name, ".running_var"):
				t.Data[j] = float32(0.5 + rng.Float64())
			case strings.HasSuffix(t.Name, ".running_mean"):
				t.Data[j] = float32(0.1 * rng.NormFloat64())
			case strings.HasSuffix(t.Name, ".weight") && len(t.Shape) == 1: // BatchNorm's γ
				t.Data[j] = float32(0.5 + rng.Float64())
			case len(t.Shape) == 1: // biases and BatchNorm's β
				t.Data[j] = float32(0.1 * rng.NormFloat64())
			}
		}
	}
	if err := m.SetWeights(ts); err != nil {
		return nil, err
	}
	in := net.Layers[0].Shape
	norm := data.Norm{}
	for range in.C {
		norm.Mean = append(norm.Mean, 0.2+0.6*rng.Float64())
		norm.Std = append(norm.Std, 0.1+0.4*rng.Float64())
	}
	hash, err := a.Hash()
	if err != nil {
		return nil, err
	}
	f := &model.File{Tensors: ts, Meta: model.Meta{Arch: a, ArchHash: hash, Seed: uint64(i + 1), Norm: norm, Version: "test"}}
	c := &parityCase{Name: a.Name, Py: filepath.Join(dir, fmt.Sprintf("net%d.py", i)), N: n, Shape: []int{in.C, in.H, in.W},
		Classes: a.Classes, params: net.Counts().Params}
	if err := Export(c.Py, f); err != nil {
		return nil, err
	}

	pixels := randomPixels(rng, n*in.C*in.H*in.W)
	c.Input = filepath.Join(dir, fmt.Sprintf("net%d.input", i))
	if err := writeRaw(c.Input, pixels); err != nil {
		return nil, err
	}
	copy(m.Input.Value, normalised(pixels, in, norm))
	m.Graph.SetActiveBatch(n)
	m.Graph.Forward(false)
	c.Logits = filepath.Join(dir, fmt.Sprintf("net%d.logits", i))
	if err := writeRaw(c.Logits, m.Logits.Value[:n*a.Classes]); err != nil {
		return nil, err
	}
	if !train {
		return c, nil
	}

	for _, l := range net.Layers {
		if (l.Op == space.OpDropout || l.Op == space.OpDropPath) && l.P > 0 {
			return nil, fmt.Errorf("layer %s drops with probability %v: the two frameworks' masks differ", l.Name, l.P)
		}
	}
	const tn, lr, batches = 2, 0.1, 8
	tm, err := evaluator.Build(net, tn, pool, 1, 0)
	if err != nil {
		return nil, err
	}
	tc := &trainCheck{N: tn, LR: lr}
	for k := range batches {
		if err := tm.SetWeights(ts); err != nil {
			return nil, err
		}
		tb := trainBatch{Input: filepath.Join(dir, fmt.Sprintf("net%d.train%d", i, k)), After: filepath.Join(dir, fmt.Sprintf("net%d.after%d.safetensors", i, k))}
		pixels = randomPixels(rng, tn*in.C*in.H*in.W)
		if err := writeRaw(tb.Input, pixels); err != nil {
			return nil, err
		}
		for range tn {
			tb.Labels = append(tb.Labels, int32(rng.IntN(a.Classes)))
		}
		copy(tm.Input.Value, normalised(pixels, in, norm))
		copy(tm.Loss.Labels, tb.Labels)
		tm.Graph.SetActiveBatch(tn)
		tm.Graph.Forward(true)
		tm.Graph.Backward()
		for _, p := range tm.Graph.Params() {
			for j, g := range p.Grad {
				p.Value[j] -= lr * g
			}
		}
		after := *f
		after.Tensors = tm.Weights()
		if err := model.Save(tb.After, &after); err != nil {
			return nil, err
		}
		tc.Batches = append(tc.Batches, tb)
	}
	c.Train = tc
	return c, nil
}

func randomPixels(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// normalised returns NCHW pixels as the engine's NHWC input, normalised as the module does.
func normalised(pixels []float32, s space.Shape, norm data.Norm) []float32 {
	out := make([]float32, len(pixels))
	per := s.C * s.H * s.W
	for n := range len(pixels) / per {
		for c := range s.C {
			mean, std := float32(norm.Mean[c]), float32(norm.Std[c])
			for h := range s.H {
				for w := range s.W {
					out[n*per+(h*s.W+w)*s.C+c] = (pixels[n*per+(c*s.H+h)*s.W+w] - mean) / std
				}
			}
		}
	}
	return out
}

func writeRaw(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}
