package engine

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// runForward builds a graph of the given batch over one random input of shape in, runs Forward
// and returns the input and output nodes. The graph's pool is closed when the test ends.
func runForward(t *testing.T, batch int, in Shape, build func(g *Graph, x *Node) *Node) (*Graph, *Node, *Node) {
	t.Helper()
	g := New(Config{Batch: batch, Pool: parallel.NewPool(2), Seed: 5})
	t.Cleanup(g.Pool().Close)
	x := g.Input("x", in)
	fillNormal(x.Value, 11)
	y := build(g, x)
	g.Forward(true)
	return g, x, y
}

func fillNormal(v []float32, seed uint64) {
	rng := newNormalRand(seed, 0)
	for i := range v {
		v[i] = float32(rng.Normal())
	}
}

// assertClose fails unless got matches want within a float32 rounding tolerance.
func assertClose(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > 1e-4*(1+math.Abs(w)) || math.IsNaN(d) {
			t.Fatalf("%s: value %d = %v, want %v", name, i, got[i], w)
		}
	}
}

// refConv computes a convolution from its definition in float64, with the weights in the
// engine's [G][KH][KW][Cin/G][Cout/G] layout.
func refConv(x []float32, batch int, in Shape, s ConvSpec, w, b []float32) []float64 {
	groups := max(s.Groups, 1)
	cg, fg := in.C/groups, s.Filters/groups
	ho, wo := (in.H+2*s.PadH-s.KH)/s.Stride+1, (in.W+2*s.PadW-s.KW)/s.Stride+1
	y := make([]float64, batch*ho*wo*s.Filters)
	for n := range batch {
		for oh := range ho {
			for ow := range wo {
				for co := range s.Filters {
					g := co / fg
					var sum float64
					if b != nil {
						sum = float64(b[co])
					}
					for kh := range s.KH {
						for kw := range s.KW {
							ih, iw := oh*s.Stride-s.PadH+kh, ow*s.Stride-s.PadW+kw
							if ih < 0 || ih >= in.H || iw < 0 || iw >= in.W {
								continue
							}
							for ci := range cg {
								xv := x[((n*in.H+ih)*in.W+iw)*in.C+g*cg+ci]
								wv := w[(((g*s.KH+kh)*s.KW+kw)*cg+ci)*fg+co%fg]
								sum += float64(xv) * float64(wv)
							}
						}
					}
					y[((n*ho+oh)*wo+ow)*s.Filters+co] = sum
				}
			}
		}
	}
	return y
}

