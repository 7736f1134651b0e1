package engine

import "math"

type sigmoidOp struct {
	x, y     *Node
	fwd, bwd *elementwise
	// set makes backward set x's gradient instead of adding to it.
	set bool
}

// Sigmoid adds y = 1/(1 + e^(−x)), computed in float64.
func (g *Graph) Sigmoid(x *Node) *Node {
	o := &sigmoidOp{x: x}
	o.y = g.addNode(x.Name+".sigmoid", x.Shape, o, x)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) {
		xs, ys := x.Value[lo:hi], o.y.Value[lo:hi]
		ys = ys[:len(xs)]
		for i, v := range xs {
			ys[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	})
	o.bwd = newElementwise(g, o.y, func(lo, hi int) {
		ys, dy, dx := o.y.Value[lo:hi], o.y.Grad[lo:hi], x.Grad[lo:hi]
		dy, dx = dy[:len(ys)], dx[:len(ys)]
		if o.set {
			clear(dx)
		}
		for i, v := range ys {
			dx[i] += dy[i] * v * (1 - v)
		}
	})
	return o.y
}

func (o *sigmoidOp) overwrite(int) bool {
	o.set = true
	return true
}

func (o *sigmoidOp) forward(*Graph) { o.fwd.run() }

func (o *sigmoidOp) backward(*Graph) {
	if o.x.Grad != nil {
		o.bwd.run()
	}
}
