package engine

import "testing"

func TestFlatten(t *testing.T) {
	in := Shape{2, 3, 4}
	_, x, y := runForward(t, 2, in, func(g *Graph, x *Node) *Node { return g.Flatten(x) })
	if y.Shape != (Shape{1, 1, 24}) {
		t.Fatalf("shape %v, want 1x1x24", y.Shape)
	}
	want := make([]float64, len(x.Value))
	for i, v := range x.Value {
		want[i] = float64(v)
	}
	assertClose(t, "flatten", y.Value, want)
	checkGradients(t, gradCase{
		name: "flatten", batch: 2, inputs: []Shape{in},
		build: func(g *Graph, xs []*Node) *Node { return g.Flatten(xs[0]) },
	})
}

var zeroPadCases = []struct {
	name         string
	in           Shape
	outC, stride int
}{
	{"stride 2 doubling channels", Shape{5, 4, 3}, 6, 2},
	{"stride 1 adding one channel", Shape{3, 3, 2}, 3, 1},
	{"stride 2 keeping channels", Shape{4, 4, 2}, 2, 2},
}

func TestZeroPadShortcut(t *testing.T) {
	for _, c := range zeroPadCases {
		const batch = 2
		_, x, y := runForward(t, batch, c.in, func(g *Graph, x *Node) *Node {
			y := g.ZeroPadShortcut(x, c.outC, c.stride)
			for i := range y.Value {
				y.Value[i] = 7 // so that channels left unwritten show
			}
			return y
		})
		out := Shape{(c.in.H + c.stride - 1) / c.stride, (c.in.W + c.stride - 1) / c.stride, c.outC}
		if y.Shape != out {
			t.Fatalf("%s: shape %v, want %v", c.name, y.Shape, out)
		}
		want := make([]float64, batch*out.Size())
		off := (c.outC - c.in.C) / 2
		for n := range batch {
			for i := range out.H {
				for j := range out.W {
					for ch := range c.in.C {
						want[((n*out.H+i)*out.W+j)*out.C+off+ch] = float64(x.Value[((n*c.in.H+i*c.stride)*c.in.W+j*c.stride)*c.in.C+ch])
					}
				}
			}
		}
		assertClose(t, c.name, y.Value, want)
		checkGradients(t, gradCase{
			name: c.name, batch: batch, inputs: []Shape{c.in},
			build: func(g *Graph, xs []*Node) *Node { return g.ZeroPadShortcut(xs[0], c.outC, c.stride) },
		})
	}
}
