package evaluator

import (
	"fmt"
	"slices"

	"github.com/gonas/nas/space"
)

// Tensor is a named tensor of a trained model, laid out as PyTorch lays out the same layer's
// tensor: Data holds the elements of Shape in row-major order.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Elems is the number of elements Shape describes.
func (t Tensor) Elems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Weights returns a copy of the model's learned tensors and BatchNorm statistics, in the order of
// Net.Layers, each named and laid out as torch.nn's state_dict names and lays out the layer's:
//
//	conv:      <layer>.weight [out, in/groups, kh, kw], <layer>.bias [out]
//	linear:    <layer>.weight [out, in], <layer>.bias [out]
//	batchnorm: <layer>.weight [C], <layer>.bias [C], <layer>.running_mean [C], <layer>.running_var [C]
//
// A linear layer's inputs are numbered in C, H, W order, as torch.flatten numbers a C×H×W map.
// PyTorch's num_batches_tracked is left out: nothing in eval mode reads it. Layers that Build did
// not build (auxiliary classifiers) have no tensors.
func (m *Model) Weights() []Tensor {
	var ts []Tensor
	for i, l := range m.Net.Layers {
		for k, p := range m.params[i] {
			t := Tensor{Name: l.Name + suffix(l.Op, k), Shape: m.torchShape(i, k), Data: make([]float32, len(p.Value))}
			m.convert(i, k, t.Data, p.Value, false)
			ts = append(ts, t)
		}
		for k, b := range m.state[i] {
			ts = append(ts, Tensor{Name: l.Name + suffix(l.Op, len(m.params[i])+k), Shape: []int{len(b.Value)}, Data: slices.Clone(b.Value)})
		}
	}
	return ts
}

// SetWeights copies ts, named and laid out as Weights returns them, in any order, into the
// model. The error names the first tensor that is missing, unknown, repeated or of another shape;
// the model is unchanged then. Inference weights that the engine prepared from the old values are
// prepared again at the next forward, since the engine compares what it prepared from.
func (m *Model) SetWeights(ts []Tensor) error {
	byName := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		if _, dup := byName[t.Name]; dup {
			return fmt.Errorf("tensor %s is given twice", t.Name)
		}
		byName[t.Name] = t
	}
	want := m.Weights()
	known := make(map[string]bool, len(want))
	for _, w := range want {
		known[w.Name] = true
	}
	for _, t := range ts {
		if !known[t.Name] {
			return fmt.Errorf("tensor %s is not part of network %s", t.Name, m.Net.Name)
		}
	}
	for _, w := range want {
		t, ok := byName[w.Name]
		if !ok {
			return fmt.Errorf("tensor %s %v is missing (%d tensors given, the network has %d)", w.Name, w.Shape, len(ts), len(want))
		}
		if !slices.Equal(t.Shape, w.Shape) || len(t.Data) != w.Elems() {
			return fmt.Errorf("tensor %s has shape %v and %d values, want shape %v", t.Name, t.Shape, len(t.Data), w.Shape)
		}
	}
	j := 0
	for i := range m.Net.Layers {
		for k, p := range m.params[i] {
			m.convert(i, k, p.Value, byName[want[j].Name].Data, true)
			j++
		}
		for _, b := range m.state[i] {
			copy(b.Value, byName[want[j].Name].Data)
			j++
		}
	}
	return nil
}

// suffix names the k-th tensor of a layer: weight, bias, then a BatchNorm's running statistics.
func suffix(op space.Op, k int) string {
	if op == space.OpBatchNorm {
		return [...]string{".weight", ".bias", ".running_mean", ".running_var"}[k]
	}
	return [...]string{".weight", ".bias"}[k]
}

// torchShape is PyTorch's shape of layer i's k-th parameter.
func (m *Model) torchShape(i, k int) []int {
	l := m.Net.Layers[i]
	if k > 0 || l.Op == space.OpBatchNorm {
		return []int{len(m.params[i][k].Value)}
	}
	switch l.Op {
	case space.OpConv:
		in := m.Net.Layers[l.Inputs[0]].Shape.C
		return []int{l.Out, in / l.Groups, l.KH, l.KW}
	case space.OpLinear:
		return []int{l.Out, len(m.params[i][k].Value) / l.Out}
	}
	panic(fmt.Sprintf("evaluator: layer %s: op %s has no weight", l.Name, l.Op))
}

// convert copies layer i's k-th parameter from the engine's layout to PyTorch's (toEngine false)
// or back. Biases and BatchNorm vectors are the same in both.
//
// The engine stores a convolution's weight as [groups, kh, kw, in/groups, out/groups] and a
// linear layer's as [in, out] with its inputs in H, W, C order (see engine.Graph.Conv2D and
// Linear).
func (m *Model) convert(i, k int, dst, src []float32, toEngine bool) {
	l := m.Net.Layers[i]
	if k > 0 || (l.Op != space.OpConv && l.Op != space.OpLinear) {
		copy(dst, src)
		return
	}
	// index maps a PyTorch index to the engine's.
	var index func(t int) int
	switch l.Op {
	case space.OpConv:
		cin := m.Net.Layers[l.Inputs[0]].Shape.C / l.Groups
		cout := l.Out / l.Groups
		index = func(t int) int {
			kw := t % l.KW
			kh := t / l.KW % l.KH
			ci := t / (l.KW * l.KH) % cin
			o := t / (l.KW * l.KH * cin)
			grp, co := o/cout, o%cout
			return (((grp*l.KH+kh)*l.KW+kw)*cin+ci)*cout + co
		}
	case space.OpLinear:
		s := m.linearSource(l)
		in := s.Elems()
		index = func(t int) int {
			o, f := t/int(in), t%int(in)
			c, hw := f/(s.H*s.W), f%(s.H*s.W)
			return (hw*s.C+c)*l.Out + o
		}
	}
	for t := range dst {
		if toEngine {
			dst[index(t)] = src[t]
		} else {
			dst[t] = src[index(t)]
		}
	}
}

// linearSource is the shape a linear layer's input vector was flattened from: the map before a
// flatten layer, or the input itself.
func (m *Model) linearSource(l space.Layer) space.Shape {
	in := m.Net.Layers[l.Inputs[0]]
	if in.Op == space.OpFlatten {
		return m.Net.Layers[in.Inputs[0]].Shape
	}
	return in.Shape
}
