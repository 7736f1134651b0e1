package engine

import "github.com/gonas/nas/engine/parallel"

// elemChunk is how many float32s one chunk of an elementwise kernel covers.
const elemChunk = 1 << 14

// elementwise runs a kernel over the first g.n samples of a node, in chunks of elemChunk values.
type elementwise struct {
	g      *Graph
	n      *Node
	kernel func(lo, hi int)
	fn     func(w, i int)
}

func newElementwise(g *Graph, n *Node, kernel func(lo, hi int)) *elementwise {
	e := &elementwise{g: g, n: n, kernel: kernel}
	e.fn = func(_, i int) {
		lo, hi := parallel.Span(i, g.n*n.Shape.Size(), elemChunk)
		e.kernel(lo, hi)
	}
	return e
}

func (e *elementwise) run() {
	e.g.pool.For(parallel.Chunks(e.g.n*e.n.Shape.Size(), elemChunk), e.fn)
}

type reluOp struct {
	x, y     *Node
	fwd, bwd *elementwise
}

// ReLU adds y = max(x, 0).
func (g *Graph) ReLU(x *Node) *Node {
	o := &reluOp{x: x}
	o.y = g.addNode(x.Name+".relu", x.Shape, o, x)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) {
		xs, ys := x.Value[lo:hi], o.y.Value[lo:hi]
		for i, v := range xs {
			ys[i] = max(v, 0)
		}
	})
	o.bwd = newElementwise(g, o.y, func(lo, hi int) {
		// The output, not the input, decides the mask, so ReLU may run in place of its input.
		ys, dy, dx := o.y.Value[lo:hi], o.y.Grad[lo:hi], x.Grad[lo:hi]
		for i, v := range ys {
			if v > 0 {
				dx[i] += dy[i]
			}
		}
	})
	return o.y
}

func (o *reluOp) forward(*Graph) { o.fwd.run() }

func (o *reluOp) backward(*Graph) {
	if o.x.Grad != nil {
		o.bwd.run()
	}
}
