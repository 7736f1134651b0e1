package space

import (
	"fmt"
	"math"
	"math/bits"
)

// Op is a primitive layer. Each maps onto one engine op.
type Op string

// The primitive layers an Arch expands to.
const (
	OpInput         Op = "input"         // the network's input; always layer 0
	OpConv          Op = "conv"          // 2-D convolution: Out, KH, KW, Stride, PadH, PadW, Groups, Bias
	OpBatchNorm     Op = "batchnorm"     // per-channel batch normalisation with learned gamma and beta
	OpReLU          Op = "relu"          // max(x, 0)
	OpSigmoid       Op = "sigmoid"       // 1/(1+e^−x)
	OpMaxPool       Op = "maxpool"       // KH, KW, Stride, PadH, PadW, Ceil
	OpAvgPool       Op = "avgpool"       // as maxpool, plus CountIncludePad
	OpGlobalAvgPool Op = "globalavgpool" // mean over H and W: C×H×W → C×1×1
	OpLinear        Op = "linear"        // fully connected on the flattened input: Out, Bias
	OpAdd           Op = "add"           // in0 + Scale·in1 (two inputs of one shape)
	OpConcat        Op = "concat"        // channel concatenation of any number of inputs, in order
	OpScale         Op = "scale"         // in0 (C×H×W) times in1 (C×1×1), per channel
	OpDropout       Op = "dropout"       // zeroes elements with probability P in training
	OpDropPath      Op = "droppath"      // zeroes the whole sample with probability P in training
	OpFlatten       Op = "flatten"       // C×H×W → (C·H·W)×1×1, in C,H,W order
	OpZeroPad       Op = "zeropad"       // option-A shortcut: subsample by Stride, zero channels to Out
)

// Layer is one primitive layer of an expanded network.
type Layer struct {
	// Name is the dotted path of the layer, e.g. "stage2.block0.conv1".
	Name string
	// Op is the primitive.
	Op Op
	// Inputs are indices of earlier layers.
	Inputs []int
	// Shape is the output shape; vectors are C×1×1.
	Shape Shape

	// Out is the number of output channels of a conv or zeropad, or of features of a linear.
	Out int
	// KH and KW are the kernel height and width of a conv or pool.
	KH, KW int
	// Stride of a conv, pool or zeropad (the same along H and W).
	Stride int
	// PadH and PadW are the zero padding of a conv or pool at the top and bottom, and left and
	// right.
	PadH, PadW int
	// Groups of a conv: input and output channels are split into Groups groups, each output
	// group seeing only its input group.
	Groups int
	// Bias tells whether a conv or linear layer adds a learned bias.
	Bias bool
	// Ceil makes a pool round its output size up, dropping a last window that would start in
	// the right or bottom padding (PyTorch's ceil_mode).
	Ceil bool
	// CountIncludePad makes an avgpool divide by KH·KW everywhere rather than by the number of
	// input pixels under the window.
	CountIncludePad bool
	// P is the drop probability of a dropout or droppath layer.
	P float64
	// Scale multiplies the second input of an add.
	Scale float64

	// Params is the number of learned parameters: conv and linear weights and biases, batchnorm
	// gamma and beta. Batchnorm running statistics are not parameters.
	Params int64
	// MACs is the number of multiply-accumulates of one sample's forward pass: conv and linear
	// layers only.
	MACs int64
}

// Net is an Arch expanded to primitive layers: a DAG in topological order whose layer 0 is the
// input. A zeropad layer places its input's channels at offset (Out−C)/2 and fills the rest with
// zeros, as the widely used option-A implementation for CIFAR does.
type Net struct {
	// Name is the Arch's name.
	Name string
	// Layers in topological order; every input index is smaller than its layer's index.
	Layers []Layer
	// Outputs are the layers whose outputs are logits: Outputs[0] is the classifier, the rest
	// are auxiliary classifiers that only training uses.
	Outputs []int
}

// Classifier reports which layers the main classifier (Outputs[0]) depends on, itself included:
// the layers inference needs, without auxiliary classifiers.
func (n *Net) Classifier() []bool {
	needed := make([]bool, len(n.Layers))
	needed[n.Outputs[0]] = true
	for i := n.Outputs[0]; i >= 0; i-- {
		if needed[i] {
			for _, in := range n.Layers[i].Inputs {
				needed[in] = true
			}
		}
	}
	return needed
}

// graph appends layers to a Net while computing their shapes and counts. The first mistake of
// the user's architecture (a map shrinking below 1×1, channels that groups do not divide) is kept
// in err, after which every method does nothing and returns 0, so that block builders need not
// check each call.
type graph struct {
	net   Net
	err   error
	field string // the YAML path of the block being built, for errors
	total Counts // sums over every layer so far, MACs of auxiliary heads included
}

