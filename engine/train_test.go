package engine

import (
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// The stripes data set: an image of class k shows stripes of amplitude 1 at k·45°, with a random
// phase and a slightly random frequency, under Gaussian noise of standard deviation 1, so that
// orientation alone tells the classes apart, though no single pixel does.
const (
	stripesSide    = 8
	stripesClasses = 4
)

// stripes returns n images of stripesSide² pixels and their labels, drawn from seed.
func stripes(n int, seed uint64) ([]float32, []int32) {
	rng := newNormalRand(seed, 1)
	px := stripesSide * stripesSide
	images, labels := make([]float32, n*px), make([]int32, n)
	for i := range labels {
		k := i % stripesClasses
		labels[i] = int32(k)
		theta := float64(k) * math.Pi / stripesClasses
		freq := 2 * math.Pi * (0.22 + 0.06*rng.Uniform())
		phase := 2 * math.Pi * rng.Uniform()
		for y := 0; y < stripesSide; y++ {
			for x := 0; x < stripesSide; x++ {
				u := float64(x)*math.Cos(theta) + float64(y)*math.Sin(theta)
				images[i*px+y*stripesSide+x] = float32(math.Sin(freq*u+phase) + rng.Normal())
			}
		}
	}
	return images, labels
}

// testNet is a small classifier with one block of each kind the engine must train: a residual
// block with Squeeze-and-Excitation and stochastic depth, a dense (concatenating) block, and a
// grouped-convolution block with dropout.
type testNet struct {
	g    *Graph
	in   *Node
	loss *Loss
	opt  Optimizer
}

func newTestNet(batch, threads int, seed uint64, without ...Rule) *testNet {
	g := New(Config{Batch: batch, Pool: parallel.NewPool(threads), Seed: seed})
	in := g.Input("image", Shape{stripesSide, stripesSide, 1})
	cbr := func(x *Node, s ConvSpec) *Node { return g.ReLU(g.BatchNorm(g.Conv2D(x, s))) }
	conv3 := func(filters, groups, stride int) ConvSpec {
		return ConvSpec{Filters: filters, KH: 3, KW: 3, Stride: stride, PadH: 1, PadW: 1, Groups: groups}
	}

	x := cbr(in, conv3(8, 1, 1))

	// Residual block with SE and DropPath on the branch.
	branch := g.BatchNorm(g.Conv2D(cbr(x, conv3(8, 1, 1)), conv3(8, 1, 1)))
	se := g.Sigmoid(g.Linear(g.ReLU(g.Linear(g.GlobalAvgPool(branch), 4, true)), 8, true))
	branch = g.DropPath(g.Scale(branch, se), 0.1)
	x = g.ReLU(g.Add(x, branch, 1))

	// Dense block: each layer sees the concatenation of all earlier ones.
	x = g.Concat(x, cbr(x, conv3(4, 1, 1)))
	x = g.Concat(x, cbr(x, conv3(4, 1, 1)))

	// Grouped-convolution block, downsampling, with dropout between the convs.
	x = cbr(x, ConvSpec{Filters: 8, KH: 1, KW: 1, Stride: 1})
	x = g.Dropout(cbr(x, conv3(8, 4, 2)), 0.1)
	x = cbr(x, ConvSpec{Filters: 16, KH: 1, KW: 1, Stride: 1})

	logits := g.Linear(g.GlobalAvgPool(x), stripesClasses, true)
	loss := g.SoftmaxCrossEntropy(logits, 0)
	g.Build(without...)
	opt := NewSGD(g, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, ExemptNoDecay: true})
	return &testNet{g: g, in: in, loss: loss, opt: opt}
}

// load copies the batch starting at sample first into the net's input and labels.
func (n *testNet) load(images []float32, labels []int32, first int) {
	px := n.in.Shape.Size()
	b := n.g.Batch()
	copy(n.in.Value, images[first*px:(first+b)*px])
	copy(n.loss.Labels, labels[first:first+b])
}

// step trains on the loaded batch: forward, backward and an SGD update with learning rate lr.
func (n *testNet) step(i int, lr float64) {
	n.g.SetStep(uint64(i))
	n.g.Forward(true)
	n.g.Backward()
	n.opt.Step(lr)
}

// train runs steps SGD steps over the data set in order, batch after batch, on a cosine schedule.
func (n *testNet) train(images []float32, labels []int32, steps int) {
	b := n.g.Batch()
	lrs := CosineLR{Base: 0.1, Total: steps}
	for i := 0; i < steps; i++ {
		n.load(images, labels, i*b%len(labels))
		n.step(i, lrs.LR(i))
	}
}

func TestTrainReachesHighAccuracy(t *testing.T) {
	const batch, samples, steps = 32, 256, 120
	images, labels := stripes(samples, 1)
	net := newTestNet(batch, 2, 1)
	defer net.g.Pool().Close()
	net.train(images, labels, steps)
	correct := 0
	for first := 0; first < samples; first += batch {
		net.load(images, labels, first)
		net.g.Forward(false)
		correct += net.loss.Correct()
	}
	if acc := float64(correct) / samples; acc < 0.95 {
		t.Errorf("training accuracy %.3f after %d steps, want at least 0.95", acc, steps)
	}
}

