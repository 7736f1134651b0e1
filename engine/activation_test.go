package engine

import (
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

func TestGradSigmoid(t *testing.T) {
	checkGradients(t, gradCase{
		name: "sigmoid", batch: 2, inputs: []Shape{{3, 4, 5}},
		build: func(g *Graph, xs []*Node) *Node { return g.Sigmoid(xs[0]) },
	})
}

func TestSigmoidForward(t *testing.T) {
	g := New(Config{Batch: 3, Pool: parallel.NewPool(2)})
	defer g.Pool().Close()
	x := g.Input("x", Shape{1, 1, 200})
	y := g.Sigmoid(x)
	fillGaussian(x.Value, newNormalRand(1, 1), 8, 0)
	x.Value[0], x.Value[1] = -200, 200 // saturation, where a naive formula would overflow
	g.Forward(false)
	for i, v := range x.Value {
		want := 1 / (1 + math.Exp(-float64(v)))
		if !closeTo(float64(y.Value[i]), want, 1e-6) {
			t.Fatalf("sigmoid(%v) = %v, want %v", v, y.Value[i], want)
		}
	}
}
