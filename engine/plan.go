package engine

import (
	"fmt"
	"strings"
)

// The plan is what Build decides once for a graph (or the first Forward, without fusion rules,
// for a graph that is not built): which op computes each node, with which
// prologue (a deferred BatchNorm and its ReLU applied to the rows the op reads) and epilogue (a
// bias, a ReLU, a residual Add, a folded BatchNorm applied to the rows it stores), which algorithm
// runs each convolution, and which nodes share gradient buffers. Each fusion rule below is one
// function that reads the graph and writes only the plan; the ops are then configured from it
// (configure). Build's arguments switch rules off: every rule leaves the arithmetic as it is,
// but for folding, which rounds differently in inference.

// Rule is one of the plan's rules, which Build applies unless it is given the rule to leave out.
type Rule int

const (
	// FuseReLU lets a BatchNorm or an Add whose output only a ReLU reads apply the ReLU in
	// place: the two nodes then share their Value and Grad buffers (fuseReLU).
	FuseReLU Rule = iota
	// FoldBatchNorm lets a convolution whose output only a BatchNorm reads compute that
	// BatchNorm's output in inference forwards, from weights and a bias folded with the running
	// statistics (foldBatchNorm).
	FoldBatchNorm
	// FuseAdd lets the convolution, Scale or BatchNorm whose output only an Add reads compute the
	// Add as it stores its rows (fuseAdd).
	FuseAdd
	// DeferBatchNorm lets a Winograd or direct 1×1 convolution that alone reads a BatchNorm's
	// output (or its ReLU's) normalise its input rows as it copies them, so that the BatchNorm
	// writes no output (deferBatchNorm).
	DeferBatchNorm
	// ShareGradients lets gradients whose lifetimes in Backward do not overlap share a buffer
	// (planGradients; TestSharedGradientBuffersChangeNothing).
	ShareGradients
	numRules
)

// rules are the plan's rules in the order Build applies them: each may read what the earlier
// ones decided. ShareGradients is applied by planGradients, after the ops are configured.
var rules = []struct {
	rule  Rule
	name  string
	apply func(*plan)
}{
	{FuseReLU, "fuse-relu", fuseReLU},
	{FoldBatchNorm, "fold-batchnorm", foldBatchNorm},
	{FuseAdd, "fuse-add", fuseAdd},
	{DeferBatchNorm, "defer-batchnorm", deferBatchNorm},
	{ShareGradients, "share-gradients", nil},
}