var convCases = []struct {
	name string
	in   Shape
	s    ConvSpec
}{
	{"3x3 stride 1 pad 1", Shape{5, 6, 4}, ConvSpec{Filters: 6, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
	{"3x3 stride 2 pad 1 with bias", Shape{7, 7, 3}, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Bias: true}},
	{"1x3 padded along W only", Shape{4, 5, 3}, ConvSpec{Filters: 5, KH: 1, KW: 3, Stride: 1, PadW: 1}},
	{"5x2 stride 3 unpadded", Shape{8, 7, 2}, ConvSpec{Filters: 3, KH: 5, KW: 2, Stride: 3}},
	{"3x3 padding 2, wider than half the kernel", Shape{3, 4, 2}, ConvSpec{Filters: 3, KH: 3, KW: 3, Stride: 1, PadH: 2, PadW: 2}},
	{"2 groups", Shape{5, 5, 4}, ConvSpec{Filters: 6, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2}},
	{"depthwise stride 2 with bias", Shape{5, 5, 4}, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 4, Bias: true}},
	{"depthwise with 2 filters per channel", Shape{4, 4, 3}, ConvSpec{Filters: 6, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 3}},
	{"1x1 direct with bias", Shape{4, 4, 6}, ConvSpec{Filters: 5, KH: 1, KW: 1, Stride: 1, Bias: true}},
	{"1x1 stride 2", Shape{5, 5, 6}, ConvSpec{Filters: 4, KH: 1, KW: 1, Stride: 2}},
	{"tiles spanning images", Shape{9, 10, 3}, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true}},
	{"8 groups merged into 2 blocks", Shape{4, 5, 16}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 8, Bias: true}},
	{"2 groups wide enough to stay apart", Shape{3, 4, 6}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2}},
	{"4 groups merged in pairs, stride 2", Shape{5, 5, 8}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 4}},
	{"8 groups in 2 blocks, stride 2, wide enough for whole spans", Shape{9, 11, 16}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 8}},
	{"1x1 with 2 groups", Shape{3, 3, 8}, ConvSpec{Filters: 8, KH: 1, KW: 1, Stride: 1, Groups: 2}},
	{"1x1 padded", Shape{3, 3, 2}, ConvSpec{Filters: 3, KH: 1, KW: 1, Stride: 1, PadH: 1, PadW: 1}},
	{"Winograd, odd output", Shape{7, 5, 8}, ConvSpec{Filters: 12, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true}},
	{"Winograd unpadded, dual padded 2", Shape{6, 7, 12}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1}},
	{"Winograd padded 2, dual unpadded", Shape{4, 5, 8}, ConvSpec{Filters: 9, KH: 3, KW: 3, Stride: 1, PadH: 2, PadW: 2}},
	{"Winograd with its weight gradient", Shape{3, 4, 32}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true}},
	{"2 unequal groups merged into one block, by Winograd", Shape{6, 5, 16}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2}},
	{"Winograd F(2×2), 6×6", Shape{6, 6, 8}, ConvSpec{Filters: 12, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
	{"Winograd F(2×2) with its weight gradient, 5×5", Shape{5, 5, 32}, ConvSpec{Filters: 9, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
	{"groups of 4", Shape{5, 7, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2, Bias: true}},
	{"groups of 4, stride 2", Shape{7, 5, 16}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 4}},
	{"groups of 8", Shape{5, 3, 16}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2, Bias: true}},
	{"groups of 8, stride 2", Shape{7, 9, 16}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 2}},
	{"groups of 8, 2x3 stride 3 padded 2 along W", Shape{8, 7, 8}, ConvSpec{Filters: 8, KH: 2, KW: 3, Stride: 3, PadW: 2, Groups: 2}},
	{"groups of 4, stride 2 padded 3, wider than the kernel", Shape{3, 5, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 2, PadH: 3, PadW: 3, Groups: 2}},
	{"groups of 4, 1x1 stride 2 padded", Shape{5, 4, 8}, ConvSpec{Filters: 8, KH: 1, KW: 1, Stride: 2, PadH: 1, PadW: 1, Groups: 2}},
	{"groups of 8, unpadded 3x3", Shape{5, 6, 24}, ConvSpec{Filters: 24, KH: 3, KW: 3, Stride: 1, Groups: 3}},
	{"3 groups of 4, merged", Shape{4, 5, 12}, ConvSpec{Filters: 12, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 3}},
	// More strides, kernels and paddings for im2col.
	{"2x2 stride 2 unpadded, odd width", Shape{6, 7, 3}, ConvSpec{Filters: 5, KH: 2, KW: 2, Stride: 2}},
	{"3x3 stride 3 pad 1, a phase per kernel row", Shape{9, 10, 4}, ConvSpec{Filters: 6, KH: 3, KW: 3, Stride: 3, PadH: 1, PadW: 1}},
	{"3x3 stride 2 padded 3, wider than the kernel", Shape{3, 5, 4}, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 2, PadH: 3, PadW: 3}},
	{"7x7 stride 2 pad 3 with bias", Shape{12, 11, 3}, ConvSpec{Filters: 8, KH: 7, KW: 7, Stride: 2, PadH: 3, PadW: 3, Bias: true}},
}

func TestConv2DForwardMatchesDefinition(t *testing.T) {
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			const batch = 3
			g, x, y := runForward(t, batch, c.in, func(g *Graph, x *Node) *Node { return g.Conv2D(x, c.s) })
			ps := g.Params()
			var b []float32
			if c.s.Bias {
				b = ps[1].Value
			}
			assertClose(t, c.name, y.Value, refConv(x.Value, batch, c.in, c.s, ps[0].Value, b))
		})
	}
}

// TestGradConv2D checks every path's gradients. A convolution is linear in its input, weights and
// bias, so its central differences take a large step: Winograd's F(4×4, 3×3) rounds its outputs
// about five times as much as the definition does (relative error ~1e-6), which the default step
// turns into differences off by more than the tolerance.
func TestGradConv2D(t *testing.T) {
	for _, c := range convCases {
		checkGradients(t, gradCase{
			name: c.name, batch: 2, inputs: []Shape{c.in}, eps: 0.1,
			build: func(g *Graph, xs []*Node) *Node { return g.Conv2D(xs[0], c.s) },
		})
	}
}

