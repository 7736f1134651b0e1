package evaluator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator/data"
)

func buildModel(t testing.TB, src string, batch int, seed uint64) *Model {
	t.Helper()
	net, err := parseArch(t, src).Expand()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Build(net, batch, parallel.NewPool(2), seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// inferLogits runs an inference forward on x (NHWC) and returns a copy of the logits.
func inferLogits(m *Model, x []float32, n int) []float32 {
	copy(m.Input.Value, x)
	m.Graph.SetActiveBatch(n)
	m.Graph.Forward(false)
	return slices.Clone(m.Logits.Value[:n*m.Logits.Shape.Size()])
}

func randomInput(m *Model, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0))
	x := make([]float32, n*m.Input.Shape.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestSetWeightsCarriesATrainedModelOver(t *testing.T) {
	const batch = 16
	a := buildModel(t, tinyArch, batch, 1)
	// A few training steps move the weights and the BatchNorm statistics off their start.
	ds := syntheticDataset(64)
	set := ds.Train
	l := data.NewLoader(t.Context(), set, data.LoaderOptions{Batch: batch, Shuffle: true, Seed: 1, Norm: set.Norm()})
	defer l.Close()
	opt := newOptimizer(a.Graph, quickRecipe())
	step := uint64(0)
	for b := range l.Epoch(0) {
		a.trainStep(b, step, opt, 0.1)
		step++
	}

	b := buildModel(t, tinyArch, batch, 2)
	x := randomInput(a, batch, 3)
	before := inferLogits(b, x, batch) // prepares b's inference weights from its own
	want := inferLogits(a, x, batch)
	if slices.Equal(before, want) {
		t.Fatal("models built with different seeds give the same logits; the test proves nothing")
	}
	shuffled := a.Weights()
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if err := b.SetWeights(shuffled); err != nil {
		t.Fatal(err)
	}
	got := inferLogits(b, x, batch)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d: %v after SetWeights, %v in the trained model", i, got[i], want[i])
		}
	}
	for i, w := range a.Weights() {
		if g := b.Weights()[i]; g.Name != w.Name || !slices.Equal(g.Data, w.Data) {
			t.Fatalf("tensor %s differs after the round trip", w.Name)
		}
	}
}

// layoutArch has a grouped, strided, biased convolution on a non-square map, a plain one, a
// BatchNorm, and linear layers on a flattened C×H×W map: every case of the conversion between the
// engine's layouts and PyTorch's.
const layoutArch = `
name: layout
input: [4, 7, 5]
classes: 3
stem:
  - {op: conv, filters: 6, kernel: 3, stride: 2, padding: 1, groups: 2, bias: true}
stages:
  - {family: plain, blocks: 1, width: 4}
head:
  - {op: flatten}
  - {op: linear, out: 5}
  - {op: linear}
`

// chw is one sample's C×H×W map in float64.
type chw struct {
	c, h, w int
	v       []float64
}

func (x chw) at(c, h, w int) float64 { return x.v[(c*x.h+h)*x.w+w] }

// torchConv is PyTorch's Conv2d with weight [out, in/groups, k, k] and padding on every side.
func torchConv(x chw, weight, bias []float32, out, k, stride, pad, groups int) chw {
	ho, wo := (x.h+2*pad-k)/stride+1, (x.w+2*pad-k)/stride+1
	y := chw{out, ho, wo, make([]float64, out*ho*wo)}
	cin := x.c / groups
	for f := range out {
		grp := f / (out / groups)
		for i := range ho {
			for j := range wo {
				acc := 0.0
				if bias != nil {
					acc = float64(bias[f])
				}
				for ci := range cin {
					for kh := range k {
						for kw := range k {
							h, w := stride*i-pad+kh, stride*j-pad+kw
							if h >= 0 && h < x.h && w >= 0 && w < x.w {
								acc += float64(weight[((f*cin+ci)*k+kh)*k+kw]) * x.at(grp*cin+ci, h, w)
							}
						}
					}
				}
				y.v[(f*ho+i)*wo+j] = acc
			}
		}
	}
	return y
}

