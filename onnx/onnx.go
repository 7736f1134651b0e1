// Package onnx writes a model (model.File: a network, its weights and its data normalisation) as
// an ONNX model (opset 13) for inference: input "input", float32 N×C×H×W pixel values in [0, 1]
// with a dynamic batch N; the normalisation inside the graph; output "logits", N×classes.
//
// Every layer of the expanded network (space.Net) becomes the ONNX operators that compute what the engine computes
// in inference mode: BatchNorm with its running statistics, dropout and drop path as the identity.
// Initializers carry the names of evaluator.Model.Weights (PyTorch's state_dict names and
// layouts); a layer's output carries the layer's name.
package onnx

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/onnx/onnxpb"
	"github.com/gonas/nas/space"
)

// The versions the models declare: opset 13 of the default domain, in IR version 7 (ONNX 1.8),
// which every ONNX Runtime since 1.6 reads.
const (
	Opset     = 13
	IRVersion = 7
)

// Names of the graph's input and output.
const (
	InputName  = "input"
	OutputName = "logits"
)

// Marshal encodes the network of f.Meta.Arch with the weights f.Tensors as an ONNX model that
// normalises its input with f.Meta.Norm (the zero Norm leaves pixels in [0, 1]). The model's
// metadata_props carry the architecture's canonical hash ("nas.arch_hash"), the data set
// ("nas.dataset") and the class names ("nas.classes", a JSON list) when f knows them. The
// encoding is deterministic: the same f gives the same bytes. f.Tensors are named and laid out as
// evaluator.Model.Weights gives them, in any order; the error names the first tensor that is
// missing, of another shape, or not used by the network.
func Marshal(f *model.File) ([]byte, error) {
	m := f.Meta
	if m.Arch == nil {
		return nil, errors.New("the model has no architecture")
	}
	net, err := m.Arch.Expand()
	if err != nil {
		return nil, err
	}
	g, err := build(net, f.Tensors, m.Norm)
	if err != nil {
		return nil, err
	}
	mp := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(IRVersion),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName: proto.String("nas"),
		Graph:        g,
	}
	meta := func(key, value string) {
		if value != "" {
			mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
		}
	}
	meta("nas.arch_hash", m.ArchHash)
	meta("nas.dataset", m.Dataset)
	if m.Classes != nil {
		b, err := json.Marshal(m.Classes)
		if err != nil {
			return nil, err
		}
		meta("nas.classes", string(b))
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(mp)
}

// build returns the inference graph of net.
func build(net *space.Net, weights []evaluator.Tensor, norm data.Norm) (*onnxpb.GraphProto, error) {
	if len(net.Layers) == 0 || net.Layers[0].Op != space.OpInput || len(net.Outputs) == 0 {
		return nil, fmt.Errorf("network %q has no input or no classifier", net.Name)
	}
	name := net.Name
	if name == "" {
		name = "nas" // ONNX requires a graph name; networks decoded from genomes have none
	}
	w := &writer{net: net, weights: map[string]evaluator.Tensor{}, used: map[string]bool{},
		graph: &onnxpb.GraphProto{Name: proto.String(name)}}
	for _, t := range weights {
		if _, dup := w.weights[t.Name]; dup {
			return nil, fmt.Errorf("tensor %s is given twice", t.Name)
		}
		w.weights[t.Name] = t
	}
	if err := w.build(norm); err != nil {
		return nil, err
	}
	for _, t := range weights {
		if !w.used[t.Name] {
			return nil, fmt.Errorf("tensor %s %v is not part of network %q", t.Name, t.Shape, net.Name)
		}
	}
	return w.graph, nil
}

// value is a tensor of the graph: its name and its rank, 2 (N×C) or 4 (N×C×H×W).
type value struct {
	name string
	rank int
}

type writer struct {
	net     *space.Net
	weights map[string]evaluator.Tensor
	used    map[string]bool
	graph   *onnxpb.GraphProto
	// names holds every initializer and node output name, which ONNX wants unique.
	names map[string]bool
	err   error
}

