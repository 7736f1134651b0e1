package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// Shape is the per-sample shape of a node's value in NHWC layout: a batch of N samples is stored
// as N×H×W×C float32s, row-major. Vectors (the output of GlobalAvgPool, Flatten or Linear) have
// H = W = 1.
type Shape struct{ H, W, C int }

// Size is the number of float32s per sample.
func (s Shape) Size() int { return s.H * s.W * s.C }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C) }

// Node is one value of the graph: an input, a layer's output or the loss. Value and Grad hold
// Batch() samples; only the first ActiveBatch() are meaningful in a step.
type Node struct {
	Name  string
	Shape Shape
	// Value is the forward result, Batch()×Shape.Size() float32s.
	Value []float32
	// Grad is dLoss/dValue, nil when the node needs no gradient (inputs, or graphs built for
	// inference only). Nodes whose gradients are never needed at the same time share buffers
	// (see planGradients), so a node's Grad holds its gradient from when Backward computes it until the
	// node's op has passed it on to its inputs, and may hold another node's afterwards.
	Grad []float32

	id     int
	inputs []*Node
	op     op
}

// Param is a trainable tensor. Grad is filled by Backward; optimizers update Value.
type Param struct {
	Name  string
	Shape []int
	Value []float32
	Grad  []float32
	// NoDecay marks BN scales and shifts and biases, which optimizers may exempt from weight decay.
	NoDecay bool
}

// op is one operation's forward and backward. Ops keep pointers to their nodes. To keep a step
// free of allocations, an op creates the closures it hands to the pool once, when it is built.
type op interface {
	// forward computes the output from the inputs for g.n samples.
	forward(g *Graph)
	// backward adds the gradient of the loss with respect to each input (and parameter) to that
	// input's Grad, given the output's Grad: gradients accumulate, unless overwrite said otherwise.
	backward(g *Graph)
}

// overwriter is an op whose backward can set, instead of add to, the whole gradient of one of its
// inputs. A step's backward runs an input's consumers from the last to the first, so Build asks
// the last one to set the gradient, which then needs no clearing before the step: that saves a
// pass over memory, and the clearing an op does instead happens chunk by chunk in cache.
type overwriter interface {
	// overwrite reports whether backward can set the gradient of input i (numbered as the op's
	// inputs are), and if so makes it do so from then on.
	overwrite(i int) bool
}

// Graph is a static computation graph for one architecture and one batch size. It is built by
// calling the layer methods (Conv2D, BatchNorm, ...) in topological order, then trained with
// Forward and Backward. All buffers are allocated when layers are added and by Build; Forward
// and Backward allocate nothing.
type Graph struct {
	batch  int
	n      int
	nodes  []*Node
	params []*Param
	pool   *parallel.Pool
	seed   uint64
	step   uint64
	train  bool
	built  bool
	loss   *Loss
	// zeroSpans cut the gradient buffers that Backward must clear into fixed spans, cleared in
	// parallel; allSpans cut every gradient buffer, for BackwardFrom.
	zeroSpans, allSpans [][]float32
	zeroFn, allFn       func(w, i int)
	// scratch is temporary memory shared by all ops; see reserveScratch.
	scratch []float32
	// foldable records that Build folded a BatchNorm into a convolution; folded, that the last
	// Forward ran them folded, so that a Backward must first run Forward unfolded.
	foldable, folded bool
	// plan is what Build, or a Forward without it, decided (see plan.go); nil before.
	plan *plan
}

// Config sets up a graph.
type Config struct {
	// Batch is the largest number of samples a step processes.
	Batch int
	// Pool runs the kernels; nil means a new pool with GOMAXPROCS threads.
	Pool *parallel.Pool
	// Seed fixes parameter initialisation and the random masks of Dropout and DropPath.
	Seed uint64
}

// New returns an empty graph.
func New(cfg Config) *Graph {
	if cfg.Batch <= 0 {
		panic(fmt.Sprintf("engine: batch must be positive, got %d", cfg.Batch))
	}
	if cfg.Pool == nil {
		cfg.Pool = parallel.NewPool(0)
	}
	g := &Graph{batch: cfg.Batch, n: cfg.Batch, pool: cfg.Pool, seed: cfg.Seed}
	g.zeroFn = func(_, i int) { clear(g.zeroSpans[i]) }
	g.allFn = func(_, i int) { clear(g.allSpans[i]) }
	return g
}

// Batch is the batch capacity the graph was built for.
func (g *Graph) Batch() int { return g.batch }

// ActiveBatch is the number of samples the next step processes.
func (g *Graph) ActiveBatch() int { return g.n }

// SetActiveBatch makes the next steps process only the first n samples of every buffer (for a
// last, partial batch). BatchNorm statistics and the loss mean are over those n samples.
func (g *Graph) SetActiveBatch(n int) {
	if n <= 0 || n > g.batch {
		panic(fmt.Sprintf("engine: active batch %d outside [1, %d]", n, g.batch))
	}
	g.n = n
}

