package engine

import (
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

func TestLinearForwardMatchesDefinition(t *testing.T) {
	for _, bias := range []bool{false, true} {
		// 300 outputs make three column blocks, the last one partial.
		const batch, out = 3, 300
		in := Shape{2, 3, 5}
		g, x, y := runForward(t, batch, in, func(g *Graph, x *Node) *Node { return g.Linear(x, out, bias) })
		if y.Shape != (Shape{1, 1, out}) {
			t.Fatalf("shape %v, want 1x1x%d", y.Shape, out)
		}
		ps := g.Params()
		w := ps[0].Value
		want := make([]float64, batch*out)
		for n := range batch {
			for j := range out {
				var sum float64
				if bias {
					sum = float64(ps[1].Value[j])
				}
				for i := range in.Size() {
					sum += float64(x.Value[n*in.Size()+i]) * float64(w[i*out+j])
				}
				want[n*out+j] = sum
			}
		}
		assertClose(t, "linear", y.Value, want)
	}
}

func TestGradLinear(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Shape
		out  int
		bias bool
	}{
		{"vector with bias", Shape{1, 1, 7}, 5, true},
		{"flattened map without bias", Shape{2, 3, 2}, 4, false},
		{"two input blocks", Shape{1, 1, 130}, 2, true},
	} {
		checkGradients(t, gradCase{
			name: c.name, batch: 3, inputs: []Shape{c.in},
			build: func(g *Graph, xs []*Node) *Node { return g.Linear(xs[0], c.out, c.bias) },
		})
	}
}

func TestLinearInitialisation(t *testing.T) {
	g := New(Config{Batch: 1, Pool: parallel.NewPool(1), Seed: 4})
	x := g.Input("x", Shape{1, 1, 256})
	y := g.Linear(x, 100, true)
	ps := g.Params()
	if len(ps) != 2 || ps[0].Name != y.Name+".weight" || ps[1].Name != y.Name+".bias" || ps[0].NoDecay || !ps[1].NoDecay {
		t.Fatalf("params %+v, want a decayed weight and a NoDecay bias named after %s", ps, y.Name)
	}
	checkUniform(t, "weight", ps[0].Value, 1/math.Sqrt(256))
	checkUniform(t, "bias", ps[1].Value, 1/math.Sqrt(256))
}
