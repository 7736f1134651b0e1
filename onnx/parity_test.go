package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	mathrand "math/rand"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
)

// ortDirEnv names the directory where `npm install onnxruntime-node` ran, for the runtime parity
// test; .ci/run sets it.
const ortDirEnv = "NAS_ONNXRUNTIME_DIR"

// parityBatch is the batch of the parity inputs: more than one sample, so that the models' dynamic
// batch dimension is exercised.
const parityBatch = 3

// genomesPerSpace is how many random networks of each search space the parity test exports.
const genomesPerSpace = 20

// parityTol bounds the difference between ONNX Runtime's logits and nas's, relative to the
// largest logit of the sample.
const parityTol = 1e-4

// exported is a model written to disk with nas's logits on its input.
type exported struct {
	name    string
	model   string // the .onnx file
	input   string // float32 N×C×H×W pixels in [0, 1]
	dims    []int
	want    []float32 // nas's logits, N×classes
	classes int
}

// TestExportedModels exports every baseline of configs/baselines/small and configs/baselines/cifar,
// the networks of testdata/*.yaml, and genomesPerSpace random networks of each search space in
// configs/spaces, with nas's initial weights, random biases and BatchNorm parameters and
// statistics, and a normalisation of several channels' means and deviations; then ONNX's checker (Debian's python3-onnx) must accept each
// model, and ONNX Runtime (onnxruntime-node, under the directory that NAS_ONNXRUNTIME_DIR names)
// must compute nas's inference logits within parityTol.
func TestExportedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: exporting and running 69 networks takes minutes")
	}
	node, ortDir, whyNoRuntime := onnxRuntime()
	python, whyNoChecker := checker()
	if whyNoRuntime != "" && whyNoChecker != "" {
		t.Skipf("%s; %s", whyNoRuntime, whyNoChecker)
	}
	dir := t.TempDir()
	pool := parallel.NewPool(2)
	defer pool.Close()
	var models []exported
	for i, c := range parityNets(t) {
		models = append(models, export(t, c.name, c.arch, pool, filepath.Join(dir, fmt.Sprint(i)), uint64(i)))
	}
	t.Logf("%d models exported", len(models))

	// The checker and the runtime run at once, each in its own process.
	t.Run("ONNXChecker", func(t *testing.T) {
		t.Parallel()
		if whyNoChecker != "" {
			t.Skip(whyNoChecker)
		}
		args := []string{filepath.Join("testdata", "check.py")}
		for _, m := range models {
			args = append(args, m.model)
		}
		if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
			t.Fatalf("onnx.checker.check_model rejects a model: %v\n%s", err, out)
		}
	})

	t.Run("ONNXRuntime", func(t *testing.T) {
		t.Parallel()
		if whyNoRuntime != "" {
			t.Skip(whyNoRuntime)
		}
		type job struct {
			Model  string `json:"model"`
			Input  string `json:"input"`
			Dims   []int  `json:"dims"`
			Output string `json:"output"`
		}
		jobs := make([]job, len(models))
		for i, m := range models {
			jobs[i] = job{m.model, m.input, m.dims, m.model + ".out"}
		}
		jobsFile := filepath.Join(dir, "jobs.json")
		b, err := json.Marshal(jobs)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jobsFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, filepath.Join("testdata", "ortrun.js"), ortDir, jobsFile).CombinedOutput(); err != nil {
			t.Fatalf("ONNX Runtime: %v\n%s", err, out)
		}
		worst := 0.0
		for i, m := range models {
			got := readFloats(t, jobs[i].Output)
			var dims []int
			b, err := os.ReadFile(jobs[i].Output + ".json")
			if err == nil {
				err = json.Unmarshal(b, &dims)
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{parityBatch, m.classes}; !slices.Equal(dims, want) {
				t.Errorf("%s: ONNX Runtime's logits are %v, want %v", m.name, dims, want)
				continue
			}
			d := relDiff(got, m.want, m.classes)
			worst = max(worst, d)
			t.Logf("%-50s logits within %.2g of the largest, %.3g", strings.TrimPrefix(m.name, "../configs/"), d, maxAbs(m.want))
			if !(d <= parityTol) {
				t.Errorf("%s: ONNX Runtime's logits differ from nas's by %.3g of the largest (tolerance %g)\n got %v\nwant %v", m.name, d, parityTol, got, m.want)
			}
		}
		t.Logf("%d models; largest difference %.3g of the largest logit", len(models), worst)
	})
}

// onnxRuntime finds node and onnxruntime-node, or says why it cannot.
func onnxRuntime() (node, ortDir, why string) {
	ortDir = os.Getenv(ortDirEnv)
	if ortDir == "" {
		return "", "", ortDirEnv + " is unset: set it to a directory where `npm install --ignore-scripts onnxruntime-node@1.30.0` ran (.ci/run does) to compare with ONNX Runtime"
	}
	if _, err := os.Stat(filepath.Join(ortDir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		return "", "", fmt.Sprintf("%s=%s has no node_modules/onnxruntime-node: run `npm install --ignore-scripts onnxruntime-node@1.30.0` there", ortDirEnv, ortDir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "", "node is not installed (Debian: apt-get install nodejs); it runs onnxruntime-node"
	}
	return node, ortDir, ""
}

// checker finds a Python that imports onnx, the python3 on PATH or else Debian's, or says why
// there is none.
func checker() (python, why string) {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import onnx.checker").Run() == nil {
			return p, ""
		}
	}
	return "", "neither python3 nor /usr/bin/python3 imports onnx (Debian: apt-get install python3-onnx): ONNX's checker does not run"
}