func (w *writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
}

// build adds the nodes of the layers the classifier depends on, in the order of net.Layers.
func (w *writer) build(norm data.Norm) error {
	net := w.net
	w.names = map[string]bool{}
	logits := net.Outputs[0]
	needed := net.Classifier()
	values := make([]value, len(net.Layers))
	for i, l := range net.Layers {
		if !needed[i] {
			continue
		}
		ins := make([]value, len(l.Inputs))
		for k, in := range l.Inputs {
			ins[k] = values[in]
		}
		values[i] = w.layer(l, ins, norm)
		if w.err != nil {
			return w.err
		}
	}

	out := values[logits]
	if out.rank != 2 {
		out = w.node("Flatten", OutputName, []string{out.name}, intAttr("axis", 1))
	} else {
		w.rename(out.name, OutputName)
	}
	in := net.Layers[0].Shape
	classes := net.Layers[logits].Shape.C
	w.graph.Input = []*onnxpb.ValueInfoProto{tensorInfo(InputName, "N", in.C, in.H, in.W)}
	w.graph.Output = []*onnxpb.ValueInfoProto{tensorInfo(OutputName, "N", classes)}
	return w.err
}

// layer adds the nodes of l, whose inputs are ins, and returns its output.
func (w *writer) layer(l space.Layer, ins []value, norm data.Norm) value {
	four := w.rank4
	switch l.Op {
	case space.OpInput:
		return w.normalize(l, norm)
	case space.OpConv:
		args := []string{four(ins[0]).name, w.weight(l.Name+".weight", l.Out, w.inChannels(l)/l.Groups, l.KH, l.KW)}
		if l.Bias {
			args = append(args, w.weight(l.Name+".bias", l.Out))
		}
		return w.node("Conv", l.Name, args,
			intsAttr("kernel_shape", l.KH, l.KW), intsAttr("strides", l.Stride, l.Stride),
			intsAttr("pads", l.PadH, l.PadW, l.PadH, l.PadW), intAttr("group", l.Groups))
	case space.OpBatchNorm:
		c := l.Shape.C
		v := w.node("BatchNormalization", l.Name, []string{ins[0].name,
			w.weight(l.Name+".weight", c), w.weight(l.Name+".bias", c),
			w.weight(l.Name+".running_mean", c), w.weight(l.Name+".running_var", c)},
			floatAttr("epsilon", engine.BatchNormEps))
		v.rank = ins[0].rank
		return v
	case space.OpReLU:
		return w.same("Relu", l.Name, ins[0])
	case space.OpSigmoid:
		return w.same("Sigmoid", l.Name, ins[0])
	case space.OpMaxPool, space.OpAvgPool:
		return w.pool(l, four(ins[0]))
	case space.OpGlobalAvgPool:
		return w.node("GlobalAveragePool", l.Name, []string{four(ins[0]).name})
	case space.OpFlatten:
		v := w.node("Flatten", l.Name, []string{ins[0].name}, intAttr("axis", 1))
		v.rank = 2
		return v
	case space.OpLinear:
		x := ins[0]
		if x.rank != 2 {
			x = w.node("Flatten", l.Name+".flatten", []string{x.name}, intAttr("axis", 1))
			x.rank = 2
		}
		args := []string{x.name, w.weight(l.Name+".weight", l.Out, int(w.net.Layers[l.Inputs[0]].Shape.Elems()))}
		if l.Bias {
			args = append(args, w.weight(l.Name+".bias", l.Out))
		}
		v := w.node("Gemm", l.Name, args, intAttr("transB", 1))
		v.rank = 2
		return v
	case space.OpAdd:
		a, b := ins[0], ins[1]
		if a.rank != b.rank {
			a, b = four(a), four(b)
		}
		if l.Scale != 1 {
			s := w.constant(l.Name+".scale", []float32{float32(l.Scale)})
			b = w.same("Mul", l.Name+".scaled", b, s)
		}
		return w.same("Add", l.Name, a, b.name)
	case space.OpConcat:
		rank := ins[0].rank
		for _, v := range ins {
			rank = max(rank, v.rank)
		}
		names := make([]string, len(ins))
		for k, v := range ins {
			if rank == 4 {
				v = four(v)
			}
			names[k] = v.name
		}
		v := w.node("Concat", l.Name, names, intAttr("axis", 1))
		v.rank = rank
		return v
	case space.OpScale:
		return w.same("Mul", l.Name, four(ins[0]), four(ins[1]).name)
	case space.OpDropout, space.OpDropPath:
		return ins[0] // the identity in inference
	case space.OpZeroPad:
		return w.zeroPad(l, four(ins[0]))
	}
	w.fail("layer %s: no ONNX operators for op %q", l.Name, l.Op)
	return value{}
}