// SetStep sets the step number that, with the seed, draws the Dropout and DropPath masks. The same
// (seed, step) always gives the same masks.
func (g *Graph) SetStep(step uint64) { g.step = step }

// Pool is the worker pool that runs the graph's kernels.
func (g *Graph) Pool() *parallel.Pool { return g.pool }

// Params lists the trainable parameters in the order the layers created them.
func (g *Graph) Params() []*Param { return g.params }

// Nodes lists the nodes in topological order.
func (g *Graph) Nodes() []*Node { return g.nodes }

// Bytes is the memory of the graph's buffers: every distinct node value and gradient buffer,
// the parameters and their gradients, and the scratch space the ops share. Optimizer state is not
// the graph's and is not counted.
func (g *Graph) Bytes() int64 {
	seen := map[*float32]bool{}
	var floats int64
	count := func(b []float32) {
		if len(b) > 0 && !seen[&b[:1][0]] {
			seen[&b[:1][0]] = true
			floats += int64(cap(b))
		}
	}
	for _, n := range g.nodes {
		count(n.Value)
		count(n.Grad)
	}
	for _, p := range g.params {
		count(p.Value)
		count(p.Grad)
	}
	count(g.scratch)
	return 4 * floats
}

// Input adds an input node of the given per-sample shape. The caller fills its Value.
func (g *Graph) Input(name string, s Shape) *Node {
	return g.addNode(name, s, nil)
}

// addNode appends a node whose value is computed by o from inputs.
func (g *Graph) addNode(name string, s Shape, o op, inputs ...*Node) *Node {
	if g.plan != nil {
		panic("engine: layer added after Build or Forward")
	}
	if s.H <= 0 || s.W <= 0 || s.C <= 0 {
		panic(fmt.Sprintf("engine: %s: invalid output shape %v", name, s))
	}
	n := &Node{Name: name, Shape: s, Value: make([]float32, g.batch*s.Size()), id: len(g.nodes), inputs: inputs, op: o}
	g.nodes = append(g.nodes, n)
	return n
}

// addParam creates a parameter; init fills it.
func (g *Graph) addParam(name string, noDecay bool, init func(v []float32, rng *normalRand), shape ...int) *Param {
	size := 1
	for _, d := range shape {
		size *= d
	}
	p := &Param{Name: name, Shape: shape, Value: make([]float32, size), Grad: make([]float32, size), NoDecay: noDecay}
	init(p.Value, newNormalRand(g.seed, uint64(len(g.params))))
	g.params = append(g.params, p)
	return p
}

// reserveScratch makes g.scratch hold at least n float32s. An op may use g.scratch only while its
// own forward or backward runs, and must slice it then, not when it is built, because a later
// reservation may reallocate it. Sharing one buffer keeps a deep graph's temporaries (im2col
// tiles, partial weight gradients) at the size of its largest layer's.
func (g *Graph) reserveScratch(n int) {
	if n > len(g.scratch) {
		g.scratch = make([]float32, n)
	}
}

// Build plans the graph and allocates the gradient buffers of every node but the graph's
// inputs, whose gradients are never needed. After Build no layer can be added. Forward may run
// without Build (inference), with every op computing its own node; then neither Build nor a
// layer may follow.
//
// The plan (plan.go) applies the fusion rules, but those in without: a ReLU applied in place by
// the BatchNorm or Add before it (FuseReLU), a BatchNorm folded into the convolution before it
// for inference (FoldBatchNorm), a residual Add computed by the op of one of its inputs
// (FuseAdd), a BatchNorm applied by the convolution after it to the rows it copies
// (DeferBatchNorm); the ops are then configured from it. Finally Build plans the gradient
// buffers (planGradients).
func (g *Graph) Build(without ...Rule) {
	if g.built {
		return
	}
	if g.plan != nil {
		panic("engine: Build after a Forward without Build")
	}
	g.built = true
	// Every thread of the pool, and the caller of a Parallel product, may run a product at once.
	gemm.Reserve(g.pool.Threads() + 1)
	p := newPlan(g, without, false)
	g.apply(p)
	g.planGradients(p)
}

// apply configures the ops from the plan p.
func (g *Graph) apply(p *plan) {
	g.plan, g.foldable = p, p.foldable
	for _, n := range g.nodes {
		if s := p.step(n); s.inPlace {
			n.Value = s.by.Value
		}
		if c, ok := n.op.(configurer); ok {
			c.configure(p)
		}
	}
}

// configurer is an op that takes its part of the plan: its algorithm, the prologue and epilogue
// it applies, or the op that computes its node instead.
type configurer interface {
	configure(p *plan)
}