func (g *graph) fail(format string, args ...any) {
	if g.err == nil {
		g.err = fieldError(g.field, format, args...)
	}
}

func (g *graph) shape(i int) Shape { return g.net.Layers[i].Shape }

// add appends l, whose Shape, Params and MACs are already set, and returns its index.
func (g *graph) add(l Layer) int {
	for _, in := range l.Inputs {
		if in < 0 || in >= len(g.net.Layers) {
			panic(fmt.Sprintf("space: layer %s: input %d out of range [0, %d)", l.Name, in, len(g.net.Layers)))
		}
	}
	acts, ok := product(int64(l.Shape.C), int64(l.Shape.H), int64(l.Shape.W))
	t := &g.total
	if ok {
		t.Params, ok = sum(t.Params, l.Params)
	}
	if ok {
		t.MACs, ok = sum(t.MACs, l.MACs)
	}
	if ok {
		t.Activations, ok = sum(t.Activations, acts)
	}
	if !ok {
		g.tooLarge(l.Name)
	}
	g.net.Layers = append(g.net.Layers, l)
	return len(g.net.Layers) - 1
}

// tooLarge records that the network's counts overflow int64 at the named layer: an absurd
// network is refused rather than counted with a wrapped figure.
func (g *graph) tooLarge(name string) {
	g.fail("the network is too large to count: its parameters, MACs or activations overflow 64-bit integers at %s", name)
}

// b2i is 1 for true and 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// product returns the product of non-negative xs, or false if it overflows int64.
func product(xs ...int64) (int64, bool) {
	p := int64(1)
	for _, x := range xs {
		hi, lo := bits.Mul64(uint64(p), uint64(x))
		if x < 0 || hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		p = int64(lo)
	}
	return p, true
}

// sum returns the sum of non-negative xs, or false if it overflows int64.
func sum(xs ...int64) (int64, bool) {
	var s int64
	for _, x := range xs {
		if x < 0 || s > math.MaxInt64-x {
			return 0, false
		}
		s += x
	}
	return s, true
}

// window returns the output size of a conv or pool along one axis, as PyTorch computes it.
func window(in, k, stride, pad int, ceil bool) int {
	span := in + 2*pad - k
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	// A last window must start inside the input or the left padding.
	if (out-1)*stride >= in+pad {
		out--
	}
	return out
}

// convSpec is a convolution: out channels, a kh×kw kernel, the stride, the zero padding at top
// and bottom (padH) and left and right (padW), the groups and whether it adds a bias. A zero
// stride or groups means 1.
type convSpec struct {
	out, kh, kw, stride, padH, padW, groups int
	bias                                    bool
}

// conv appends a convolution and returns its index.
func (g *graph) conv(name string, in int, c convSpec) int {
	if g.err != nil {
		return 0
	}
	c.stride, c.groups = max(c.stride, 1), max(c.groups, 1)
	s := g.shape(in)
	if s.C%c.groups != 0 || c.out%c.groups != 0 {
		g.fail("groups %d must divide the conv's %d input and %d output channels (%s)", c.groups, s.C, c.out, name)
		return 0
	}
	h, w := window(s.H, c.kh, c.stride, c.padH, false), window(s.W, c.kw, c.stride, c.padW, false)
	if h < 1 || w < 1 {
		g.fail("the feature map shrinks below 1×1 at %s (%dx%d conv, stride %d, padding %d, on %dx%d); use a smaller stride or a larger input", name, c.kh, c.kw, c.stride, c.padH, s.H, s.W)
		return 0
	}
	k, ok1 := product(int64(s.C/c.groups), int64(c.kh), int64(c.kw))
	weights, ok2 := product(int64(c.out), k)
	params, ok3 := sum(weights, int64(c.out)*b2i(c.bias))
	macs, ok4 := product(int64(c.out), int64(h), int64(w), k)
	if !(ok1 && ok2 && ok3 && ok4) {
		g.tooLarge(name)
		return 0
	}
	return g.add(Layer{Name: name, Op: OpConv, Inputs: []int{in}, Shape: Shape{C: c.out, H: h, W: w},
		Out: c.out, KH: c.kh, KW: c.kw, Stride: c.stride, PadH: c.padH, PadW: c.padW, Groups: c.groups, Bias: c.bias,
		Params: params, MACs: macs})
}

// poolSpec is a max or average pool (op) with a k×k window, its stride and padding on every
// side; ceil rounds the output size up, and countIncludePad makes an average pool divide by
// k·k everywhere.
type poolSpec struct {
	op                    Op
	k, stride, pad        int
	ceil, countIncludePad bool
}