type parityNet struct {
	name string
	arch *space.Arch
}

// parityNets expands the networks TestExportedModels exports.
func parityNets(t *testing.T) []parityNet {
	var nets []parityNet
	var files []string
	for _, pattern := range []string{"../configs/baselines/small/*.yaml", "../configs/baselines/cifar/*.yaml", "testdata/*.yaml"} {
		f, err := filepath.Glob(pattern)
		if err != nil || len(f) == 0 {
			t.Fatalf("no files match %s (%v)", pattern, err)
		}
		files = append(files, f...)
	}
	for _, f := range files {
		a, err := space.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, parityNet{f, a})
	}
	spaces, err := filepath.Glob("../configs/spaces/*.yaml")
	if err != nil || len(spaces) == 0 {
		t.Fatalf("no search spaces in configs/spaces (%v)", err)
	}
	for _, f := range spaces {
		s, err := space.LoadSpace(f)
		if err != nil {
			t.Fatal(err)
		}
		rng := mathrand.New(mathrand.NewSource(int64(len(nets))))
		for n, tries := 0, 0; n < genomesPerSpace; tries++ {
			if tries > 100*genomesPerSpace {
				t.Fatalf("%s: only %d of %d random genomes decode", f, n, tries)
			}
			g := s.Random(rng)
			a, err := s.Decode(g)
			if err != nil {
				continue
			}
			if _, err := a.Expand(); err != nil {
				continue
			}
			nets = append(nets, parityNet{fmt.Sprintf("%s genome %x", f, s.Encode(g)), a})
			n++
		}
	}
	return nets
}

// export builds a in nas with random weights, computes its logits on random pixels, and writes
// the ONNX model and the pixels beside prefix.
func export(t *testing.T, name string, a *space.Arch, pool *parallel.Pool, prefix string, seed uint64) exported {
	t.Helper()
	net, err := a.Expand()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m, err := evaluator.Build(net, parityBatch, pool, seed, 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	ws := m.Weights()
	perturb(ws, rng)
	if err := m.SetWeights(ws); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	in := net.Layers[0].Shape
	norm := data.Norm{}
	for c := range in.C {
		norm.Mean = append(norm.Mean, 0.2+0.15*float64(c))
		norm.Std = append(norm.Std, 0.25+0.05*float64(c))
	}
	b, err := Marshal(&model.File{Tensors: ws, Meta: model.Meta{Arch: a, Norm: norm}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	e := exported{name: name, model: prefix + ".onnx", input: prefix + ".input",
		dims: []int{parityBatch, in.C, in.H, in.W}, classes: net.Layers[net.Outputs[0]].Shape.C}
	if err := os.WriteFile(e.model, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The same pixels as ONNX Runtime's NCHW input in [0, 1], and as nas's NHWC input normalised
	// as the data loader normalises.
	hw := in.H * in.W
	pixels := make([]float32, parityBatch*in.C*hw)
	for n := range parityBatch {
		for c := range in.C {
			for k := range hw {
				p := float64(rng.IntN(256)) / 255
				pixels[(n*in.C+c)*hw+k] = float32(p)
				m.Input.Value[(n*hw+k)*in.C+c] = float32((p - norm.Mean[c]) / norm.Std[c])
			}
		}
	}
	writeFloats(t, e.input, pixels)
	m.Graph.SetActiveBatch(parityBatch)
	m.Graph.Forward(false)
	e.want = slices.Clone(m.Logits.Value[:parityBatch*e.classes])
	return e
}

// perturb gives BatchNorm's scales, shifts and running statistics and every bias random values,
// so that the export of each is tested; weights keep the engine's initialisation.
func perturb(ws []evaluator.Tensor, rng *rand.Rand) {
	uniform := func(v []float32, lo, hi float64) {
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
	}
	for _, w := range ws {
		switch {
		case strings.HasSuffix(w.Name, ".running_var"):
			uniform(w.Data, 0.5, 1.5)
		case strings.HasSuffix(w.Name, ".running_mean"), strings.HasSuffix(w.Name, ".bias"):
			uniform(w.Data, -0.2, 0.2)
		case len(w.Shape) == 1: // a BatchNorm's scale
			uniform(w.Data, 0.5, 1.5)
		}
	}
}

// relDiff is the largest difference between got and want, over the largest |want| of the same
// sample of classes values.
func relDiff(got, want []float32, classes int) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	worst := 0.0
	for s := 0; s < len(want); s += classes {
		var diff, scale float64
		for i := s; i < s+classes; i++ {
			diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
			scale = max(scale, math.Abs(float64(want[i])))
		}
		worst = max(worst, diff/max(scale, 1e-30))
		if math.IsNaN(diff) {
			return math.NaN()
		}
	}
	return worst
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

func writeFloats(t *testing.T, file string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFloats(t *testing.T, file string) []float32 {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