// convStack builds seven convs that together take every path of Conv2D: windowed with bias,
// groups of 4 and of 8 with and without stride, im2col of merged groups with stride, and the
// direct 1×1.
func convStack(g *Graph, x *Node) *Node {
	y := g.Conv2D(x, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true})
	y = g.Conv2D(y, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 4})
	y = g.Conv2D(y, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 4})
	y = g.Conv2D(y, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2, Bias: true})
	y = g.Conv2D(y, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 2})
	y = g.Conv2D(y, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 2})
	return g.Conv2D(y, ConvSpec{Filters: 6, KH: 1, KW: 1, Stride: 1, Bias: true})
}

func TestConv2DIdenticalOnAnyThreadCount(t *testing.T) {
	// 40 images make 14 weight-gradient segments of 3 images at the active batch of 37.
	const batch, active = 40, 37
	run := func(threads int) [][]float32 {
		g := New(Config{Batch: batch, Pool: parallel.NewPool(threads), Seed: 3})
		defer g.Pool().Close()
		x := g.Input("x", Shape{6, 6, 4})
		fillNormal(x.Value, 1)
		x.Grad = make([]float32, len(x.Value))
		y := convStack(g, x)
		g.Build()
		g.SetActiveBatch(active)
		dy := make([]float32, len(y.Value))
		fillNormal(dy, 2)
		g.Forward(true)
		g.BackwardFrom(y, dy)
		out := [][]float32{x.Grad}
		for _, n := range g.Nodes() {
			out = append(out, n.Value, n.Grad)
		}
		for _, p := range g.Params() {
			out = append(out, p.Grad)
		}
		return out
	}
	checkSameOnThreads(t, run)
}

func TestConv2DWeightGradientWithoutInputGradient(t *testing.T) {
	grads := func(inputGrad bool) [][]float32 {
		g := New(Config{Batch: 5, Pool: parallel.NewPool(2), Seed: 3})
		defer g.Pool().Close()
		x := g.Input("x", Shape{6, 6, 4})
		fillNormal(x.Value, 1)
		if inputGrad {
			x.Grad = make([]float32, len(x.Value))
		}
		y := convStack(g, x)
		g.Build()
		dy := make([]float32, len(y.Value))
		fillNormal(dy, 2)
		g.Forward(true)
		g.BackwardFrom(y, dy)
		var out [][]float32
		for _, p := range g.Params() {
			out = append(out, p.Grad)
		}
		return out
	}
	with, without := grads(true), grads(false)
	for i := range with {
		for j := range with[i] {
			if with[i][j] != without[i][j] {
				t.Fatalf("param %d element %d: %v with the input's gradient, %v without", i, j, with[i][j], without[i][j])
			}
		}
	}
}

// meanStd returns the sample mean and standard deviation of v.
func meanStd(v []float32) (mean, std float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// checkUniform fails unless v looks uniform on [-bound, bound]: inside it, reaching near both ends,
// with the standard deviation bound/√3.
func checkUniform(t *testing.T, name string, v []float32, bound float64) {
	t.Helper()
	lo, hi := 0.0, 0.0
	for _, x := range v {
		if math.Abs(float64(x)) > bound {
			t.Fatalf("%s: %v outside ±%v", name, x, bound)
		}
		lo, hi = min(lo, float64(x)), max(hi, float64(x))
	}
	if lo > -0.8*bound || hi < 0.8*bound {
		t.Errorf("%s: values span [%v, %v], want nearly ±%v", name, lo, hi, bound)
	}
	if _, std := meanStd(v); math.Abs(std-bound/math.Sqrt(3)) > 0.1*bound {
		t.Errorf("%s: standard deviation %v, want %v", name, std, bound/math.Sqrt(3))
	}
}

func TestConv2DInitialisation(t *testing.T) {
	for _, groups := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d groups", groups), func(t *testing.T) {
			g := New(Config{Batch: 1, Pool: parallel.NewPool(1), Seed: 9})
			x := g.Input("x", Shape{8, 8, 32})
			y := g.Conv2D(x, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: groups, Bias: true})
			ps := g.Params()
			if len(ps) != 2 || ps[0].Name != y.Name+".weight" || ps[1].Name != y.Name+".bias" || ps[0].NoDecay || !ps[1].NoDecay {
				t.Fatalf("params %+v, want a decayed weight and a NoDecay bias named after %s", ps, y.Name)
			}
			wantShape := fmt.Sprint([]int{groups, 3, 3, 32 / groups, 64 / groups})
			if fmt.Sprint(ps[0].Shape) != wantShape {
				t.Errorf("weight shape %v, want %v", ps[0].Shape, wantShape)
			}
			w := ps[0].Value
			mean, std := meanStd(w)
			wantStd := math.Sqrt(2.0 / (64 * 3 * 3)) // fan-out: groups do not enter
			if math.Abs(std-wantStd) > 0.05*wantStd || math.Abs(mean) > 4*wantStd/math.Sqrt(float64(len(w))) {
				t.Errorf("weight mean %v std %v, want 0 and %v", mean, std, wantStd)
			}
			checkUniform(t, "bias", ps[1].Value, 1/math.Sqrt(float64(32/groups*3*3)))
		})
	}
}

