package engine

import (
	"math"
	"testing"
)

func TestPooledSizeFollowsPyTorch(t *testing.T) {
	for _, c := range []struct {
		in, k, stride, pad int
		ceil               bool
		want               int
	}{
		{14, 3, 2, 1, false, 7}, // Inception reduction: MaxPool2d(3, 2, 1)
		{28, 2, 2, 0, false, 14},
		{7, 2, 2, 0, false, 3},
		{7, 2, 2, 0, true, 4},
		{6, 3, 2, 0, true, 3},
		{6, 3, 2, 1, false, 3},
		{6, 3, 2, 1, true, 4},
		{5, 2, 2, 1, true, 3}, // a 4th window would start in the right padding
		{4, 2, 3, 1, true, 2}, // likewise
		{3, 3, 1, 0, true, 1},
	} {
		if got := pooledSize("test", c.in, c.k, c.stride, c.pad, c.ceil); got != c.want {
			t.Errorf("pooledSize(in %d, k %d, stride %d, pad %d, ceil %v) = %d, want %d", c.in, c.k, c.stride, c.pad, c.ceil, got, c.want)
		}
	}
}

// refPool pools x from the definition in float64: the window of output (oh, ow) is every kernel
// offset (kh, kw) at input (oh·stride-pad+kh, ow·stride-pad+kw); offsets in the input are pooled,
// and count_include_pad also counts offsets in the padding (though not beyond it, where ceil mode
// lets a window reach).
func refPool(x []float32, batch int, in Shape, s PoolSpec, ho, wo int, isMax bool) []float64 {
	y := make([]float64, batch*ho*wo*in.C)
	for n := range batch {
		for oh := range ho {
			for ow := range wo {
				for c := range in.C {
					acc, inside, padded := math.Inf(-1), 0, 0
					if !isMax {
						acc = 0
					}
					for kh := range s.KH {
						for kw := range s.KW {
							ih, iw := oh*s.Stride-s.PadH+kh, ow*s.Stride-s.PadW+kw
							if ih < in.H+s.PadH && iw < in.W+s.PadW {
								padded++
							}
							if ih < 0 || ih >= in.H || iw < 0 || iw >= in.W {
								continue
							}
							inside++
							v := float64(x[((n*in.H+ih)*in.W+iw)*in.C+c])
							if isMax {
								acc = math.Max(acc, v)
							} else {
								acc += v
							}
						}
					}
					if !isMax && s.CountIncludePad {
						acc /= float64(padded)
					} else if !isMax {
						acc /= float64(inside)
					}
					y[((n*ho+oh)*wo+ow)*in.C+c] = acc
				}
			}
		}
	}
	return y
}

var poolCases = []struct {
	name string
	in   Shape
	s    PoolSpec
}{
	{"2x2 stride 2", Shape{4, 6, 3}, PoolSpec{KH: 2, KW: 2, Stride: 2}},
	{"3x3 stride 2 pad 1", Shape{5, 5, 3}, PoolSpec{KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1}},
	{"2x2 stride 2 ceil on odd sizes", Shape{5, 7, 2}, PoolSpec{KH: 2, KW: 2, Stride: 2, Ceil: true}},
	{"3x3 stride 2 pad 1 ceil", Shape{6, 5, 2}, PoolSpec{KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Ceil: true}},
	{"2x2 stride 2 pad 1 ceil, last window dropped", Shape{5, 5, 2}, PoolSpec{KH: 2, KW: 2, Stride: 2, PadH: 1, PadW: 1, Ceil: true}},
	{"3x1 stride 1 padded along H only", Shape{4, 3, 3}, PoolSpec{KH: 3, KW: 1, Stride: 1, PadH: 1}},
}

func TestPoolForwardMatchesDefinition(t *testing.T) {
	for _, c := range poolCases {
		for _, include := range []bool{false, true} {
			s := c.s
			s.CountIncludePad = include
			const batch = 3
			_, x, y := runForward(t, batch, c.in, func(g *Graph, x *Node) *Node { return g.AvgPool(x, s) })
			assertClose(t, c.name+" avg", y.Value, refPool(x.Value, batch, c.in, s, y.Shape.H, y.Shape.W, false))
			if include {
				continue
			}
			_, x, y = runForward(t, batch, c.in, func(g *Graph, x *Node) *Node { return g.MaxPool(x, s) })
			assertClose(t, c.name+" max", y.Value, refPool(x.Value, batch, c.in, s, y.Shape.H, y.Shape.W, true))
		}
	}
}