// TestTrainDeterministic checks that the trained weights and BatchNorm statistics depend on the
// seed alone: not on the run, nor on the number of threads.
func TestTrainDeterministic(t *testing.T) {
	const batch, steps = 16, 6
	images, labels := stripes(batch*steps, 2)
	run := func(threads int, seed uint64) [][]float32 {
		net := newTestNet(batch, threads, seed)
		defer net.g.Pool().Close()
		net.train(images, labels, steps)
		var out [][]float32
		for _, p := range net.g.Params() {
			out = append(out, p.Value)
		}
		for _, b := range net.g.State() {
			out = append(out, b.Value)
		}
		return out
	}
	equal := func(a, b [][]float32) bool {
		for i := range a {
			for j := range a[i] {
				if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
					return false
				}
			}
		}
		return true
	}
	want := run(2, 3)
	if !equal(run(2, 3), want) {
		t.Error("two runs with the same seed differ")
	}
	for _, threads := range []int{1, 7} {
		if !equal(run(threads, 3), want) {
			t.Errorf("%d threads give different weights from 2", threads)
		}
	}
	if equal(run(2, 4), want) {
		t.Error("another seed gives the same weights")
	}
}

func TestTrainStepAllocatesNothing(t *testing.T) {
	images, labels := stripes(16, 3)
	net := newTestNet(16, 2, 1)
	defer net.g.Pool().Close()
	net.load(images, labels, 0)
	for i := range 3 {
		net.step(i, 0.1) // the first steps size the per-thread GEMM buffers
	}
	// AllocsPerRun reports the average, rounded down: the runtime may allocate rarely on its
	// own (a waiting goroutine's record), which says nothing about the engine.
	if a := testing.AllocsPerRun(20, func() { net.step(1, 0.1) }); a != 0 {
		t.Errorf("a training step allocates %v times", a)
	}
}

func BenchmarkTrainStep(b *testing.B) {
	const batch = 64
	images, labels := stripes(batch, 3)
	net := newTestNet(batch, 0, 1)
	defer net.g.Pool().Close()
	net.load(images, labels, 0)
	for i := range 3 {
		net.step(i, 0.01) // the first steps size the per-thread GEMM buffers
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		net.step(i, 0.01)
		i++
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}

// TestBackwardLeavesNoStaleGradient runs Backward twice after one Forward: since Backward clears
// only the gradients whose first writer does not set them, and gradients share buffers, any op
// that added to a stale buffer would make the second pass differ from the first. Both must also
// match BackwardFrom, which clears every gradient, seeded with the loss's gradient.
func TestBackwardLeavesNoStaleGradient(t *testing.T) {
	images, labels := stripes(8, 3)
	net := newTestNet(8, 2, 1)
	defer net.g.Pool().Close()
	net.load(images, labels, 0)
	net.g.SetStep(1)
	net.g.Forward(true)
	grads := func(backward func()) [][]float32 {
		backward()
		var out [][]float32
		for _, p := range net.g.Params() {
			out = append(out, append([]float32(nil), p.Grad...))
		}
		for _, n := range net.g.Nodes() {
			out = append(out, append([]float32(nil), n.Grad...))
		}
		return out
	}
	first := grads(net.g.Backward)
	second := grads(net.g.Backward)
	// The loss's gradient, (softmax − one-hot)/n, as the loss computes it: Backward may have reused
	// the logits' gradient buffer since.
	logits, n, k := net.loss.logits, net.g.ActiveBatch(), net.loss.classes
	seed := make([]float32, len(logits.Value))
	for i := range n {
		for j, p := range net.loss.Probs(i) {
			var target float32
			if j == int(net.loss.Labels[i]) {
				target = 1
			}
			seed[i*k+j] = (p - target) * (1 / float32(n))
		}
	}
	from := grads(func() { net.g.BackwardFrom(logits, seed) })
	for i := range first {
		for j := range first[i] {
			if math.Float32bits(second[i][j]) != math.Float32bits(first[i][j]) || math.Float32bits(from[i][j]) != math.Float32bits(first[i][j]) {
				t.Fatalf("buffer %d element %d: %v on the first Backward, %v on the second, %v from BackwardFrom",
					i, j, first[i][j], second[i][j], from[i][j])
			}
		}
	}
}

// TestSharedGradientBuffersChangeNothing trains the test net with gradient buffers shared between
// nodes, as Build plans them, and with a buffer for every node: the weights must come out the same.
func TestSharedGradientBuffersChangeNothing(t *testing.T) {
	images, labels := stripes(32, 3)
	weights := func(without ...Rule) [][]float32 {
		net := newTestNet(8, 2, 1, without...)
		defer net.g.Pool().Close()
		net.train(images, labels, 6)
		var out [][]float32
		for _, p := range net.g.Params() {
			out = append(out, p.Value)
		}
		return out
	}
	shared := weights()
	separate := weights(ShareGradients)
	for i := range shared {
		for j := range shared[i] {
			if math.Float32bits(shared[i][j]) != math.Float32bits(separate[i][j]) {
				t.Fatalf("param %d element %d: %v with shared gradient buffers, %v without", i, j, shared[i][j], separate[i][j])
			}
		}
	}
}

func TestBytesCountsSharedBuffersOnce(t *testing.T) {
	net := newTestNet(8, 1, 1)
	var sum int64
	for _, n := range net.g.Nodes() {
		sum += int64(4 * (len(n.Value) + len(n.Grad)))
	}
	for _, p := range net.g.Params() {
		sum += int64(4 * (len(p.Value) + len(p.Grad)))
	}
	if got := net.g.Bytes(); got >= sum || got < sum/4 {
		t.Errorf("Bytes() = %d, want below the %d of counting every node's buffers, which share", got, sum)
	}
}
