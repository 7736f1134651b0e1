package onnx

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// tiny returns the model TestGolden exports: the network of testdata/tiny.yaml, weights whose
// values depend on nothing but their position, a normalisation and class names.
func tiny(t *testing.T) *model.File {
	t.Helper()
	a, err := space.Load(filepath.Join("testdata", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	net, err := a.Expand()
	if err != nil {
		t.Fatal(err)
	}
	pool := parallel.NewPool(1)
	defer pool.Close()
	m, err := evaluator.Build(net, 1, pool, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws := m.Weights()
	for k, w := range ws {
		for i := range w.Data {
			w.Data[i] = float32(math.Sin(float64(100*k + i + 1)))
			if strings.HasSuffix(w.Name, ".running_var") {
				w.Data[i] = 1 + w.Data[i]/2
			}
		}
	}
	hash, err := a.Hash()
	if err != nil {
		t.Fatal(err)
	}
	return &model.File{Tensors: ws, Meta: model.Meta{Arch: a, ArchHash: hash, Dataset: "tiny", Classes: []string{"zero", "one", "two"},
		Norm: data.Norm{Mean: []float64{0.25, 0.5}, Std: []float64{0.3, 0.2}}}}
}

// TestGolden pins the bytes of tiny.yaml's model: a change of the writer or of the encoding shows
// here, and `go test -run Golden -update` rewrites testdata/tiny.onnx after the parity test has
// passed.
func TestGolden(t *testing.T) {
	f := tiny(t)
	got, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("two encodings of the same model differ")
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
	if in, out := g.GetInput(), g.GetOutput(); len(in) != 1 || len(out) != 1 ||
		describe(in[0]) != "input [N 2 10 10]" || describe(out[0]) != "logits [N 3]" {
		t.Errorf("inputs %v, outputs %v; want input [N 2 10 10] and logits [N 3]", in, out)
	}
	props := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	if props["nas.classes"] != `["zero","one","two"]` || props["nas.dataset"] != "tiny" || props["nas.arch_hash"] != f.Meta.ArchHash {
		t.Errorf("metadata %v, want the class names, data set and hash of the model", props)
	}

	file := filepath.Join("testdata", "tiny.onnx")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the model of tiny.yaml is %d bytes that differ from the %d of %s; if the change is meant, check parity and rerun with -update", len(got), len(want), file)
	}
}

// describe writes a graph input or output as its name and dims, a symbol for a dynamic one.
func describe(v *onnxpb.ValueInfoProto) string {
	var dims []string
	for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			dims = append(dims, d.GetDimParam())
		} else {
			dims = append(dims, fmt.Sprint(d.GetDimValue()))
		}
	}
	return fmt.Sprintf("%s [%s]", v.GetName(), strings.Join(dims, " "))
}

// TestWeightErrors checks that weights that do not fit the network are refused with the name of
// the first tensor at fault.
func TestWeightErrors(t *testing.T) {
	f := tiny(t)
	ws, norm := f.Tensors, f.Meta.Norm
	extra := evaluator.Tensor{Name: "head.fc2.weight", Shape: []int{1}, Data: []float32{0}}
	bad := ws[0]
	bad.Shape = []int{bad.Shape[0], bad.Shape[1], 1, bad.Elems() / bad.Shape[0] / bad.Shape[1]}
	for _, c := range []struct {
		name    string
		weights []evaluator.Tensor
		norm    data.Norm
		want    string
	}{
		{"a missing tensor is named", ws[1:], norm, "tensor stem.conv1.weight [4 2 3 3] is missing"},
		{"a tensor of another shape is named", append([]evaluator.Tensor{bad}, ws[1:]...), norm, "tensor stem.conv1.weight has shape [4 2 1 9]"},
		{"a tensor the network does not use is named", append(ws[:len(ws):len(ws)], extra), norm, "tensor head.fc2.weight [1] is not part of network"},
		{"a tensor given twice is named", append(ws[:len(ws):len(ws)], ws[0]), norm, "tensor stem.conv1.weight is given twice"},
		{"a normalisation of other channels is refused", ws, data.Norm{Mean: []float64{0}, Std: []float64{1}}, "1 means and 1 deviations, the network takes 2 channels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := *f
			g.Tensors, g.Meta.Norm = c.weights, c.norm
			_, err := Marshal(&g)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}
