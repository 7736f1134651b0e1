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
	// keep is the mask of the last training forward, 1 for each kept value of the batch, else 0.
	keep []uint8
	// active records whether the last forward dropped (training with p > 0) or copied.
	active   bool
	fwd, bwd *elementwise
}

// dropBlock is how many consecutive values of a Dropout mask come from one draw of g.randBits:
// a draw is four chained mixes, so a block takes one draw as the key of a SplitMix64 sequence,
// one cheap mix per two values. It divides elemChunk, so chunks start on a block.
const dropBlock = 64

// Dropout adds inverted dropout: in training, each value is zeroed with probability p and the
// others are multiplied by 1/(1−p); in eval, and when p = 0, y = x. The mask of value i is
// drawn from (seed, step, node, i) alone. p must be in [0, 1).
func (g *Graph) Dropout(x *Node, p float32) *Node {
	checkDropProbability("Dropout", p)
	o := &dropoutOp{x: x, p: p, keep: make([]uint8, len(x.Value))}
	o.y = g.addNode(x.Name+".dropout", x.Shape, o, x)
	stream := uint64(o.y.id)
	inv := 1 / (1 - p)
	// A value is dropped when its 32 random bits are below p·2³².
	threshold := uint32(float64(p) * (1 << 32))
	// factor[keep] is the multiplier of a value; indexing instead of branching on a random
	// mask avoids a mispredicted branch for every dropped value.
	factor := [2]float32{0, inv}
	o.fwd = newElementwise(g, o.y, func(lo, hi int) {
		if !o.active {
			copy(o.y.Value[lo:hi], x.Value[lo:hi])
			return
		}
		for b := lo; b < hi; b += dropBlock {
			state := g.randBits(stream, uint64(b/dropBlock))
			xs, ys, keep := x.Value[b:min(b+dropBlock, hi)], o.y.Value[b:], o.keep[b:]
			ys, keep = ys[:len(xs)], keep[:len(xs)]
			for i := 0; i < len(xs); i += 2 {
				bits := splitmix(state)
				state += splitmixGamma
				keep[i] = above(uint32(bits), threshold)
				if i+1 < len(xs) {
					keep[i+1] = above(uint32(bits>>32), threshold)
				}
			}
			for i, v := range xs {
				ys[i] = v * factor[keep[i]&1]
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
			dx[i] += d * factor[keep[i]&1]
		}
	})
	return o.y
}

// above returns 1 if v >= threshold, else 0.
func above(v, threshold uint32) uint8 {
	if v >= threshold {
		return 1
	}
	return 0
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
