package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// fillGaussian fills v with scale·N(0, 1) + shift draws from rng.
func fillGaussian(v []float32, rng *normalRand, scale, shift float64) {
	for i := range v {
		v[i] = float32(scale*rng.Normal() + shift)
	}
}

// randomizeBatchNorm gives the BatchNorm layers of g random scales, shifts and running statistics,
// so that tests do not pass by the accident of γ = 1, β = 0, μ = 0 and σ² = 1.
func randomizeBatchNorm(g *Graph) {
	rng := newNormalRand(5, 5)
	for _, p := range g.Params() {
		fillGaussian(p.Value, rng, 0.5, 1)
	}
	for _, b := range g.State() {
		fillGaussian(b.Value, rng, 0.3, 1)
	}
}

func TestGradBatchNormTrain(t *testing.T) {
	checkGradients(t, gradCase{
		name: "batchnorm train", batch: 3, inputs: []Shape{{2, 2, 6}}, train: true,
		build: func(g *Graph, xs []*Node) *Node {
			y := g.BatchNorm(xs[0])
			randomizeBatchNorm(g)
			return y
		},
	})
}

func TestGradBatchNormEval(t *testing.T) {
	checkGradients(t, gradCase{
		name: "batchnorm eval", batch: 2, inputs: []Shape{{3, 2, 5}},
		build: func(g *Graph, xs []*Node) *Node {
			y := g.BatchNorm(xs[0])
			randomizeBatchNorm(g)
			return y
		},
	})
}

// TestGradBatchNormReLU checks a BatchNorm followed only by a ReLU, which Build fuses, and one
// whose output also feeds another op, which it must not fuse.
func TestGradBatchNormReLU(t *testing.T) {
	for _, train := range []bool{true, false} {
		checkGradients(t, gradCase{
			name: fmt.Sprintf("fused batchnorm relu, train %v", train), batch: 3, inputs: []Shape{{2, 3, 5}}, train: train,
			build: func(g *Graph, xs []*Node) *Node {
				y := g.ReLU(g.BatchNorm(xs[0]))
				randomizeBatchNorm(g)
				return y
			},
		})
		checkGradients(t, gradCase{
			name: fmt.Sprintf("shared batchnorm relu, train %v", train), batch: 3, inputs: []Shape{{2, 3, 5}}, train: train,
			build: func(g *Graph, xs []*Node) *Node {
				bn := g.BatchNorm(xs[0])
				randomizeBatchNorm(g)
				return g.Add(g.ReLU(bn), bn, 0.5)
			},
		})
	}
}

func TestBuildFusesBatchNormReLU(t *testing.T) {
	g := New(Config{Batch: 2, Pool: parallel.NewPool(1), Seed: 1})
	x := g.Input("x", Shape{3, 3, 4})
	fillNormal(x.Value, 1)
	bn := g.BatchNorm(x)
	y := g.ReLU(bn)
	g.Build()
	if &bn.Value[0] != &y.Value[0] || &bn.Grad[0] != &y.Grad[0] {
		t.Fatal("a BatchNorm whose only consumer is a ReLU keeps buffers of its own")
	}
	g.Forward(true)
	_, _, want := bnReference(x.Value, 2, x.Shape, g.Params()[0].Value, g.Params()[1].Value)
	for i := range want {
		want[i] = max(want[i], 0)
	}
	assertClose(t, "fused output", y.Value, want)
}

