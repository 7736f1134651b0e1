package onnx

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// tiny returns the network of testdata/tiny.yaml and weights of its names and shapes whose values
// depend on nothing but their position, and the normalisation TestGolden exports it with.
func tiny(t *testing.T) (*space.Net, []evaluator.Tensor, data.Norm) {
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
	return net, ws, data.Norm{Mean: []float64{0.25, 0.5}, Std: []float64{0.3, 0.2}}
}

// TestGolden pins the bytes of tiny.yaml's model: a change of the writer or of the encoding shows
// here, and `go test -run Golden -update` rewrites testdata/tiny.onnx after the parity test has
// passed.
func TestGolden(t *testing.T) {
	net, ws, norm := tiny(t)
	got, err := Marshal(net, ws, norm)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(net, ws, norm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("two encodings of the same model differ")
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

// TestWeightErrors checks that weights that do not fit the network are refused with the name of
// the first tensor at fault.
func TestWeightErrors(t *testing.T) {
	net, ws, norm := tiny(t)
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
			_, err := Marshal(net, c.weights, c.norm)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}