// TestWeightsArePyTorchLaidOut computes the network of layoutArch in float64 from the tensors of
// Weights as PyTorch defines its layers (NCHW, conv weight [out, in/groups, kh, kw], linear
// weight [out, in] on torch.flatten's C, H, W order, BatchNorm in eval mode) and compares the
// engine's logits with it.
func TestWeightsArePyTorchLaidOut(t *testing.T) {
	const n = 3
	m := buildModel(t, layoutArch, n, 1)
	ts := m.Weights()
	var names []string
	rng := rand.New(rand.NewPCG(7, 7))
	w := map[string][]float32{}
	for i := range ts {
		names = append(names, fmt.Sprint(ts[i].Name, ts[i].Shape))
		for j := range ts[i].Data {
			v := float32(rng.NormFloat64())
			if strings.HasSuffix(ts[i].Name, "running_var") {
				v = 0.5 + float32(rng.Float64())
			}
			ts[i].Data[j] = v
		}
		w[ts[i].Name] = ts[i].Data
	}
	wantNames := []string{"stem.conv1.weight[6 2 3 3]", "stem.conv1.bias[6]", "stage1.block0.conv1.weight[4 6 3 3]",
		"stage1.block0.bn1.weight[4]", "stage1.block0.bn1.bias[4]", "stage1.block0.bn1.running_mean[4]", "stage1.block0.bn1.running_var[4]",
		"head.fc1.weight[5 48]", "head.fc1.bias[5]", "head.fc2.weight[3 5]", "head.fc2.bias[3]"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("tensors %q, want %q", names, wantNames)
	}
	if err := m.SetWeights(ts); err != nil {
		t.Fatal(err)
	}
	xNHWC := randomInput(m, n, 5)
	got := inferLogits(m, xNHWC, n)

	const C, H, W = 4, 7, 5
	for s := range n {
		x := chw{C, H, W, make([]float64, C*H*W)}
		for c := range C {
			for h := range H {
				for j := range W {
					x.v[(c*H+h)*W+j] = float64(xNHWC[((s*H+h)*W+j)*C+c])
				}
			}
		}
		x = torchConv(x, w["stem.conv1.weight"], w["stem.conv1.bias"], 6, 3, 2, 1, 2)
		x = torchConv(x, w["stage1.block0.conv1.weight"], nil, 4, 3, 1, 1, 1)
		bn := "stage1.block0.bn1"
		for i := range x.v {
			c := i / (x.h * x.w)
			y := float64(w[bn+".weight"][c])*(x.v[i]-float64(w[bn+".running_mean"][c]))/math.Sqrt(float64(w[bn+".running_var"][c])+1e-5) + float64(w[bn+".bias"][c])
			x.v[i] = max(y, 0)
		}
		linear := func(name string, in []float64) []float64 {
			wt, b := w[name+".weight"], w[name+".bias"]
			out := make([]float64, len(b))
			for o := range out {
				out[o] = float64(b[o])
				for k, v := range in {
					out[o] += float64(wt[o*len(in)+k]) * v
				}
			}
			return out
		}
		want := linear("head.fc2", linear("head.fc1", x.v))
		for o, v := range want {
			g := float64(got[s*len(want)+o])
			if math.Abs(g-v) > 1e-4*(1+math.Abs(v)) {
				t.Errorf("sample %d logit %d: engine %v, PyTorch-layout reference %v", s, o, g, v)
			}
		}
	}
}

func TestSetWeightsNamesTheBadTensor(t *testing.T) {
	m := buildModel(t, layoutArch, 1, 1)
	good := m.Weights()
	before := m.Weights()
	cases := []struct {
		name   string
		change func([]Tensor) []Tensor
		want   string
	}{
		{"a missing tensor", func(ts []Tensor) []Tensor { return ts[:len(ts)-1] }, "is missing"},
		{"an extra tensor", func(ts []Tensor) []Tensor {
			return append(ts, Tensor{Name: "extra.weight", Shape: []int{1}, Data: []float32{1}})
		}, "extra.weight"},
		{"a renamed tensor", func(ts []Tensor) []Tensor { ts[3].Name = "stage1.block0.bn1.gamma"; return ts }, "stage1.block0.bn1.gamma"},
		{"a transposed weight", func(ts []Tensor) []Tensor { ts[0].Shape = []int{2, 6, 3, 3}; return ts }, "shape [2 6 3 3]"},
		{"a repeated tensor", func(ts []Tensor) []Tensor { return append(ts, ts[4]) }, "stage1.block0.bn1.bias is given twice"},
		{"too few values", func(ts []Tensor) []Tensor { ts[1].Data = ts[1].Data[:3]; return ts }, "3 values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := c.change(cloneTensors(good))
			for i := range ts {
				for j := range ts[i].Data {
					ts[i].Data[j] = 42
				}
			}
			err := m.SetWeights(ts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			for i, w := range m.Weights() {
				if !slices.Equal(w.Data, before[i].Data) {
					t.Fatalf("tensor %s changed by a rejected SetWeights", w.Name)
				}
			}
		})
	}
}

func cloneTensors(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		out[i] = Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	return out
}
