package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// gradCase describes one gradient check: a graph over random inputs, and whether to run it in
// training mode.
type gradCase struct {
	name   string
	batch  int
	inputs []Shape
	train  bool
	// eps is the larger of the two steps of the central differences, 4e-3 if 0. A function
	// linear in every input and parameter has exact central differences but for rounding, whose
	// error shrinks as the step grows: such a case may take a larger one.
	eps float32
	// build adds the layers under test to g and returns the output node.
	build func(g *Graph, xs []*Node) *Node
}

// checkGradients compares what Backward computes for every input and parameter of the case with
// float64 central differences of L = Σ out·R for a fixed random R. Points where the function is
// not smooth within the step (a ReLU or max-pool kink) show up as central differences that
// disagree between two step sizes; they are skipped, but at most 5% of them.
func checkGradients(t *testing.T, c gradCase) {
	t.Helper()
	g := New(Config{Batch: c.batch, Pool: parallel.NewPool(2), Seed: 7})
	defer g.Pool().Close()
	rng := newNormalRand(99, 0)
	xs := make([]*Node, len(c.inputs))
	for i, s := range c.inputs {
		xs[i] = g.Input(fmt.Sprintf("x%d", i), s)
		for j := range xs[i].Value {
			xs[i].Value[j] = float32(rng.Normal())
		}
		xs[i].Grad = make([]float32, len(xs[i].Value))
	}
	out := c.build(g, xs)
	g.Build()
	r := make([]float32, len(out.Value))
	for j := range r {
		r[j] = float32(rng.Normal())
	}
	lossAt := func() float64 {
		g.Forward(c.train)
		var l float64
		for j, v := range out.Value {
			l += float64(v) * float64(r[j])
		}
		return l
	}
	lossAt()
	for _, x := range xs {
		clear(x.Grad)
	}
	g.BackwardFrom(out, r)

	type target struct {
		name string
		val  []float32
		grad []float32
	}
	var targets []target
	for _, x := range xs {
		targets = append(targets, target{x.Name, x.Value, append([]float32(nil), x.Grad...)})
	}
	for _, p := range g.Params() {
		targets = append(targets, target{p.Name, p.Value, append([]float32(nil), p.Grad...)})
	}
	central := func(v []float32, j int, eps float32) float64 {
		old := v[j]
		v[j] = old + eps
		lp := lossAt()
		v[j] = old - eps
		lm := lossAt()
		v[j] = old
		return (lp - lm) / (2 * float64(eps))
	}
	eps := c.eps
	if eps == 0 {
		eps = 4e-3
	}
	checked, skipped := 0, 0
	for _, tg := range targets {
		for j := range tg.val {
			n1 := central(tg.val, j, eps)
			n2 := central(tg.val, j, eps/2)
			tol := func(a, b float64) float64 { return 2e-3 + 2e-2*math.Max(math.Abs(a), math.Abs(b)) }
			if math.Abs(n1-n2) > tol(n1, n2) {
				skipped++
				continue
			}
			checked++
			a := float64(tg.grad[j])
			if math.Abs(a-n2) > tol(a, n2) {
				t.Errorf("%s: d/d %s[%d] = %.6g, central difference %.6g", c.name, tg.name, j, a, n2)
				if checked > 20 {
					t.FailNow()
				}
			}
		}
	}
	if skipped*20 > checked+skipped {
		t.Errorf("%s: %d of %d points not smooth enough to check", c.name, skipped, checked+skipped)
	}
	if checked == 0 {
		t.Fatalf("%s: nothing checked", c.name)
	}
}

func TestGradReLU(t *testing.T) {
	checkGradients(t, gradCase{
		name: "relu", batch: 2, inputs: []Shape{{3, 4, 5}},
		build: func(g *Graph, xs []*Node) *Node { return g.ReLU(xs[0]) },
	})
}

// checkSameOnThreads runs run on pools of 1, 2 and 7 threads and fails unless the buffers it
// returns are bitwise identical: the engine's results must not depend on the thread count.
func checkSameOnThreads(t *testing.T, run func(threads int) [][]float32) {
	t.Helper()
	want := run(1)
	for _, threads := range []int{2, 7} {
		got := run(threads)
		for i := range want {
			for j := range want[i] {
				if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
					t.Fatalf("%d threads: buffer %d element %d = %v, on 1 thread %v", threads, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}
