package engine

import (
	"fmt"

	"github.com/gonas/nas/engine/parallel"
)

type addOp struct {
	a, b, y *Node
	scale   float32
	// setA and setB make backward set a's or b's gradient instead of adding to it.
	setA, setB bool
	// relu marks an Add that applies the ReLU consuming it, in place (see fuseReLU).
	relu bool
	// kind is which op computes the Add (see fuseAdd).
	kind addKind
	// bn is the BatchNorm whose output is an input, for kinds addInBatchNorm*.
	bn       *batchNormOp
	fwd, bwd *elementwise
}

// addKind is which op computes an Add's output.
type addKind int

const (
	// addOwn: the Add itself.
	addOwn addKind = iota
	// addInConv: the convolution whose output is an input, in every forward.
	addInConv
	// addInScale: the Scale whose output is an input, in every forward.
	addInScale
	// addInBatchNorm: the BatchNorm whose output is an input, in every forward that runs it: in
	// a folded forward, the convolution computes a folded BatchNorm's output and the Add itself
	// adds.
	addInBatchNorm
	// addInBatchNormOrConv: the BatchNorm whose output is an input, and in folded forwards the
	// convolution it is folded into.
	addInBatchNormOrConv
)

// Add adds y = a + scale·b for two nodes of the same shape: scale 1 is a residual connection,
// a smaller one (0.2 in Inception-ResNet) damps the residual branch b.
func (g *Graph) Add(a, b *Node, scale float32) *Node {
	if a.Shape != b.Shape {
		panic(fmt.Sprintf("engine: Add of %s (%v) and %s (%v): shapes differ", a.Name, a.Shape, b.Name, b.Shape))
	}
	o := &addOp{a: a, b: b, scale: scale}
	o.y = g.addNode(a.Name+".add", a.Shape, o, a, b)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) {
		ys := o.y.Value[lo:hi]
		addScaled(ys, a.Value[lo:hi], b.Value[lo:hi], scale)
		if o.relu {
			relu(ys, ys)
		}
	})
	o.bwd = newElementwise(g, o.y, func(lo, hi int) {
		dy := o.y.Grad[lo:hi]
		if o.relu && a.Grad != nil && o.setA {
			// The ReLU's gradient straight into a's, which then serves as dy.
			reluGrad(o.y.Value[lo:hi], dy, a.Grad[lo:hi], false)
			dy = a.Grad[lo:hi]
		} else {
			if o.relu {
				reluGrad(o.y.Value[lo:hi], dy, dy, false)
			}
			if a.Grad != nil {
				put(a.Grad[lo:hi], dy, !o.setA)
			}
		}
		if b.Grad == nil {
			return
		}
		db := b.Grad[lo:hi]
		switch {
		case !o.setB:
			addScaled(db, db, dy, scale)
		case scale == 1:
			copy(db, dy)
		default:
			db = db[:len(dy)]
			for i, d := range dy {
				db[i] = scale * d
			}
		}
	})
	return o.y
}

// residual returns, for an Add fused into the op computing its input x, the other input and the
// scale to add it with: x + scale·b when x is a, x + b (= a + x) when x is b and the scale is 1.
func (o *addOp) residual(x *Node) (other *Node, scale float32) {
	if x == o.a {
		return o.b, o.scale
	}
	return o.a, 1
}

func (o *addOp) overwrite(input int) bool {
	if input == 0 {
		o.setA = true
	} else {
		o.setB = true
	}
	return true
}

func (o *addOp) configure(p *plan) {
	s := p.step(o.y)
	o.relu = s.relu
	switch by := s.by; {
	case by == nil:
		o.kind = addOwn
	case s.foldedBy != nil:
		o.kind, o.bn = addInBatchNormOrConv, by.op.(*batchNormOp)
	default:
		switch x := by.op.(type) {
		case *convOp:
			o.kind = addInConv
		case *scaleOp:
			o.kind = addInScale
		case *batchNormOp:
			o.kind, o.bn = addInBatchNorm, x
		}
	}
}

func (o *addOp) forward(g *Graph) {
	if o.kind == addOwn || o.kind == addInBatchNorm && g.folded && o.bn.folded {
		o.fwd.run()
	}
}

func (o *addOp) backward(*Graph) {
	if o.a.Grad != nil || o.b.Grad != nil {
		o.bwd.run()
	}
}

// concatChunk is about how many output float32s one chunk of Concat covers; a chunk is a whole
// number of pixel rows.
const concatChunk = 1 << 14

type concatOp struct {
	g  *Graph
	xs []*Node
	// set[i] makes backward set xs[i]'s gradient instead of adding to it.
	set      []bool
	y        *Node
	rows     int
	fwd, bwd func(w, i int)
}