func TestConv2DRejectsInvalidSpecs(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Shape
		s    ConvSpec
	}{
		{"groups not dividing the input channels", Shape{4, 4, 6}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, Groups: 4}},
		{"groups not dividing the filters", Shape{4, 4, 8}, ConvSpec{Filters: 6, KH: 3, KW: 3, Stride: 1, Groups: 4}},
		{"kernel larger than the padded input", Shape{4, 4, 8}, ConvSpec{Filters: 4, KH: 7, KW: 3, Stride: 1, PadH: 1}},
		{"zero stride", Shape{4, 4, 8}, ConvSpec{Filters: 4, KH: 3, KW: 3}},
		{"no filters", Shape{4, 4, 8}, ConvSpec{KH: 3, KW: 3, Stride: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := New(Config{Batch: 1, Pool: parallel.NewPool(1)})
			x := g.Input("x", c.in)
			defer func() {
				if recover() == nil {
					t.Errorf("Conv2D(%+v) on %v did not panic", c.s, c.in)
				}
			}()
			g.Conv2D(x, c.s)
		})
	}
}

// TestBackwardAccumulates runs each op's backward twice, once on zeroed gradients and once on
// gradients already holding 0.5, and expects the second to be the first plus 0.5: ops add to
// their inputs' and parameters' gradients, never overwrite them.
func TestBackwardAccumulates(t *testing.T) {
	pool := PoolSpec{KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1}
	for _, c := range []struct {
		name  string
		build func(g *Graph, x *Node) *Node // one op on x
	}{
		{"conv", func(g *Graph, x *Node) *Node {
			return g.Conv2D(x, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Bias: true})
		}},
		{"grouped conv", func(g *Graph, x *Node) *Node {
			return g.Conv2D(x, ConvSpec{Filters: 4, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2, Bias: true})
		}},
		{"direct 1x1 conv", func(g *Graph, x *Node) *Node { return g.Conv2D(x, ConvSpec{Filters: 3, KH: 1, KW: 1, Stride: 1}) }},
		{"linear", func(g *Graph, x *Node) *Node { return g.Linear(x, 3, true) }},
		{"max pool", func(g *Graph, x *Node) *Node { return g.MaxPool(x, pool) }},
		{"avg pool", func(g *Graph, x *Node) *Node { return g.AvgPool(x, pool) }},
		{"global avg pool", func(g *Graph, x *Node) *Node { return g.GlobalAvgPool(x) }},
		{"flatten", func(g *Graph, x *Node) *Node { return g.Flatten(x) }},
		{"zero-pad shortcut", func(g *Graph, x *Node) *Node { return g.ZeroPadShortcut(x, 6, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 1})
			defer g.Pool().Close()
			x := g.Input("x", Shape{5, 5, 4})
			fillNormal(x.Value, 1)
			x.Grad = make([]float32, len(x.Value))
			y := c.build(g, x)
			g.Build()
			g.Forward(true)
			grads := [][]float32{}
			for _, n := range g.Nodes() {
				if n != y {
					grads = append(grads, n.Grad)
				}
			}
			for _, p := range g.Params() {
				grads = append(grads, p.Grad)
			}
			backward := func(start float32) [][]float32 {
				for _, gr := range grads {
					for i := range gr {
						gr[i] = start
					}
				}
				fillNormal(y.Grad, 2)
				for i := len(g.Nodes()) - 1; i > x.id; i-- {
					g.Nodes()[i].op.backward(g)
				}
				var out [][]float32
				for _, gr := range grads {
					out = append(out, append([]float32(nil), gr...))
				}
				return out
			}
			zero, half := backward(0), backward(0.5)
			for i := range zero {
				for j := range zero[i] {
					if d := half[i][j] - zero[i][j]; math.Abs(float64(d)-0.5) > 1e-5*(1+math.Abs(float64(zero[i][j]))) {
						t.Fatalf("gradient %d element %d: %v from 0, %v from 0.5", i, j, zero[i][j], half[i][j])
					}
				}
			}
		})
	}
}

