package engine

import "fmt"

// checkDropProbability panics unless p is a drop probability an op can scale for.
func checkDropProbability(op string, p float32) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("engine: %s probability %v outside [0, 1)", op, p))
	}
}

type dropoutOp struct {
	x, y *Node
	p    float32
	// keep is the mask of the last training forward, one flag per value of the batch.
	keep []bool
	// active records whether the last forward dropped (training with p > 0) or copied.
	active   bool
	fwd, bwd *elementwise
}

// Dropout adds inverted dropout: in training, each value is zeroed with probability p and the
// others are multiplied by 1/(1−p); in eval, and when p = 0, y = x. The mask of value i is
// drawn from (seed, step, node, i) alone. p must be in [0, 1).
func (g *Graph) Dropout(x *Node, p float32) *Node {
	checkDropProbability("Dropout", p)
	o := &dropoutOp{x: x, p: p, keep: make([]bool, len(x.Value))}
	o.y = g.addNode(x.Name+".dropout", x.Shape, o, x)
	stream := uint64(o.y.id)
	inv := 1 / (1 - p)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) {
		xs, ys, keep := x.Value[lo:hi], o.y.Value[lo:hi], o.keep[lo:hi]
		if !o.active {
			copy(ys, xs)
			return
		}
		ys, keep = ys[:len(xs)], keep[:len(xs)]
		for i, v := range xs {
			k := g.rand(stream, uint64(lo+i)) >= p
			keep[i] = k
			if k {
				ys[i] = v * inv
			} else {
				ys[i] = 0
			}
		}
	})
	o.bwd = newElementwise(g, o.y, func(lo, hi int) {
		dy, dx, keep := o.y.Grad[lo:hi], x.Grad[lo:hi], o.keep[lo:hi]
		dx = dx[:len(dy)]
		if !o.active {
			for i, d := range dy {
				dx[i] += d
			}
			return
		}
		keep = keep[:len(dy)]
		for i, d := range dy {
			if keep[i] {
				dx[i] += d * inv
			}
		}
	})
	return o.y
}

func (o *dropoutOp) forward(g *Graph) {
	o.active = g.train && o.p > 0
	o.fwd.run()
}

func (o *dropoutOp) backward(*Graph) {
	if o.x.Grad != nil {
		o.bwd.run()
	}
}

type dropPathOp struct {
	x, y *Node
	p    float32
	// factor is each sample's multiplier in the last forward: 0, 1/(1−p), or 1 when inactive.
	factor   []float32
	fwd, bwd *elementwise
}

// DropPath adds stochastic depth as timm's drop_path does it: in training, the whole of each
// sample is zeroed with probability p and otherwise multiplied by 1/(1−p); in eval, and when
// p = 0, y = x. The choice for sample n is drawn from (seed, step, node, n) alone. p must be in
// [0, 1).
func (g *Graph) DropPath(x *Node, p float32) *Node {
	checkDropProbability("DropPath", p)
	o := &dropPathOp{x: x, p: p, factor: make([]float32, g.batch)}
	o.y = g.addNode(x.Name+".droppath", x.Shape, o, x)
	size := x.Shape.Size()
	// perSample calls f(sample, lo, hi) for the pieces of [lo, hi) that belong to one sample.
	perSample := func(lo, hi int, f func(n, lo, hi int)) {
		for lo < hi {
			n := lo / size
			end := min(hi, (n+1)*size)
			f(n, lo, end)
			lo = end
		}
	}
	scaleFwd := func(n, lo, hi int) {
		xs, ys := x.Value[lo:hi], o.y.Value[lo:hi]
		ys = ys[:len(xs)]
		m := o.factor[n]
		for i, v := range xs {
			ys[i] = v * m
		}
	}
	scaleBwd := func(n, lo, hi int) {
		dy, dx := o.y.Grad[lo:hi], x.Grad[lo:hi]
		dx = dx[:len(dy)]
		m := o.factor[n]
		for i, d := range dy {
			dx[i] += d * m
		}
	}
	o.fwd = newElementwise(g, o.y, func(lo, hi int) { perSample(lo, hi, scaleFwd) })
	o.bwd = newElementwise(g, o.y, func(lo, hi int) { perSample(lo, hi, scaleBwd) })
	return o.y
}

func (o *dropPathOp) forward(g *Graph) {
	stream, inv := uint64(o.y.id), 1/(1-o.p)
	for n := range o.factor[:g.n] {
		switch {
		case !g.train || o.p == 0:
			o.factor[n] = 1
		case g.rand(stream, uint64(n)) < o.p:
			o.factor[n] = 0
		default:
			o.factor[n] = inv
		}
	}
	o.fwd.run()
}

func (o *dropPathOp) backward(*Graph) {
	if o.x.Grad != nil {
		o.bwd.run()
	}
}