// Concat adds the concatenation of xs along channels: inputs of H×W×C₁, ..., H×W×Cₖ give
// H×W×(C₁+...+Cₖ), channels in the order of xs. It needs at least one input, all of the same
// H and W.
func (g *Graph) Concat(xs ...*Node) *Node {
	if len(xs) == 0 {
		panic("engine: Concat of no inputs")
	}
	s := Shape{H: xs[0].Shape.H, W: xs[0].Shape.W}
	for _, x := range xs {
		if x.Shape.H != s.H || x.Shape.W != s.W {
			panic(fmt.Sprintf("engine: Concat of %s (%v) and %s (%v): H and W differ", xs[0].Name, xs[0].Shape, x.Name, x.Shape))
		}
		s.C += x.Shape.C
	}
	o := &concatOp{g: g, xs: append([]*Node(nil), xs...), rows: max(1, concatChunk/s.C), set: make([]bool, len(xs))}
	o.y = g.addNode(xs[0].Name+".cat", s, o, o.xs...)
	o.fwd = func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		off := 0
		for _, x := range o.xs {
			c := x.Shape.C
			copyRows(o.y.Value[lo*s.C+off:], s.C, x.Value[lo*c:], c, c, hi-lo)
			off += c
		}
	}
	o.bwd = func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		off := 0
		for k, x := range o.xs {
			c := x.Shape.C
			switch {
			case x.Grad == nil:
			case o.set[k]:
				copyRows(x.Grad[lo*c:], c, o.y.Grad[lo*s.C+off:], s.C, c, hi-lo)
			default:
				for r := lo; r < hi; r++ {
					put(x.Grad[r*c:(r+1)*c], o.y.Grad[r*s.C+off:r*s.C+off+c], true)
				}
			}
			off += c
		}
	}
	return o.y
}

// totalRows is the number of pixel rows of the active batch.
func (o *concatOp) totalRows() int { return o.g.n * o.y.Shape.H * o.y.Shape.W }

func (o *concatOp) overwrite(input int) bool {
	o.set[input] = true
	return true
}

func (o *concatOp) forward(g *Graph) { g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.fwd) }

func (o *concatOp) backward(g *Graph) { g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.bwd) }

type scaleOp struct {
	g       *Graph
	x, s, y *Node
	samples int
	// setX and setS make backward set x's or s's gradient instead of adding to it.
	setX, setS bool
	// residual is the Add that the forward computes too (see fuseAdd).
	residual *addOp
	sums     []channelSums
	fwd, bwd func(w, i int)
}

// Scale adds the channel scaling of Squeeze-and-Excitation: y[n,h,w,c] = x[n,h,w,c]·s[n,0,0,c],
// where s is a 1×1×C vector per sample and x is H×W×C. The scale's gradient is summed in float32
// over the positions of a sample, in order, then added to s's gradient.
func (g *Graph) Scale(x, s *Node) *Node {
	if s.Shape != (Shape{1, 1, x.Shape.C}) {
		panic(fmt.Sprintf("engine: Scale of %s (%v) by %s (%v): the scale must be 1x1x%d", x.Name, x.Shape, s.Name, s.Shape, x.Shape.C))
	}
	size, c := x.Shape.Size(), x.Shape.C
	// A chunk covers whole samples, so that it alone sums the gradient of its samples' scales.
	o := &scaleOp{g: g, x: x, s: s, samples: max(1, elemChunk/size), sums: newChannelSums(g.pool.Threads(), c)}
	o.y = g.addNode(x.Name+".scale", x.Shape, o, x, s)
	// The BatchNorm kernels do the work: y = x·s + 0, dx = s·dy − 0 − 0·dy, and Σ dy·(x − 0); a
	// fused residual Add's y = (x·s + 0) + scale·other.
	o.fwd = func(w, i int) {
		zeros := o.sums[w].zeros
		lo, hi := parallel.Span(i, g.n, o.samples)
		for n := lo; n < hi; n++ {
			xs, sc := x.Value[n*size:(n+1)*size], s.Value[n*c:(n+1)*c]
			if r := o.residual; r != nil {
				other, scale := r.residual(o.y)
				bnResidual(xs, r.y.Value[n*size:(n+1)*size], other.Value[n*size:(n+1)*size], c, sc, zeros, scale, r.relu)
				continue
			}
			bnNormalize(xs, o.y.Value[n*size:(n+1)*size], c, sc, zeros, false)
		}
	}
	o.bwd = func(w, i int) {
		sums := &o.sums[w]
		lo, hi := parallel.Span(i, g.n, o.samples)
		for n := lo; n < hi; n++ {
			sc := s.Value[n*c : (n+1)*c]
			xs, dys := x.Value[n*size:(n+1)*size], o.y.Grad[n*size:(n+1)*size]
			if x.Grad != nil {
				z := sums.zeros
				bnInputGrad(dys, dys, x.Grad[n*size:(n+1)*size], c, sc, z, z, z, nil, nil, !o.setX)
			}
			if s.Grad != nil {
				bnGradSums(xs, dys, c, sums.zeros, nil, nil, sums.acc, sums.s1, sums.s2)
				ds := s.Grad[n*c : (n+1)*c]
				for j, v := range sums.s2 {
					if o.setS {
						ds[j] = float32(v)
					} else {
						ds[j] += float32(v)
					}
				}
			}
		}
	}
	return o.y
}

func (o *scaleOp) configure(p *plan) {
	if add := p.step(o.y).add; add != nil {
		o.residual = add.op.(*addOp)
	}
}

func (o *scaleOp) overwrite(input int) bool {
	if input == 0 {
		o.setX = true
	} else {
		o.setS = true
	}
	return true
}

func (o *scaleOp) forward(g *Graph) { g.pool.For(parallel.Chunks(g.n, o.samples), o.fwd) }

func (o *scaleOp) backward(g *Graph) { g.pool.For(parallel.Chunks(g.n, o.samples), o.bwd) }