func TestStepAllocatesNothing(t *testing.T) {
	g := New(Config{Batch: 4, Pool: parallel.NewPool(2), Seed: 1})
	defer g.Pool().Close()
	x := g.Input("x", Shape{24, 24, 4})
	fillNormal(x.Value, 1)
	x.Grad = make([]float32, len(x.Value))
	y := convStack(g, x)
	y = g.MaxPool(y, PoolSpec{KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Ceil: true})
	y = g.AvgPool(y, PoolSpec{KH: 2, KW: 2, Stride: 1, CountIncludePad: true})
	y = g.ZeroPadShortcut(y, 8, 1)
	y = g.Linear(g.Flatten(g.GlobalAvgPool(y)), 5, true)
	g.Build()
	dy := make([]float32, len(y.Value))
	fillNormal(dy, 2)
	if a := testing.AllocsPerRun(5, func() {
		g.Forward(true)
		g.BackwardFrom(y, dy)
	}); a != 0 {
		t.Errorf("a training step allocates %v times", a)
	}
}

// TestConvBackwardIsTheAdjoint checks the gradients of convolutions too large for central
// differences, whose windowed form cuts images into several bands, by the adjoint identities of a
// linear map: for y = conv(x, w) and dY = r, backward gives dX and dW with
// ⟨conv(x′, w), r⟩ = ⟨x′, dX⟩ and ⟨conv(x, w′), r⟩ = ⟨w′, dW⟩ for any x′ and w′.
func TestConvBackwardIsTheAdjoint(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Shape
		s    ConvSpec
	}{
		{"3x3 in bands", Shape{40, 30, 16}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
		{"5x5 unpadded in bands", Shape{44, 21, 12}, ConvSpec{Filters: 20, KH: 5, KW: 5, Stride: 1}},
		{"grouped 3x3 in bands", Shape{33, 40, 32}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 8}},
		{"3x3 stride 2", Shape{30, 30, 16}, ConvSpec{Filters: 24, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1}},
		{"3x3 with Winograd's weight gradient", Shape{13, 11, 32}, ConvSpec{Filters: 40, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
		// F(4×4): 8 tile rows of 15 tiles per image, 6 tile rows per chunk: the second chunk
		// spans both images.
		{"3x3 in chunks spanning images", Shape{30, 60, 8}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
		{"groups of 4, stride 2 in bands", Shape{67, 29, 32}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 8}},
		{"groups of 8 in bands", Shape{30, 31, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 8}},
		{"groups of 8, stride 2 in bands", Shape{45, 27, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			const batch = 2
			g := New(Config{Batch: batch, Pool: parallel.NewPool(2), Seed: 4})
			defer g.Pool().Close()
			x := g.Input("x", c.in)
			fillNormal(x.Value, 1)
			x.Grad = make([]float32, len(x.Value))
			y := g.Conv2D(x, c.s)
			g.Build()
			r := make([]float32, len(y.Value))
			fillNormal(r, 2)
			g.Forward(true)
			g.BackwardFrom(y, r)
			w := g.Params()[0]
			dot := func(a []float64, b []float32) float64 {
				var s float64
				for i, v := range a {
					s += v * float64(b[i])
				}
				return s
			}
			widen := func(v []float32) []float64 {
				out := make([]float64, len(v))
				for i, x := range v {
					out[i] = float64(x)
				}
				return out
			}
			x2, w2 := make([]float32, len(x.Value)), make([]float32, len(w.Value))
			fillNormal(x2, 3)
			fillNormal(w2, 4)
			for _, check := range []struct {
				name     string
				lhs, rhs float64
			}{
				{"input", dot(refConv(x2, batch, c.in, c.s, w.Value, nil), r), dot(widen(x2), x.Grad)},
				{"weights", dot(refConv(x.Value, batch, c.in, c.s, w2, nil), r), dot(widen(w2), w.Grad)},
			} {
				if !closeTo(check.rhs, check.lhs, 1e-4) {
					t.Errorf("%s: ⟨conv, r⟩ = %v, the gradient gives %v", check.name, check.lhs, check.rhs)
				}
			}
		})
	}
}

// TestInferenceReusesPreparedWeightsOnlyWhileUnchanged checks that an inference forward, which
// reuses the weights the last one prepared (folded, transformed, merged) when nothing they come
// from has changed, still sees every change: to a weight, a bias, a BatchNorm parameter or running
// statistic, or a training step in between. After each change its output must match, bit for bit,
// that of a twin graph whose first inference forward sees the changed values.
func TestInferenceReusesPreparedWeightsOnlyWhileUnchanged(t *testing.T) {
	build := func() (*Graph, *Node) {
		g := New(Config{Batch: 2, Pool: parallel.NewPool(2), Seed: 3})
		x := g.Input("x", Shape{9, 8, 16})
		fillNormal(x.Value, 1)
		y := g.ReLU(g.BatchNorm(g.Conv2D(x, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true})))
		y = g.Conv2D(y, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 4})
		g.Build()
		randomizeBatchNorm(g)
		return g, y
	}
	g, y := build()
	defer g.Pool().Close()
	params, state := g.Params(), g.State()
	changes := []struct {
		name   string
		change func(g *Graph)
	}{
		{"nothing", func(*Graph) {}},
		{"a weight", func(g *Graph) { g.Params()[0].Value[7] += 0.5 }},
		{"the bias", func(g *Graph) { g.Params()[1].Value[3] -= 0.25 }},
		{"a BatchNorm scale", func(g *Graph) { g.Params()[2].Value[0] *= 2 }},
		{"a running variance", func(g *Graph) { g.State()[1].Value[5] += 1 }},
		{"a grouped weight", func(g *Graph) { g.Params()[len(g.Params())-1].Value[11] += 1 }},
		{"a training forward", func(g *Graph) { g.Forward(true) }},
	}
	g.Forward(false)
	for _, c := range changes {
		c.change(g)
		g.Forward(false)
		twin, ty := build()
		for i, p := range twin.Params() {
			copy(p.Value, params[i].Value)
		}
		for i, b := range twin.State() {
			copy(b.Value, state[i].Value)
		}
		twin.Forward(false)
		twin.Pool().Close()
		sameBits(t, "inference after changing "+c.name, y.Value, ty.Value)
	}
}