// Plan describes what Build decided, one line per node: its op (and a convolution's
// algorithm), which op computes its value, the prologue and epilogue its op applies and its
// gradient buffer. It is empty before Build (or a Forward without it).
func (g *Graph) Plan() string {
	if g.plan == nil {
		return ""
	}
	return g.plan.String()
}

// planGradients plans the gradient buffers: a gradient lives in Backward from its first write,
// by the loss or by a consumer's backward that sets rather than adds to it, until its node's op
// has read it, and with ShareGradients, gradients whose lifetimes do not overlap share a buffer.
// Only the other gradients, which start from zero, are cleared before each Backward. A node whose
// value an op computes in place of its own shares that op's gradient buffer too.
func (g *Graph) planGradients(p *plan) {
	// owner[i] is the node whose gradient buffer node i uses: itself, or the op a ReLU is fused
	// into.
	owner := make([]*Node, len(g.nodes))
	for _, n := range g.nodes {
		owner[n.id] = n
		if s := p.step(n); s.inPlace {
			owner[n.id] = s.by
		}
	}
	// first[i] is the consumer whose backward writes node i's gradient buffer first in a step,
	// and slot the input it takes it as; twice marks buffers that consumer takes twice.
	first := make([]*Node, len(g.nodes))
	slot := make([]int, len(g.nodes))
	twice := make([]bool, len(g.nodes))
	for _, c := range g.nodes {
		if p.step(c).inPlace {
			continue
		}
		for i, in := range c.inputs {
			o := owner[in.id].id
			switch first[o] {
			case nil:
			case c:
				twice[o] = true
				continue
			}
			first[o], slot[o], twice[o] = c, i, false
		}
	}
	// A gradient that its first writer sets, or the loss does, is live in Backward from that
	// write until its own op's backward has read it; such gradients whose lifetimes do not
	// overlap share buffers. The others start from zero: they get buffers of their own, cleared
	// by every Backward.
	var shared []*Node
	start := make([]int, len(g.nodes)) // the node id at which a shared gradient's lifetime begins
	for _, n := range g.nodes {
		if n.op == nil || owner[n.id] != n {
			continue
		}
		switch c := first[n.id]; {
		case g.loss != nil && owner[g.loss.logits.id] == n:
			start[n.id] = len(g.nodes) // the loss writes before any op's backward
		case c != nil && !twice[n.id]:
			w, ok := c.op.(overwriter)
			if !ok || !w.overwrite(slot[n.id]) {
				g.clearedGrad(p, n)
				continue
			}
			start[n.id] = c.id
		default:
			g.clearedGrad(p, n)
			continue
		}
		shared = append(shared, n)
	}
	g.shareGradients(shared, start, !p.off[ShareGradients])
	// Number the buffers in the order of the nodes that use them, for the plan.
	number, users := map[*float32]int{}, map[*float32]int{}
	for _, n := range g.nodes {
		if o := owner[n.id]; o != n {
			n.Grad = o.Grad
		}
		if len(n.Grad) == 0 {
			continue
		}
		at := &n.Grad[0]
		if _, ok := number[at]; !ok {
			number[at] = len(number)
		}
		p.step(n).gradBuf = number[at]
		if owner[n.id] == n {
			users[at]++
		}
	}
	for _, n := range g.nodes {
		if len(n.Grad) > 0 && users[&n.Grad[0]] > 1 {
			p.step(n).shareGradBuffer = true
		}
	}
	for _, p := range g.params {
		g.zeroSpans = addSpans(g.zeroSpans, p.Grad)
		g.allSpans = addSpans(g.allSpans, p.Grad)
	}
}

// clearedGrad gives n a gradient buffer of its own, which Backward clears before each step.
func (g *Graph) clearedGrad(p *plan, n *Node) {
	n.Grad = make([]float32, len(n.Value))
	g.zeroSpans = addSpans(g.zeroSpans, n.Grad)
	g.allSpans = addSpans(g.allSpans, n.Grad)
	p.step(n).gradCleared = true
}

// shareGradients gives the nodes gradient buffers, node n's live in Backward from the op with id
// start[n.id] to n's own op, reusing a buffer as soon as its last holder's op has run: buffers
// are handed out in the order of the lifetimes' beginnings, each the smallest free one that fits.
// Without share, every node gets a buffer of its own.
func (g *Graph) shareGradients(nodes []*Node, start []int, share bool) {
	slices.SortStableFunc(nodes, func(a, b *Node) int { return start[b.id] - start[a.id] })
	type held struct {
		buf []float32
		end int // the id of the op whose backward reads the gradient last
	}
	var free [][]float32
	var live []held
	for _, n := range nodes {
		s := start[n.id]
		still := live[:0]
		for _, h := range live {
			if h.end > s {
				free = append(free, h.buf)
			} else {
				still = append(still, h)
			}
		}
		live = still
		size, best := len(n.Value), -1
		for i, b := range free {
			if len(b) >= size && (best < 0 || len(b) < len(free[best])) {
				best = i
			}
		}
		var buf []float32
		if best >= 0 && share {
			buf = free[best]
			free = slices.Delete(free, best, best+1)
		} else {
			buf = make([]float32, size)
			g.allSpans = addSpans(g.allSpans, buf)
		}
		n.Grad = buf[:size]
		live = append(live, held{buf, n.id})
	}
}

