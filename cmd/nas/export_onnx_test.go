package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/onnx/onnxpb"
	"github.com/gonas/nas/space"
)

// readONNX decodes an ONNX file and returns its float32 initializers by name.
func readONNX(t *testing.T, path string) (*onnxpb.ModelProto, map[string][]float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	inits := map[string][]float32{}
	for _, in := range m.GetGraph().GetInitializer() {
		if in.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
			continue
		}
		raw := in.GetRawData()
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		inits[in.GetName()] = v
	}
	return &m, inits
}

// initialWeights are the weights nas train starts the network of path from with seed.
func initialWeights(t *testing.T, path string, seed uint64) (*space.Arch, []evaluator.Tensor) {
	t.Helper()
	a, err := space.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	net, err := a.Expand()
	if err != nil {
		t.Fatal(err)
	}
	pool := parallel.NewPool(1)
	defer pool.Close()
	m, err := evaluator.Build(net, 1, pool, seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a, m.Weights()
}

func TestExportONNXOfAModelFileCarriesItsWeights(t *testing.T) {
	dir := t.TempDir()
	a, ws := initialWeights(t, filepath.Join("..", "..", "configs", "baselines", "small", "se_resnet20_mnist.yaml"), 7)
	for k, w := range ws {
		for i := range w.Data {
			w.Data[i] += float32(k) / 100 // so that no tensor keeps its initial values
		}
	}
	hash, err := a.Hash()
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	f := &model.File{Tensors: ws, Meta: model.Meta{Arch: a, ArchHash: hash, Seed: 7, Dataset: "mnist",
		Norm: data.Norm{Mean: []float64{0.13}, Std: []float64{0.31}}, Classes: classes, Version: "test"}}
	src := filepath.Join(dir, "m.safetensors")
	if err := model.Save(src, f); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.onnx")
	if code, _, stderr := runNAS(t, "export", src, "--format", "onnx", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, inits := readONNX(t, out)
	for _, w := range ws {
		if !slices.Equal(inits[w.Name], w.Data) {
			t.Errorf("initializer %s does not hold the model file's tensor", w.Name)
		}
	}
	if mean, std := inits["input.mean"], inits["input.std"]; !slices.Equal(mean, []float32{0.13}) || !slices.Equal(std, []float32{0.31}) {
		t.Errorf("the normalisation is mean %v, std %v; want the model file's 0.13 and 0.31", mean, std)
	}
	props := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	if props["nas.arch_hash"] != hash || props["nas.dataset"] != "mnist" || !strings.Contains(props["nas.classes"], `"9"`) {
		t.Errorf("metadata %v; want the model file's hash %s, data set and classes", props, hash)
	}
}

func TestExportONNXOfAnArchitectureHasItsInitialWeights(t *testing.T) {
	arch := filepath.Join("..", "..", "configs", "baselines", "small", "resnet20_mnist.yaml")
	out := filepath.Join(t.TempDir(), "r20") // nas export adds .onnx
	if code, _, stderr := runNAS(t, "export", arch, "--format", "onnx", "--out", out, "--seed", "3"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, inits := readONNX(t, out+".onnx")
	_, ws := initialWeights(t, arch, 3)
	for _, w := range ws {
		if !slices.Equal(inits[w.Name], w.Data) {
			t.Errorf("initializer %s does not hold the initial weights of seed 3", w.Name)
		}
	}
	if _, ok := inits["input.mean"]; ok {
		t.Error("an architecture without a data set is normalised; want pixels in [0, 1] as they are")
	}
}

func TestExportONNXNeedsAnOutputFile(t *testing.T) {
	arch := filepath.Join("..", "..", "configs", "baselines", "small", "resnet20_mnist.yaml")
	code, _, stderr := runNAS(t, "export", arch, "--format", "onnx")
	if code != 2 || !strings.Contains(stderr, "--out") {
		t.Errorf("exit %d, stderr %q; want exit 2 and a message asking for --out", code, stderr)
	}
}

func TestExportONNXOfATrialNamesItsNetwork(t *testing.T) {
	db := fixtureDB(t)
	c := reportJSON(t, "--db", db).Candidates[0]
	out := filepath.Join(t.TempDir(), "trial.onnx")
	if code, _, stderr := runNAS(t, "export", strconv.FormatInt(c.Trial, 10), "--db", db, "--format", "onnx", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, _ := readONNX(t, out)
	var hash string
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == "nas.arch_hash" {
			hash = p.GetValue()
		}
	}
	if hash != c.Hash {
		t.Errorf("trial %d exports network %q, want %s", c.Trial, hash, c.Hash)
	}
}