// sameTrainingStep runs a training forward of graphs a and b, which should compute the same, and a
// backward from their outputs ya and yb with the same random gradient (from seed), and fails
// unless the outputs and every parameter's gradient have the same bits; the gradients of the
// parameters listed (by index) in close need only be close.
func sameTrainingStep(t *testing.T, a, b *Graph, ya, yb *Node, seed uint64, close ...int) {
	t.Helper()
	a.Forward(true)
	b.Forward(true)
	sameBits(t, "training forward", ya.Value, yb.Value)
	dy := make([]float32, len(ya.Value))
	fillNormal(dy, seed)
	a.BackwardFrom(ya, dy)
	b.BackwardFrom(yb, dy)
	ap, bp := a.Params(), b.Params()
	for i := range ap {
		if slices.Contains(close, i) {
			assertClose(t, "gradient of "+ap[i].Name, ap[i].Grad, widened(bp[i].Grad))
			continue
		}
		sameBits(t, "gradient of "+ap[i].Name, ap[i].Grad, bp[i].Grad)
	}
}

// TestConvAddFusion checks an Add that alone consumes a convolution's output, computed by that
// convolution in every forward, against the same graph built without FuseAdd, for each way of computing the convolution: the same bits
// in training and inference.
func TestConvAddFusion(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      Shape
		s       ConvSpec
		scale   float32
		convIsB bool
	}{
		{"Winograd, first input, scaled", Shape{6, 5, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}, 0.5, false},
		{"Winograd, second input", Shape{6, 5, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true}, 1, true},
		{"1x1 staged, second input, scaled", Shape{4, 5, 32}, ConvSpec{Filters: 32, KH: 1, KW: 1, Stride: 1, Bias: true}, 0.2, true},
		{"1x1 unstaged, second input, scaled, no bias", Shape{4, 5, 8}, ConvSpec{Filters: 16, KH: 1, KW: 1, Stride: 1}, 0.2, true},
		{"im2col stride 2, first input", Shape{7, 6, 4}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Bias: true}, 1, false},
		{"windowed 5x5, second input", Shape{6, 6, 3}, ConvSpec{Filters: 4, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2}, 1, true},
		{"groups of 4, second input, scaled", Shape{5, 6, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2, Bias: true}, 0.2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			build := func(without ...Rule) (*Graph, *Node, *addOp) {
				g := New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 4})
				x := g.Input("x", c.in)
				fillNormal(x.Value, 1)
				out := Shape{H: (c.in.H+2*c.s.PadH-c.s.KH)/c.s.Stride + 1, W: (c.in.W+2*c.s.PadW-c.s.KW)/c.s.Stride + 1, C: c.s.Filters}
				other := g.Input("other", out) // before the convolution, as fusing needs
				fillNormal(other.Value, 2)
				conv := g.Conv2D(x, c.s)
				var sum *Node
				if c.convIsB {
					sum = g.Add(other, conv, c.scale)
				} else {
					sum = g.Add(conv, other, c.scale)
				}
				y := g.ReLU(sum)
				g.Build(without...)
				return g, y, sum.op.(*addOp)
			}
			fused, fy, fadd := build()
			defer fused.Pool().Close()
			plain, py, padd := build(FuseAdd)
			defer plain.Pool().Close()
			if fadd.kind != addInConv || padd.kind == addInConv {
				t.Fatalf("Add fused by the convolution: %v fused, %v plain", fadd.kind == addInConv, padd.kind == addInConv)
			}
			sameTrainingStep(t, fused, plain, fy, py, 3)
			fused.Forward(false)
			plain.Forward(false)
			sameBits(t, "inference forward", fy.Value, py.Value)
		})
	}
}

