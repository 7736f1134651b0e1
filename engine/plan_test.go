package engine

import (
	"strings"
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

// TestEachRuleOffComputesTheSame builds a residual block that every rule of the plan applies to,
// and checks, for each rule left out, that the rule's mark leaves the plan and that a training
// step gives the same bits as with every rule; so does inference, but for FoldBatchNorm, whose
// folded weights round differently.
func TestEachRuleOffComputesTheSame(t *testing.T) {
	build := func(without ...Rule) (*Graph, *Node) {
		g := New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 6})
		x := g.Input("x", Shape{7, 6, 8})
		fillNormal(x.Value, 1)
		conv3 := ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}
		h := g.ReLU(g.BatchNorm(g.Conv2D(x, conv3)))
		h = g.BatchNorm(g.Conv2D(h, conv3))
		y := g.ReLU(g.Add(h, x, 1))
		y = g.Conv2D(y, ConvSpec{Filters: 4, KH: 1, KW: 1, Stride: 1, Bias: true})
		randomizeBatchNorm(g)
		g.Build(without...)
		return g, y
	}
	for _, c := range []struct {
		rule Rule
		mark string
	}{
		{FuseReLU, "in place by"},
		{FoldBatchNorm, "inference epilogue fold"},
		{FuseAdd, "epilogue add"},
		{DeferBatchNorm, "prologue"},
		{ShareGradients, "shared"},
	} {
		t.Run(c.rule.String(), func(t *testing.T) {
			all, ya := build()
			defer all.Pool().Close()
			g, y := build(c.rule)
			defer g.Pool().Close()
			if !strings.Contains(all.Plan(), c.mark) || strings.Contains(g.Plan(), c.mark) {
				t.Fatalf("%q in the plan with every rule and not without %v:\n%s\nwithout it:\n%s", c.mark, c.rule, all.Plan(), g.Plan())
			}
			if !strings.Contains(g.Plan(), "rules off: "+c.rule.String()) {
				t.Errorf("the plan does not say %v is off:\n%s", c.rule, g.Plan())
			}
			sameTrainingStep(t, all, g, ya, y, 3)
			all.Forward(false)
			g.Forward(false)
			if c.rule == FoldBatchNorm {
				assertClose(t, "inference", ya.Value, widened(y.Value))
			} else {
				sameBits(t, "inference", ya.Value, y.Value)
			}
		})
	}
}