// normalize returns the input with pixel p of channel c mapped to (p − Mean[c]) / Std[c].
func (w *writer) normalize(l space.Layer, norm data.Norm) value {
	w.names[InputName] = true
	x := value{InputName, 4}
	if norm.Mean == nil {
		return x
	}
	c := l.Shape.C
	if len(norm.Mean) != c || len(norm.Std) != c {
		w.fail("the normalisation has %d means and %d deviations, the network takes %d channels", len(norm.Mean), len(norm.Std), c)
		return x
	}
	mean, std := make([]float32, c), make([]float32, c)
	for k := range c {
		mean[k], std[k] = float32(norm.Mean[k]), float32(norm.Std[k])
	}
	x = w.same("Sub", InputName+".centered", x, w.constant(InputName+".mean", mean, 1, c, 1, 1))
	return w.same("Div", InputName+".normalized", x, w.constant(InputName+".std", std, 1, c, 1, 1))
}

// pool adds a max or average pool with PyTorch's semantics. PyTorch's ceil_mode drops a last
// window that would start in the right padding, which runtimes differ on; so the ONNX pool always
// rounds down, over explicit extra padding at the bottom and right that gives it the windows
// ceil_mode keeps. Max pools ignore padding and average pools without count_include_pad do not
// count it, so the extra padding changes nothing else. An average pool that counts padding counts
// only PyTorch's, which then becomes an explicit zero Pad before a pool that counts none.
func (w *writer) pool(l space.Layer, x value) value {
	in := w.net.Layers[l.Inputs[0]].Shape
	extraH := extraPad(in.H, l.KH, l.Stride, l.PadH, l.Shape.H)
	extraW := extraPad(in.W, l.KW, l.Stride, l.PadW, l.Shape.W)
	pads := []int{l.PadH, l.PadW, l.PadH + extraH, l.PadW + extraW}
	attrs := []*onnxpb.AttributeProto{intsAttr("kernel_shape", l.KH, l.KW), intsAttr("strides", l.Stride, l.Stride)}
	if l.Op == space.OpMaxPool {
		return w.node("MaxPool", l.Name, []string{x.name}, append(attrs, intsAttr("pads", pads...))...)
	}
	if l.CountIncludePad && (l.PadH > 0 || l.PadW > 0) {
		if extraH == 0 && extraW == 0 {
			return w.node("AveragePool", l.Name, []string{x.name}, append(attrs, intsAttr("pads", pads...), intAttr("count_include_pad", 1))...)
		}
		x = w.node("Pad", l.Name+".padded", []string{x.name, w.int64s(l.Name+".pads", 0, 0, int64(l.PadH), int64(l.PadW), 0, 0, int64(l.PadH), int64(l.PadW))})
		pads = []int{0, 0, extraH, extraW}
	}
	return w.node("AveragePool", l.Name, []string{x.name}, append(attrs, intsAttr("pads", pads...))...)
}

// extraPad is the padding to add after the input along one axis so that a pool rounding down
// gives out windows.
func extraPad(in, k, stride, pad, out int) int {
	return max(0, (out-1)*stride+k-(in+2*pad))
}