func (r Rule) String() string {
	for _, e := range rules {
		if e.rule == r {
			return e.name
		}
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// plan holds Build's decisions, one step per node.
type plan struct {
	g     *Graph
	off   [numRules]bool
	steps []step
	// readers counts each node's consumers, the loss counting as one for its logits.
	readers []int
	// foldable records that a BatchNorm is folded into a convolution.
	foldable bool
}

// step is the plan of one node.
type step struct {
	// by is the node whose op computes this node's value in training and unfolded forwards, nil
	// for its own op; inPlace marks a value computed in by's buffers (a fused ReLU's), whose
	// node then shares by's Value and Grad.
	by      *Node
	inPlace bool
	// foldedBy is the convolution that computes this node's value in folded inference forwards:
	// a folded BatchNorm's, or the Add that such a BatchNorm's output alone feeds.
	foldedBy *Node
	// The op's epilogue: relu, the ReLU that alone reads the output; add, the Add computed in
	// every forward by, or for a BatchNorm in unfolded forwards; fold, a convolution's folded
	// BatchNorm and foldedAdd the Add it computes in folded forwards.
	relu            bool
	add, fold       *Node
	foldedAdd       *Node
	conv            convKind // a convolution's algorithm
	deferred        *Node    // a convolution's prologue: the BatchNorm it applies to its input rows
	deferredTo      *Node    // a BatchNorm's: the convolution that applies it
	gradBuf         int      // the number of the gradient buffer, -1 for none
	gradCleared     bool     // whether Backward clears it before each step
	shareGradBuffer bool     // whether the buffer is shared with other nodes
}

// newPlan returns the plan for g with the rules but those in without, or with none if noRules.
func newPlan(g *Graph, without []Rule, noRules bool) *plan {
	p := &plan{g: g, steps: make([]step, len(g.nodes)), readers: make([]int, len(g.nodes))}
	for _, r := range without {
		if r < 0 || r >= numRules {
			panic(fmt.Sprintf("engine: Build without %v: no such rule", r))
		}
		p.off[r] = true
	}
	if noRules {
		for r := range p.off {
			p.off[r] = true
		}
	}
	for _, n := range g.nodes {
		for _, in := range n.inputs {
			p.readers[in.id]++
		}
	}
	if g.loss != nil {
		p.readers[g.loss.logits.id]++
	}
	for i := range p.steps {
		p.steps[i].gradBuf = -1
	}
	planConvolutions(p)
	for _, r := range rules {
		if !p.off[r.rule] && r.apply != nil {
			r.apply(p)
		}
	}
	return p
}

// step returns n's step.
func (p *plan) step(n *Node) *step { return &p.steps[n.id] }

// alone reports whether x has one reader, which is not the loss.
func (p *plan) alone(x *Node) bool { return p.readers[x.id] == 1 }

// planConvolutions chooses the algorithm of each convolution: the fastest for its shape (see
// convKind).
func planConvolutions(p *plan) {
	for _, n := range p.g.nodes {
		if c, ok := n.op.(*convOp); ok {
			p.step(n).conv = c.kind()
		}
	}
}

// fuseReLU (FuseReLU): a ReLU that alone reads a BatchNorm's or an Add's output is applied by
// that op in place, saving a pass over memory each way and a buffer. (TestBuildFusesBatchNormReLU,
// TestGradBatchNormTrain.)
func fuseReLU(p *plan) {
	for _, n := range p.g.nodes {
		r, ok := n.op.(*reluOp)
		if !ok || !p.alone(r.x) {
			continue
		}
		switch r.x.op.(type) {
		case *batchNormOp, *addOp:
			s := p.step(n)
			s.by, s.inPlace = r.x, true
			p.step(r.x).relu = true
		}
	}
}

// foldBatchNorm (FoldBatchNorm): a BatchNorm that alone reads a convolution's output is computed
// in inference forwards by that convolution, with the running statistics folded into its weights
// and bias: BN(conv(x) + b) = conv_{w·s}(x) + b·s + h for the BatchNorm's scale s and shift h.
// The convolution's own Value is then left stale, and a Backward reruns the forward unfolded.
// (TestInferenceFoldsBatchNormIntoConv.)
func foldBatchNorm(p *plan) {
	for _, n := range p.g.nodes {
		bn, ok := n.op.(*batchNormOp)
		if !ok || !p.alone(bn.x) {
			continue
		}
		if _, ok := bn.x.op.(*convOp); ok {
			p.step(n).foldedBy = bn.x
			p.step(bn.x).fold = n
			p.foldable = true
		}
	}
}

// fuseAdd (FuseAdd): an Add whose input x only the Add reads, and whose other input is computed
// before x, is computed by x's op as it stores its rows: by a convolution in every forward (a
// pre-activation block, Inception-ResNet's projection); by a Scale (Squeeze-and-Excitation before
// a residual connection) in every forward, and by a BatchNorm (a residual connection) in
// unfolded forwards, when x is the Add's first input or the scale is 1, so that the sum is the
// same either way round; and in folded forwards by a folded BatchNorm's convolution, when the
// other input is computed before that convolution too. The first input that qualifies wins.
// (TestResidualAddFusion, TestConvAddFusion, TestResidualOfUnfoldedBatchNormInFoldedForward.)
func fuseAdd(p *plan) {
	for _, n := range p.g.nodes {
		add, ok := n.op.(*addOp)
		if !ok {
			continue
		}
		for _, x := range []*Node{add.a, add.b} {
			other, _ := add.residual(x)
			if !p.alone(x) || other.id >= x.id {
				continue
			}
			if _, ok := x.op.(*convOp); ok {
				p.computeAdd(n, x)
				break
			}
			if x == add.b && add.scale != 1 {
				continue
			}
			if _, ok := x.op.(*scaleOp); ok {
				p.computeAdd(n, x)
				break
			}
			if _, ok := x.op.(*batchNormOp); !ok {
				continue
			}
			p.computeAdd(n, x)
			if conv := p.step(x).foldedBy; conv != nil && other.id < conv.id {
				p.step(n).foldedBy = conv
				p.step(conv).foldedAdd = n
			}
			break
		}
	}
}

// computeAdd records that x's op computes the Add add.
func (p *plan) computeAdd(add, x *Node) {
	p.step(add).by = x
	p.step(x).add = add
}

// deferBatchNorm (DeferBatchNorm): a BatchNorm (and its fused ReLU) whose output only a
// convolution that copies its input rows before it reads them (Winograd's padding, the direct
// 1×1's tiles: see copiesInput) reads, and which computes no Add, leaves its normalisation to
// that convolution, in the forward and again in the weight gradient; its output is never
// written (its backward takes the ReLU's mask from its input). (TestDeferredBatchNorm.)
func deferBatchNorm(p *plan) {
	for _, n := range p.g.nodes {
		conv, ok := n.op.(*convOp)
		if !ok || !p.step(n).conv.copiesInput() || !p.alone(conv.x) {
			continue
		}
		in := conv.x
		if s := p.step(in); s.inPlace {
			in = s.by
		}
		if _, ok := in.op.(*batchNormOp); ok && p.step(in).add == nil && (in == conv.x || p.alone(in)) {
			p.step(in).deferredTo = n
			p.step(n).deferred = in
		}
	}
}

// String describes the plan, one line per node: its op (and a convolution's algorithm), who
// computes its value, the prologue and epilogue its op applies, and its gradient buffer.
func (p *plan) String() string {
	var b strings.Builder
	width := 0
	for _, n := range p.g.nodes {
		width = max(width, len(n.Name))
	}
	for _, n := range p.g.nodes {
		s := p.step(n)
		var parts []string
		add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
		if c, ok := n.op.(*convOp); ok {
			add("algorithm %s", c.alg)
		}
		switch {
		case s.inPlace:
			add("in place by %s", s.by.Name)
		case s.by != nil:
			add("by %s", s.by.Name)
		}
		if s.foldedBy != nil {
			add("inference by %s", s.foldedBy.Name)
		}
		if s.deferredTo != nil {
			add("applied by %s", s.deferredTo.Name)
		}
		if s.deferred != nil {
			add("prologue %s", p.normName(s.deferred))
		}
		var epi []string
		if c, ok := n.op.(*convOp); ok && c.b != nil {
			epi = append(epi, "bias")
		}
		if s.relu {
			epi = append(epi, "relu")
		}
		if s.add != nil {
			epi = append(epi, "add "+s.add.Name)
		}
		if len(epi) > 0 {
			add("epilogue %s", strings.Join(epi, "+"))
		}
		if s.fold != nil {
			f := "inference epilogue fold " + p.normName(s.fold)
			if s.foldedAdd != nil {
				f += "+add " + s.foldedAdd.Name
			}
			add("%s", f)
		}
		switch {
		case s.gradBuf < 0:
		case s.inPlace:
			add("grad #%d (%s's)", s.gradBuf, s.by.Name)
		case s.shareGradBuffer:
			add("grad #%d shared", s.gradBuf)
		case s.gradCleared:
			add("grad #%d cleared", s.gradBuf)
		}
		line := fmt.Sprintf("%-*s  %-9s  %s", width, n.Name, opName(n), strings.Join(parts, ", "))
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	var off []string
	for r := range numRules {
		if p.off[r] {
			off = append(off, r.String())
		}
	}
	if len(off) > 0 {
		fmt.Fprintf(&b, "rules off: %s\n", strings.Join(off, ", "))
	}
	return b.String()
}

// normName names a BatchNorm bn with the ReLU it applies.
func (p *plan) normName(bn *Node) string {
	if p.step(bn).relu {
		return bn.Name + "+relu"
	}
	return bn.Name
}

// opName names the kind of op that computes n.
func opName(n *Node) string {
	switch o := n.op.(type) {
	case nil:
		return "input"
	case *convOp:
		return fmt.Sprintf("conv%dx%d/%d", o.s.KH, o.s.KW, o.s.Stride)
	case *batchNormOp:
		return "batchnorm"
	case *reluOp:
		return "relu"
	case *addOp:
		return "add"
	case *scaleOp:
		return "scale"
	case *concatOp:
		return "concat"
	case *sigmoidOp:
		return "sigmoid"
	}
	name := fmt.Sprintf("%T", n.op)
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(name, "*engine."), "Op"))
}