// pool appends a max or average pool.
func (g *graph) pool(name string, in int, p poolSpec) int {
	if g.err != nil {
		return 0
	}
	s := g.shape(in)
	if 2*p.pad > p.k {
		g.fail("pool padding %d must be at most half the window %d (%s)", p.pad, p.k, name)
		return 0
	}
	h, w := window(s.H, p.k, p.stride, p.pad, p.ceil), window(s.W, p.k, p.stride, p.pad, p.ceil)
	if h < 1 || w < 1 {
		g.fail("the feature map shrinks below 1×1 at %s (%dx%d pool, stride %d, padding %d, on %dx%d); use a smaller stride or a larger input", name, p.k, p.k, p.stride, p.pad, s.H, s.W)
		return 0
	}
	return g.add(Layer{Name: name, Op: p.op, Inputs: []int{in}, Shape: Shape{C: s.C, H: h, W: w},
		KH: p.k, KW: p.k, Stride: p.stride, PadH: p.pad, PadW: p.pad, Ceil: p.ceil, CountIncludePad: p.op == OpAvgPool && p.countIncludePad})
}

// unary appends a layer that keeps its input's shape: batchnorm, relu, sigmoid, dropout,
// droppath.
func (g *graph) unary(name string, op Op, in int, p float64) int {
	if g.err != nil {
		return 0
	}
	s := g.shape(in)
	l := Layer{Name: name, Op: op, Inputs: []int{in}, Shape: s, P: p}
	if op == OpBatchNorm {
		l.Params = 2 * int64(s.C)
	}
	return g.add(l)
}

func (g *graph) gap(name string, in int) int {
	if g.err != nil {
		return 0
	}
	return g.add(Layer{Name: name, Op: OpGlobalAvgPool, Inputs: []int{in}, Shape: Shape{C: g.shape(in).C, H: 1, W: 1}})
}

func (g *graph) flatten(name string, in int) int {
	if g.err != nil {
		return 0
	}
	return g.add(Layer{Name: name, Op: OpFlatten, Inputs: []int{in}, Shape: Shape{C: int(g.shape(in).Elems()), H: 1, W: 1}})
}

// linear appends a fully connected layer on the flattened input.
func (g *graph) linear(name string, in, out int, bias bool) int {
	if g.err != nil {
		return 0
	}
	s := g.shape(in)
	n, ok1 := product(int64(s.C), int64(s.H), int64(s.W))
	macs, ok2 := product(n, int64(out))
	params, ok3 := sum(macs, int64(out)*b2i(bias))
	if !(ok1 && ok2 && ok3) {
		g.tooLarge(name)
		return 0
	}
	return g.add(Layer{Name: name, Op: OpLinear, Inputs: []int{in}, Shape: Shape{C: out, H: 1, W: 1},
		Out: out, Bias: bias, Params: params, MACs: macs})
}

// addScaled appends in0 + scale·in1.
func (g *graph) addScaled(name string, in0, in1 int, scale float64) int {
	if g.err != nil {
		return 0
	}
	if a, b := g.shape(in0), g.shape(in1); a != b {
		panic(fmt.Sprintf("space: add %s: shapes %v and %v differ", name, a, b))
	}
	return g.add(Layer{Name: name, Op: OpAdd, Inputs: []int{in0, in1}, Shape: g.shape(in0), Scale: scale})
}

// concat appends the channel concatenation of ins, or returns ins[0] when it is alone.
func (g *graph) concat(name string, ins ...int) int {
	if g.err != nil {
		return 0
	}
	if len(ins) == 1 {
		return ins[0]
	}
	s := g.shape(ins[0])
	c := 0
	for _, in := range ins {
		t := g.shape(in)
		if t.H != s.H || t.W != s.W {
			panic(fmt.Sprintf("space: concat %s: spatial shapes %v and %v differ", name, s, t))
		}
		c += t.C
	}
	return g.add(Layer{Name: name, Op: OpConcat, Inputs: append([]int(nil), ins...), Shape: Shape{C: c, H: s.H, W: s.W}})
}

// scale appends x times the per-channel vector v.
func (g *graph) scale(name string, x, v int) int {
	if g.err != nil {
		return 0
	}
	if s, t := g.shape(x), g.shape(v); t != (Shape{C: s.C, H: 1, W: 1}) {
		panic(fmt.Sprintf("space: scale %s: vector %v does not match %v", name, t, s))
	}
	return g.add(Layer{Name: name, Op: OpScale, Inputs: []int{x, v}, Shape: g.shape(x)})
}

// zeropad appends an option-A shortcut from in to out channels with the given stride.
func (g *graph) zeropad(name string, in, out, stride int) int {
	if g.err != nil {
		return 0
	}
	s := g.shape(in)
	if out < s.C {
		g.fail("shortcut A cannot reduce channels (from %d to %d); use shortcut B", s.C, out)
		return 0
	}
	return g.add(Layer{Name: name, Op: OpZeroPad, Inputs: []int{in}, Shape: Shape{C: out, H: (s.H + stride - 1) / stride, W: (s.W + stride - 1) / stride},
		Out: out, Stride: stride})
}