// zeroPad adds the option-A shortcut: every stride-th pixel, then zero channels on both sides.
func (w *writer) zeroPad(l space.Layer, x value) value {
	c := w.net.Layers[l.Inputs[0]].Shape.C
	if l.Stride == 1 && l.Out == c {
		return x
	}
	name := l.Name
	if l.Stride > 1 {
		if l.Out != c {
			name = l.Name + ".strided"
		}
		s := int64(l.Stride)
		x = w.node("Slice", name, []string{x.name, w.int64s(l.Name+".starts", 0, 0),
			w.int64s(l.Name+".ends", math.MaxInt64, math.MaxInt64), w.int64s(l.Name+".axes", 2, 3), w.int64s(l.Name+".steps", s, s)})
	}
	if l.Out == c {
		return x
	}
	before := int64((l.Out - c) / 2)
	after := int64(l.Out-c) - before
	return w.node("Pad", l.Name, []string{x.name, w.int64s(l.Name+".pads", 0, before, 0, 0, 0, after, 0, 0)})
}

// rank4 returns v as N×C×1×1 if it is N×C.
func (w *writer) rank4(v value) value {
	if v.rank == 4 {
		return v
	}
	name := v.name + ".unsqueezed"
	if w.names[name] {
		return value{name, 4}
	}
	return w.node("Unsqueeze", name, []string{v.name, w.int64s(v.name+".unsqueeze_axes", 2, 3)})
}

func (w *writer) inChannels(l space.Layer) int { return w.net.Layers[l.Inputs[0]].Shape.C }

// node adds an operator with one output, out, of rank 4.
func (w *writer) node(op, out string, inputs []string, attrs ...*onnxpb.AttributeProto) value {
	w.claim(out)
	w.graph.Node = append(w.graph.Node, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(out), Input: inputs, Output: []string{out}, Attribute: attrs})
	return value{out, 4}
}

// same adds an operator whose output has the rank of its first input x.
func (w *writer) same(op, out string, x value, others ...string) value {
	v := w.node(op, out, append([]string{x.name}, others...))
	v.rank = x.rank
	return v
}

// rename makes the node that outputs from output to instead.
func (w *writer) rename(from, to string) {
	w.claim(to)
	for _, n := range w.graph.Node {
		if n.Output[0] == from {
			n.Output[0], n.Name = to, proto.String(to)
			return
		}
	}
	w.fail("no node computes %s", from) // the classifier is the input
}

func (w *writer) claim(name string) {
	if w.names[name] {
		w.fail("two tensors of the ONNX graph would be named %s", name)
	}
	w.names[name] = true
}

// weight adds the initializer of the given tensor, which must have the given shape.
func (w *writer) weight(name string, shape ...int) string {
	t, ok := w.weights[name]
	switch {
	case !ok:
		w.fail("tensor %s %v is missing", name, shape)
	case !slices.Equal(t.Shape, shape) || len(t.Data) != t.Elems():
		w.fail("tensor %s has shape %v and %d values, want shape %v", name, t.Shape, len(t.Data), shape)
	default:
		w.used[name] = true
		w.constant(name, t.Data, shape...)
	}
	return name
}

// constant adds a float32 initializer and returns its name.
func (w *writer) constant(name string, v []float32, shape ...int) string {
	w.claim(name)
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	w.graph.Initializer = append(w.graph.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: dims(shape), RawData: raw})
	return name
}

// int64s adds a one-dimensional int64 initializer and returns its name.
func (w *writer) int64s(name string, v ...int64) string {
	w.claim(name)
	w.graph.Initializer = append(w.graph.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{int64(len(v))}, Int64Data: v})
	return name
}

func dims(shape []int) []int64 {
	d := make([]int64, len(shape))
	for i, s := range shape {
		d[i] = int64(s)
	}
	return d
}

// tensorInfo describes a float32 tensor whose first dimension is the symbol batch.
func tensorInfo(name, batch string, shape ...int) *onnxpb.ValueInfoProto {
	d := []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: batch}}}
	for _, s := range shape {
		d = append(d, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(s)}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func intsAttr(name string, v ...int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: dims(v)}
}

func floatAttr(name string, v float64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(v))}
}