func TestAvgPoolDivisorOnOnes(t *testing.T) {
	ones := func(g *Graph, x *Node, s PoolSpec) *Node {
		for i := range x.Value {
			x.Value[i] = 1
		}
		return g.AvgPool(x, s)
	}
	for _, c := range []struct {
		name string
		s    PoolSpec
		want []float32
	}{
		// Windows of rows (and columns) {-1, 0} and {1, 2}: the padded corner counts when asked.
		{"padding excluded", PoolSpec{KH: 2, KW: 2, Stride: 2, PadH: 1, PadW: 1}, []float32{1, 1, 1, 1}},
		{"padding included", PoolSpec{KH: 2, KW: 2, Stride: 2, PadH: 1, PadW: 1, CountIncludePad: true}, []float32{0.25, 0.5, 0.5, 1}},
		// The ceil-mode window {2, 3} reaches past the (absent) padding, which never counts.
		{"ceil window beyond the padding", PoolSpec{KH: 2, KW: 2, Stride: 2, Ceil: true, CountIncludePad: true}, []float32{1, 1, 1, 1}},
	} {
		_, _, y := runForward(t, 1, Shape{3, 3, 1}, func(g *Graph, x *Node) *Node { return ones(g, x, c.s) })
		for i, w := range c.want {
			if y.Value[i] != w {
				t.Errorf("%s: output %v, want %v", c.name, y.Value, c.want)
				break
			}
		}
	}
}

func TestMaxPoolPropagatesNaN(t *testing.T) {
	_, _, y := runForward(t, 1, Shape{2, 2, 1}, func(g *Graph, x *Node) *Node {
		copy(x.Value, []float32{1, float32(math.NaN()), 5, 2})
		return g.MaxPool(x, PoolSpec{KH: 2, KW: 2, Stride: 2})
	})
	if !math.IsNaN(float64(y.Value[0])) {
		t.Errorf("max of {1, NaN, 5, 2} = %v, want NaN as PyTorch", y.Value[0])
	}
}

func TestGradPooling(t *testing.T) {
	for _, c := range poolCases {
		checkGradients(t, gradCase{
			name: c.name + " max", batch: 2, inputs: []Shape{c.in},
			build: func(g *Graph, xs []*Node) *Node { return g.MaxPool(xs[0], c.s) },
		})
		for _, include := range []bool{false, true} {
			s := c.s
			s.CountIncludePad = include
			checkGradients(t, gradCase{
				name: c.name + " avg", batch: 2, inputs: []Shape{c.in},
				build: func(g *Graph, xs []*Node) *Node { return g.AvgPool(xs[0], s) },
			})
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	in := Shape{3, 4, 5}
	_, x, y := runForward(t, 2, in, func(g *Graph, x *Node) *Node { return g.GlobalAvgPool(x) })
	if y.Shape != (Shape{1, 1, 5}) {
		t.Fatalf("shape %v, want 1x1x5", y.Shape)
	}
	want := make([]float64, 2*in.C)
	for i, v := range x.Value {
		want[i/in.Size()*in.C+i%in.C] += float64(v) / float64(in.H*in.W)
	}
	assertClose(t, "gap", y.Value, want)
	checkGradients(t, gradCase{
		name: "gap", batch: 2, inputs: []Shape{in},
		build: func(g *Graph, xs []*Node) *Node { return g.GlobalAvgPool(xs[0]) },
	})
}

func TestPoolRejectsInvalidSpecs(t *testing.T) {
	for _, c := range []struct {
		name string
		s    PoolSpec
	}{
		{"padding over half the window", PoolSpec{KH: 3, KW: 3, Stride: 1, PadH: 2}},
		{"zero stride", PoolSpec{KH: 2, KW: 2}},
		{"window larger than the input", PoolSpec{KH: 5, KW: 2, Stride: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := New(Config{Batch: 1})
			defer g.Pool().Close()
			x := g.Input("x", Shape{4, 4, 1})
			defer func() {
				if recover() == nil {
					t.Errorf("MaxPool(%+v) did not panic", c.s)
				}
			}()
			g.MaxPool(x, c.s)
		})
	}
}