// bnReference computes, in float64, the per-channel mean and biased variance of the first n
// samples of x and the normalised output γ·(x − μ)/√(σ² + ε) + β.
func bnReference(x []float32, n int, s Shape, gamma, beta []float32) (mean, variance, y []float64) {
	c, m := s.C, n*s.H*s.W
	mean, variance = make([]float64, c), make([]float64, c)
	for r := 0; r < m; r++ {
		for j := 0; j < c; j++ {
			mean[j] += float64(x[r*c+j]) / float64(m)
		}
	}
	for r := 0; r < m; r++ {
		for j := 0; j < c; j++ {
			d := float64(x[r*c+j]) - mean[j]
			variance[j] += d * d / float64(m)
		}
	}
	y = make([]float64, m*c)
	for r := 0; r < m; r++ {
		for j := 0; j < c; j++ {
			y[r*c+j] = float64(gamma[j])*(float64(x[r*c+j])-mean[j])/math.Sqrt(variance[j]+1e-5) + float64(beta[j])
		}
	}
	return mean, variance, y
}

func closeTo(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

// TestBatchNormForward checks outputs and running averages over two training steps (the second
// on a partial batch) with PyTorch's update rule, then the eval output from the running averages.
func TestBatchNormForward(t *testing.T) {
	s := Shape{3, 5, 6}
	g := New(Config{Batch: 4, Pool: parallel.NewPool(2), Seed: 1})
	defer g.Pool().Close()
	x := g.Input("x", s)
	y := g.BatchNorm(x)
	g.Build()
	gamma, beta := g.Params()[0], g.Params()[1]
	if gamma.Name != "x.bn.weight" || beta.Name != "x.bn.bias" || !gamma.NoDecay || !beta.NoDecay {
		t.Fatalf("params %q (NoDecay %v), %q (NoDecay %v)", gamma.Name, gamma.NoDecay, beta.Name, beta.NoDecay)
	}
	state := g.State()
	if len(state) != 2 || state[0].Name != "x.bn.running_mean" || state[1].Name != "x.bn.running_var" {
		t.Fatalf("state %v", state)
	}
	rng := newNormalRand(3, 3)
	fillGaussian(gamma.Value, rng, 0.5, 1)
	fillGaussian(beta.Value, rng, 0.5, 0)
	runMean, runVar := make([]float64, s.C), make([]float64, s.C)
	for j := range runVar {
		runVar[j] = 1
	}
	check := func(what string, got []float32, want []float64) {
		t.Helper()
		for i := range want {
			if !closeTo(float64(got[i]), want[i], 1e-5) {
				t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	for step, n := range []int{4, 3} {
		// Large offsets and scales per channel test the variance for cancellation.
		for i := range x.Value {
			j := i % s.C
			x.Value[i] = float32(rng.Normal()*float64(j+1) + 100*float64(j))
		}
		g.SetActiveBatch(n)
		g.Forward(true)
		mean, variance, want := bnReference(x.Value, n, s, gamma.Value, beta.Value)
		check("train y", y.Value, want)
		m := float64(n * s.H * s.W)
		for j := range mean {
			runMean[j] = 0.9*runMean[j] + 0.1*mean[j]
			runVar[j] = 0.9*runVar[j] + 0.1*variance[j]*m/(m-1)
		}
		check(fmt.Sprintf("running_mean after step %d", step+1), state[0].Value, runMean)
		check(fmt.Sprintf("running_var after step %d", step+1), state[1].Value, runVar)
	}
	g.Forward(false)
	want := make([]float64, 3*s.Size())
	for i := range want {
		j := i % s.C
		want[i] = float64(gamma.Value[j])*(float64(x.Value[i])-runMean[j])/math.Sqrt(runVar[j]+1e-5) + float64(beta.Value[j])
	}
	check("eval y", y.Value, want)
}

// TestBatchNormThreads checks that forward and backward give bitwise the same results on 1, 2 and
// 7 threads, with enough pixels for several chunks.
func TestBatchNormThreads(t *testing.T) {
	s := Shape{16, 16, 24}
	run := func(threads int) [][]float32 {
		g := New(Config{Batch: 12, Pool: parallel.NewPool(threads), Seed: 1})
		defer g.Pool().Close()
		x := g.Input("x", s)
		x.Grad = make([]float32, len(x.Value))
		y := g.BatchNorm(x)
		g.Build()
		randomizeBatchNorm(g)
		rng := newNormalRand(9, 9)
		fillGaussian(x.Value, rng, 2, 1)
		dy := make([]float32, len(y.Value))
		fillGaussian(dy, rng, 1, 0)
		g.Forward(true)
		g.BackwardFrom(y, dy)
		out := [][]float32{y.Value, x.Grad}
		for _, p := range g.Params() {
			out = append(out, p.Grad)
		}
		for _, b := range g.State() {
			out = append(out, b.Value)
		}
		return out
	}
	if c := parallel.Chunks(12*16*16, bnChunk/24); c < 4 {
		t.Fatalf("only %d chunks", c)
	}
	checkSameOnThreads(t, run)
}

// BenchmarkBatchNormTrain measures one training forward and backward at batch 128 on activations
// of ResNet-20's first stage (16 channels) and of wider layers, where a kernel walking down the
// channels of many rows at a stride would fall out of the L1 cache.
func BenchmarkBatchNormTrain(b *testing.B) {
	for _, s := range []Shape{{28, 28, 16}, {28, 28, 64}, {14, 14, 256}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C), func(b *testing.B) { benchBatchNorm(b, s, false) })
		b.Run(fmt.Sprintf("%dx%dx%d+ReLU", s.H, s.W, s.C), func(b *testing.B) { benchBatchNorm(b, s, true) })
	}
}

// benchBatchNorm times a training forward and backward of a BatchNorm, or of a BatchNorm and the
// ReLU fused into it, at batch 128 on the default pool.
func benchBatchNorm(b *testing.B, s Shape, relu bool) {
	g := New(Config{Batch: 128, Seed: 1})
	defer g.Pool().Close()
	x := g.Input("x", s)
	x.Grad = make([]float32, len(x.Value))
	y := g.BatchNorm(x)
	if relu {
		y = g.ReLU(y)
	}
	g.Build()
	rng := newNormalRand(1, 1)
	fillGaussian(x.Value, rng, 1, 0)
	dy := make([]float32, len(y.Value))
	fillGaussian(dy, rng, 1, 0)
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(x.Value)))
	for b.Loop() {
		g.Forward(true)
		g.BackwardFrom(y, dy)
	}
}

