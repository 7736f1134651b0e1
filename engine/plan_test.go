package engine

import (
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// TestResidualOfUnfoldedBatchNormInFoldedForward checks an Add that alone reads the output of a
// BatchNorm that is not folded (its input is the graph's input), in a graph where another
// BatchNorm is folded, so that its inference forwards are folded: the unfolded BatchNorm computes
// the Add in every forward, and the Add must not recompute it from the BatchNorm's output, which
// is never written. The inference output must equal that of the graph built without
// FoldBatchNorm, up to the rounding of folding.
func TestResidualOfUnfoldedBatchNormInFoldedForward(t *testing.T) {
	build := func(without ...Rule) (*Graph, *Node) {
		g := New(Config{Batch: 2, Pool: parallel.NewPool(2), Seed: 5})
		x := g.Input("x", Shape{5, 4, 8})
		fillNormal(x.Value, 1)
		folded := g.BatchNorm(g.Conv2D(x, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}))
		y := g.ReLU(g.Add(g.BatchNorm(x), folded, 1))
		randomizeBatchNorm(g)
		g.Build(without...)
		return g, y
	}
	g, y := build()
	defer g.Pool().Close()
	plain, py := build(FoldBatchNorm)
	defer plain.Pool().Close()
	if !g.foldable {
		t.Fatal("no BatchNorm folded")
	}
	g.Forward(false)
	plain.Forward(false)
	assertClose(t, "folded inference", y.Value, widened(py.Value))
}