// TestDeferredBatchNorm checks a BatchNorm (and its ReLU) whose only reader is a Winograd or a
// direct 1×1 convolution, which applies it to its input rows as it copies them, against the same
// graph built without DeferBatchNorm, where the BatchNorm writes its output: the same bits in training
// (output and gradients) and in inference, folded (the convolution before computes the
// BatchNorm) or not; but the 1×1's weight gradient, which sums tile by tile when deferred and
// over a segment's rows at once otherwise, and is compared with a tolerance.
func TestDeferredBatchNorm(t *testing.T) {
	for _, c := range []struct {
		name       string
		channels   int
		relu, conv bool // a ReLU after the BatchNorm; a convolution before it
		k          int  // the reading convolution's kernel
	}{
		{"conv, BatchNorm, ReLU, 16 channels (Winograd's weight gradient)", 16, true, true, 3},
		{"conv, BatchNorm, ReLU, 8 channels (windowed weight gradient)", 8, true, true, 3},
		{"input, BatchNorm, ReLU: never folded", 8, true, false, 3},
		{"conv, BatchNorm without ReLU", 16, false, true, 3},
		{"conv, BatchNorm, ReLU, 1x1 of 40 channels", 40, true, true, 1},
		{"input, BatchNorm, ReLU, 1x1 of 12 channels", 12, true, false, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			build := func(without ...Rule) (*Graph, *Node, *batchNormOp) {
				g := New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 4})
				x := g.Input("x", Shape{9, 11, c.channels}) // 297 pixel rows: 2 tiles of a 1×1
				fillNormal(x.Value, 1)
				h := x
				if c.conv {
					h = g.Conv2D(x, ConvSpec{Filters: c.channels, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1})
				}
				h = g.BatchNorm(h)
				bn := h.op.(*batchNormOp)
				if c.relu {
					h = g.ReLU(h)
				}
				p := c.k / 2
				y := g.Conv2D(h, ConvSpec{Filters: 12, KH: c.k, KW: c.k, Stride: 1, PadH: p, PadW: p, Bias: true})
				randomizeBatchNorm(g)
				g.Build(without...)
				return g, y, bn
			}
			def, dy, dbn := build()
			defer def.Pool().Close()
			plain, py, pbn := build(DeferBatchNorm)
			defer plain.Pool().Close()
			if !dbn.deferred || pbn.deferred {
				t.Fatalf("deferred: %v, and %v without DeferBatchNorm", dbn.deferred, pbn.deferred)
			}
			var close []int
			if c.k == 1 {
				close = append(close, len(def.Params())-2) // the 1×1's weight
			}
			for step := range 2 {
				sameTrainingStep(t, def, plain, dy, py, uint64(3+step), close...)
				def.Forward(false)
				plain.Forward(false)
				sameBits(t, fmt.Sprintf("inference forward %d", step), dy.Value, py.Value)
			}
		})
	}
}