// TestInferenceFoldsBatchNormIntoConv checks the folded inference forward of conv → BatchNorm →
// ReLU against the same graph built without FoldBatchNorm, and that a Backward after a folded Forward sees the convolution's output, for a
// windowed convolution and grouped ones with groups of 4 and 8.
func TestInferenceFoldsBatchNormIntoConv(t *testing.T) {
	for _, c := range []struct {
		in     Shape
		groups int
	}{{Shape{6, 5, 4}, 1}, {Shape{6, 5, 8}, 2}, {Shape{5, 5, 16}, 2}} {
		t.Run(fmt.Sprintf("%d groups of %d", c.groups, c.in.C/c.groups), func(t *testing.T) {
			checkFoldsBatchNormIntoConv(t, c.in, c.groups)
		})
	}
}

func checkFoldsBatchNormIntoConv(t *testing.T, in Shape, groups int) {
	filters := 8
	if groups > 1 {
		filters = in.C
	}
	build := func(without ...Rule) (g *Graph, x, conv, y *Node) {
		g = New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 2})
		x = g.Input("x", in)
		fillNormal(x.Value, 1)
		conv = g.Conv2D(x, ConvSpec{Filters: filters, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: groups, Bias: true})
		y = g.ReLU(g.BatchNorm(conv))
		randomizeBatchNorm(g)
		g.Build(without...)
		return g, x, conv, y
	}
	folded, fx, fconv, fy := build()
	defer folded.Pool().Close()
	plain, px, pconv, py := build(FoldBatchNorm)
	defer plain.Pool().Close()
	if !folded.foldable || plain.foldable {
		t.Fatalf("Build folded %v and %v, want only the first", folded.foldable, plain.foldable)
	}
	folded.Forward(false)
	plain.Forward(false)
	widen := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	assertClose(t, "folded inference", fy.Value, widen(py.Value))

	// A folded Forward leaves the convolution's output as it was; a Backward after it must not
	// see that stale output.
	folded.Forward(true)
	fillNormal(fx.Value, 7)
	copy(px.Value, fx.Value)
	folded.Forward(false)
	plain.Forward(false)
	dy := make([]float32, len(fy.Value))
	fillNormal(dy, 3)
	folded.BackwardFrom(fy, dy)
	assertClose(t, "convolution output seen by backward", fconv.Value, widen(pconv.Value))
}