// zeroSpan is how many float32s one chunk of gradient clearing covers.
const zeroSpan = 1 << 15

// addSpans appends b, cut into spans of zeroSpan, to spans.
func addSpans(spans [][]float32, b []float32) [][]float32 {
	for i := 0; i < parallel.Chunks(len(b), zeroSpan); i++ {
		lo, hi := parallel.Span(i, len(b), zeroSpan)
		spans = append(spans, b[lo:hi])
	}
	return spans
}

// Forward runs every layer in order. train selects training behaviour: BatchNorm on batch
// statistics (and updating its running averages), Dropout and DropPath active.
func (g *Graph) Forward(train bool) {
	if g.plan == nil {
		g.apply(newPlan(g, nil, true)) // a graph not built: every op computes its own node
	}
	g.train = train
	g.folded = !train && g.foldable
	g.run()
}

// run runs every op's forward.
func (g *Graph) run() {
	for _, n := range g.nodes {
		if n.op != nil {
			n.op.forward(g)
		}
	}
	if g.loss != nil {
		g.loss.forward()
	}
}

// Backward sets every gradient to zero (or lets its first writer set it), seeds the loss gradient
// and runs every layer's backward in reverse order, so that Params' Grad hold dLoss/dParam. It
// needs Build and a Loss, and a preceding Forward(true).
func (g *Graph) Backward() {
	if !g.built {
		panic("engine: Backward before Build")
	}
	if g.loss == nil {
		panic("engine: Backward on a graph without a loss")
	}
	g.unfold()
	g.pool.For(len(g.zeroSpans), g.zeroFn)
	g.loss.seed()
	for i := len(g.nodes) - 1; i >= 0; i-- {
		if n := g.nodes[i]; n.op != nil && n.Grad != nil {
			n.op.backward(g)
		}
	}
}

// BackwardFrom runs backward from gradients the caller has put into out.Grad (after zeroing every
// other gradient), for graphs without a loss, such as gradient checks.
func (g *Graph) BackwardFrom(out *Node, grad []float32) {
	if !g.built {
		panic("engine: BackwardFrom before Build")
	}
	g.unfold()
	g.pool.For(len(g.allSpans), g.allFn)
	copy(out.Grad, grad)
	for i := out.id; i >= 0; i-- {
		if n := g.nodes[i]; n.op != nil && n.Grad != nil {
			n.op.backward(g)
		}
	}
}

// unfold reruns an inference Forward that ran with BatchNorms folded into convolutions, unfolded,
// so that the convolutions' outputs, which BatchNorm's backward reads, are set.
func (g *Graph) unfold() {
	if g.folded {
		g.folded = false
		g.run()
	}
}

// rand returns a uniform number in [0, 1) drawn from (seed, step, stream, index) alone, so random
// masks do not depend on which thread draws them.
func (g *Graph) rand(stream, index uint64) float32 {
	return float32(g.randBits(stream, index)>>40) / (1 << 24)
}

// randBits returns 64 random bits drawn from (seed, step, stream, index) alone.
func (g *Graph) randBits(stream, index uint64) uint64 {
	return splitmix(g.seed ^ splitmix(g.step^splitmix(stream^splitmix(index))))
}

// splitmixGamma is SplitMix64's increment: splitmix(s), splitmix(s+γ), splitmix(s+2γ), ... is
// the SplitMix64 sequence seeded with s.
const splitmixGamma = 0x9e3779b97f4a7c15

func splitmix(x uint64) uint64 {
	x += splitmixGamma
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// normalRand draws the initial values of one parameter from a stream fixed by (seed, parameter
// index), so initialisation does not depend on anything but the seed and the architecture.
type normalRand struct{ state uint64 }

func newNormalRand(seed, stream uint64) *normalRand {
	return &normalRand{state: splitmix(seed) ^ splitmix(stream+0x51ed2701)}
}

// Uniform returns a number in [0, 1).
func (r *normalRand) Uniform() float64 {
	r.state = splitmix(r.state)
	return float64(r.state>>11) / (1 << 53)
}

// Normal returns a standard normal number (Box-Muller).
func (r *normalRand) Normal() float64 {
	u1 := r.Uniform()
	for u1 == 0 {
		u1 = r.Uniform()
	}
	u2 := r.Uniform()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
