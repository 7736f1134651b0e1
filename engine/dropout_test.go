package engine

import (
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

func TestGradDropout(t *testing.T) {
	checkGradients(t, gradCase{
		name: "dropout", batch: 2, inputs: []Shape{{3, 4, 5}}, train: true,
		build: func(g *Graph, xs []*Node) *Node {
			g.SetStep(3)
			return g.Dropout(xs[0], 0.4)
		},
	})
}

func TestGradDropPath(t *testing.T) {
	checkGradients(t, gradCase{
		name: "droppath", batch: 6, inputs: []Shape{{2, 3, 4}}, train: true,
		build: func(g *Graph, xs []*Node) *Node {
			g.SetStep(3)
			return g.DropPath(xs[0], 0.5)
		},
	})
}

// dropGraph returns a graph on 2 threads with an input of shape s filled with random values
// and the output of drop applied to it.
func dropGraph(batch int, s Shape, drop func(g *Graph, x *Node) *Node) (g *Graph, x, y *Node) {
	g = New(Config{Batch: batch, Pool: parallel.NewPool(2), Seed: 11})
	x = g.Input("x", s)
	fillGaussian(x.Value, newNormalRand(4, 4), 1, 3) // no zeros, so a zero output means dropped
	y = drop(g, x)
	return g, x, y
}

// within reports whether a fraction observed over n Bernoulli trials is within five standard
// deviations of p.
func within(frac, p float64, n int) bool {
	return math.Abs(frac-p) <= 5*math.Sqrt(p*(1-p)/float64(n))
}

func TestDropoutStatistics(t *testing.T) {
	const p = 0.3
	g, x, y := dropGraph(8, Shape{16, 16, 32}, func(g *Graph, x *Node) *Node { return g.Dropout(x, p) })
	defer g.Pool().Close()
	masks := map[uint64][]bool{}
	for _, step := range []uint64{1, 2, 1} {
		g.SetStep(step)
		g.Forward(true)
		dropped := 0
		mask := make([]bool, len(y.Value))
		for i, v := range y.Value {
			switch {
			case v == 0:
				dropped++
				mask[i] = true
			case closeTo(float64(v), float64(x.Value[i])/(1-p), 1e-6):
			default:
				t.Fatalf("step %d: y[%d] = %v from x = %v: neither dropped nor scaled", step, i, v, x.Value[i])
			}
		}
		if frac := float64(dropped) / float64(len(y.Value)); !within(frac, p, len(y.Value)) {
			t.Errorf("step %d: dropped %.4f of the values, want %v", step, frac, p)
		}
		if old, ok := masks[step]; ok {
			for i := range old {
				if old[i] != mask[i] {
					t.Fatalf("step %d drew a different mask the second time", step)
				}
			}
		}
		masks[step] = mask
	}
	same := 0
	for i := range masks[1] {
		if masks[1][i] == masks[2][i] {
			same++
		}
	}
	// Independent masks agree on p² + (1−p)² of the values.
	if frac := float64(same) / float64(len(masks[1])); !within(frac, p*p+(1-p)*(1-p), len(masks[1])) {
		t.Errorf("steps 1 and 2 agree on %.4f of the mask", frac)
	}
}

func TestDropPathStatistics(t *testing.T) {
	const p, batch = 0.25, 256
	g, x, y := dropGraph(batch, Shape{2, 2, 3}, func(g *Graph, x *Node) *Node { return g.DropPath(x, p) })
	defer g.Pool().Close()
	size := y.Shape.Size()
	dropped := 0
	const steps = 20
	for step := uint64(0); step < steps; step++ {
		g.SetStep(step)
		g.Forward(true)
		for n := 0; n < batch; n++ {
			factor := 1 / (1 - p)
			if y.Value[n*size] == 0 {
				factor = 0
				dropped++
			}
			for i := n * size; i < (n+1)*size; i++ {
				if !closeTo(float64(y.Value[i]), float64(x.Value[i])*factor, 1e-6) {
					t.Fatalf("step %d sample %d: y[%d] = %v from x = %v, want ×%v for the whole sample", step, n, i, y.Value[i], x.Value[i], factor)
				}
			}
		}
	}
	if frac := float64(dropped) / (steps * batch); !within(frac, p, steps*batch) {
		t.Errorf("dropped %.4f of the samples, want %v", frac, p)
	}
}

// TestDropIdentity checks that Dropout and DropPath pass values through in eval and at p = 0.
func TestDropIdentity(t *testing.T) {
	cases := []struct {
		name  string
		p     float32
		train bool
		drop  func(g *Graph, x *Node, p float32) *Node
	}{
		{"Dropout in eval", 0.5, false, (*Graph).Dropout},
		{"Dropout with p 0 in training", 0, true, (*Graph).Dropout},
		{"DropPath in eval", 0.5, false, (*Graph).DropPath},
		{"DropPath with p 0 in training", 0, true, (*Graph).DropPath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, x, y := dropGraph(4, Shape{3, 3, 5}, func(g *Graph, x *Node) *Node { return c.drop(g, x, c.p) })
			defer g.Pool().Close()
			g.Build()
			g.Forward(c.train)
			dy := make([]float32, len(y.Value))
			fillGaussian(dy, newNormalRand(6, 6), 1, 0)
			x.Grad = make([]float32, len(x.Value))
			g.BackwardFrom(y, dy)
			for i := range x.Value {
				if y.Value[i] != x.Value[i] || x.Grad[i] != dy[i] {
					t.Fatalf("at %d: y = %v for x = %v, dx = %v for dy = %v", i, y.Value[i], x.Value[i], x.Grad[i], dy[i])
				}
			}
		})
	}
}

func TestDropProbabilityOutOfRangePanics(t *testing.T) {
	for _, p := range []float32{-0.1, 1, float32(math.NaN())} {
		for name, drop := range map[string]func(g *Graph, x *Node, p float32) *Node{"Dropout": (*Graph).Dropout, "DropPath": (*Graph).DropPath} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s(%v) did not panic", name, p)
					}
				}()
				g := New(Config{Batch: 1, Pool: parallel.NewPool(1)})
				drop(g, g.Input("x", Shape{1, 1, 1}), p)
			}()
		}
	}
}

// BenchmarkDropoutTrain measures one training forward and backward of Dropout on 128×16×16×32.
func BenchmarkDropoutTrain(b *testing.B) {
	g, x, y := dropGraph(128, Shape{16, 16, 32}, func(g *Graph, x *Node) *Node { return g.Dropout(x, 0.3) })
	defer g.Pool().Close()
	g.Build()
	x.Grad = make([]float32, len(x.Value))
	dy := make([]float32, len(y.Value))
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(x.Value)))
	for b.Loop() {
		g.Forward(true)
		g.BackwardFrom(y, dy)
	}
}