// TestResidualAddFusion checks residual blocks whose Add (and its ReLU) is computed by the
// BatchNorm before it in training, and by that BatchNorm's convolution in a folded inference
// forward, against the same graphs built without FuseAdd and FoldBatchNorm, for each position of the branch in the Add: the training
// step bitwise, the folded inference up to the rounding of folding.
func TestResidualAddFusion(t *testing.T) {
	cases := []struct {
		name      string
		scale     float32
		branchIsB bool // the branch is the Add's second input
		project   bool // the shortcut is a convolution and BatchNorm too, made after the branch
		excite    bool // the branch ends in Squeeze-and-Excitation, whose Scale computes the Add
		wantFused bool
		groups    int // of the branch's convolution
	}{
		{"branch first, scaled", 0.5, false, false, false, true, 1},
		{"branch second", 1, true, false, false, true, 1},
		{"branch second, scaled: not fused", 0.5, true, false, false, false, 1},
		{"projection shortcut made after the branch", 1, false, true, false, true, 1},
		{"grouped branch, groups of 4", 0.5, false, false, false, true, 2},
		{"excited branch first, scaled", 0.5, false, false, true, true, 1},
		{"excited branch second", 1, true, false, true, true, 1},
		{"excited branch second, scaled: not fused", 0.5, true, false, true, false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			build := func(without ...Rule) (*Graph, *Node, *addOp) {
				g := New(Config{Batch: 3, Pool: parallel.NewPool(2), Seed: 4})
				x := g.Input("x", Shape{6, 5, 8})
				fillNormal(x.Value, 1)
				conv := g.Conv2D(x, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: tc.groups})
				branch := g.BatchNorm(conv)
				shortcut := x
				if tc.excite {
					branch = g.Scale(branch, g.Sigmoid(g.GlobalAvgPool(branch)))
				}
				if tc.project {
					shortcut = g.BatchNorm(g.Conv2D(x, ConvSpec{Filters: 8, KH: 1, KW: 1, Stride: 1}))
				}
				var sum *Node
				if tc.branchIsB {
					sum = g.Add(shortcut, branch, tc.scale)
				} else {
					sum = g.Add(branch, shortcut, tc.scale)
				}
				y := g.ReLU(sum)
				randomizeBatchNorm(g)
				g.Build(without...)
				return g, y, sum.op.(*addOp)
			}
			fused, fy, fadd := build()
			defer fused.Pool().Close()
			plain, py, padd := build(FuseAdd, FoldBatchNorm)
			defer plain.Pool().Close()
			wantKind := addOwn
			switch {
			case tc.wantFused && tc.excite:
				wantKind = addInScale
			case tc.wantFused:
				wantKind = addInBatchNormOrConv // by the BatchNorm, and folded by its convolution
			}
			if fadd.kind != wantKind || padd.kind != addOwn {
				t.Fatalf("Add computed by kind %d fused and %d plain, want %d and %d", fadd.kind, padd.kind, wantKind, addOwn)
			}

			sameTrainingStep(t, fused, plain, fy, py, 3)
			fused.Forward(false)
			plain.Forward(false)
			want := make([]float64, len(py.Value))
			for i, v := range py.Value {
				want[i] = float64(v)
			}
			assertClose(t, "folded inference", fy.Value, want)
		})
	}
}
