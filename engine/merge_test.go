package engine

import (
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

func TestGradAdd(t *testing.T) {
	checkGradients(t, gradCase{
		name: "add 0.2", batch: 2, inputs: []Shape{{3, 3, 4}, {3, 3, 4}},
		build: func(g *Graph, xs []*Node) *Node { return g.Add(xs[0], xs[1], 0.2) },
	})
}

func TestGradConcat(t *testing.T) {
	checkGradients(t, gradCase{
		name: "concat", batch: 2, inputs: []Shape{{3, 2, 2}, {3, 2, 5}, {3, 2, 1}},
		build: func(g *Graph, xs []*Node) *Node { return g.Concat(xs...) },
	})
}

func TestGradScale(t *testing.T) {
	checkGradients(t, gradCase{
		name: "scale", batch: 3, inputs: []Shape{{3, 2, 4}, {1, 1, 4}},
		build: func(g *Graph, xs []*Node) *Node { return g.Scale(xs[0], xs[1]) },
	})
}

// mergeGraph returns a graph on two threads whose inputs of the given shapes hold random values.
func mergeGraph(batch int, shapes ...Shape) (*Graph, []*Node) {
	g := New(Config{Batch: batch, Pool: parallel.NewPool(2)})
	rng := newNormalRand(2, 2)
	var xs []*Node
	for _, s := range shapes {
		x := g.Input("x", s)
		fillGaussian(x.Value, rng, 1, 0)
		xs = append(xs, x)
	}
	return g, xs
}

func TestAddForward(t *testing.T) {
	s := Shape{5, 5, 3}
	g, xs := mergeGraph(2, s, s)
	defer g.Pool().Close()
	y := g.Add(xs[0], xs[1], 0.2)
	g.Forward(true)
	for i := range y.Value {
		want := float64(xs[0].Value[i]) + 0.2*float64(xs[1].Value[i])
		if !closeTo(float64(y.Value[i]), want, 1e-6) {
			t.Fatalf("y[%d] = %v, want %v", i, y.Value[i], want)
		}
	}
}

func TestConcatForward(t *testing.T) {
	g, xs := mergeGraph(3, Shape{4, 3, 2}, Shape{4, 3, 7}, Shape{4, 3, 1})
	defer g.Pool().Close()
	y := g.Concat(xs...)
	if y.Shape != (Shape{4, 3, 10}) {
		t.Fatalf("shape %v", y.Shape)
	}
	g.SetActiveBatch(2)
	g.Forward(true)
	for n := 0; n < 2; n++ {
		for h := 0; h < 4; h++ {
			for w := 0; w < 3; w++ {
				pix := (n*4+h)*3 + w
				c := 0
				for _, x := range xs {
					for k := 0; k < x.Shape.C; k++ {
						if got, want := y.Value[pix*10+c], x.Value[pix*x.Shape.C+k]; got != want {
							t.Fatalf("y[%d,%d,%d,%d] = %v, want %v", n, h, w, c, got, want)
						}
						c++
					}
				}
			}
		}
	}
	// The inactive third sample is left alone.
	for i, v := range y.Value[2*y.Shape.Size():] {
		if v != 0 {
			t.Fatalf("inactive sample written at %d: %v", i, v)
		}
	}
}

func TestScaleForward(t *testing.T) {
	g, xs := mergeGraph(3, Shape{2, 3, 4}, Shape{1, 1, 4})
	defer g.Pool().Close()
	x, s := xs[0], xs[1]
	y := g.Scale(x, s)
	g.Forward(true)
	for n := 0; n < 3; n++ {
		for p := 0; p < 6; p++ {
			for c := 0; c < 4; c++ {
				i := (n*6+p)*4 + c
				want := float64(x.Value[i]) * float64(s.Value[n*4+c])
				if !closeTo(float64(y.Value[i]), want, 1e-6) {
					t.Fatalf("y[%d,%d,%d] = %v, want %v", n, p, c, y.Value[i], want)
				}
			}
		}
	}
}

func TestMergeShapeMismatchPanics(t *testing.T) {
	cases := []struct {
		name  string
		build func(g *Graph)
	}{
		{"Add of different shapes", func(g *Graph) {
			g.Add(g.Input("a", Shape{2, 2, 3}), g.Input("b", Shape{2, 2, 4}), 1)
		}},
		{"Concat of different sizes", func(g *Graph) {
			g.Concat(g.Input("a", Shape{2, 2, 3}), g.Input("b", Shape{3, 2, 3}))
		}},
		{"Concat of nothing", func(g *Graph) { g.Concat() }},
		{"Scale by a map", func(g *Graph) {
			g.Scale(g.Input("a", Shape{2, 2, 3}), g.Input("b", Shape{2, 2, 3}))
		}},
		{"Scale by too few channels", func(g *Graph) {
			g.Scale(g.Input("a", Shape{2, 2, 3}), g.Input("b", Shape{1, 1, 2}))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := New(Config{Batch: 1, Pool: parallel.NewPool(1)})
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			c.build(g)
		})
	}
}

// TestGradAddReLU checks an Add followed only by a ReLU, which Build fuses.
func TestGradAddReLU(t *testing.T) {
	checkGradients(t, gradCase{
		name: "fused add relu", batch: 2, inputs: []Shape{{3, 3, 4}, {3, 3, 4}},
		build: func(g *Graph, xs []*Node) *Node { return g.ReLU(g.Add(xs[0], xs[1], 0.5)) },
	})
}
