package engine

import (
	"math"

	"github.com/gonas/nas/engine/parallel"
)

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
	// set makes backward set x's gradient instead of adding to it (see overwriter).
	set bool
	// fused marks a ReLU that the BatchNorm or Add producing x applies in place (see fuseReLU):
	// this op then does nothing.
	fused bool
}

func (o *reluOp) configure(p *plan) { o.fused = p.step(o.y).inPlace }

// ReLU adds y = max(x, 0).
func (g *Graph) ReLU(x *Node) *Node {
	o := &reluOp{x: x}
	o.y = g.addNode(x.Name+".relu", x.Shape, o, x)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) { relu(x.Value[lo:hi], o.y.Value[lo:hi]) })
	o.bwd = newElementwise(g, o.y, func(lo, hi int) {
		// The output, not the input, decides the mask, so ReLU may run in place of its input.
		reluGrad(o.y.Value[lo:hi], o.y.Grad[lo:hi], x.Grad[lo:hi], !o.set)
	})
	return o.y
}

func (o *reluOp) overwrite(int) bool {
	o.set = true
	return true
}

func (o *reluOp) forward(*Graph) {
	if !o.fused {
		o.fwd.run()
	}
}

func (o *reluOp) backward(*Graph) {
	if o.x.Grad != nil && !o.fused {
		o.bwd.run()
	}
}

// relu sets y = max(x, 0); y may be x.
func relu(x, y []float32) {
	y = y[:len(x)]
	for i := reluVec(x, y); i < len(x); i++ {
		y[i] = reluOf(x[i])
	}
}

// reluOf is max(v, 0) as the AVX2 kernels compute it: v unless v < 0, so that a NaN passes, as it
// does in PyTorch, to show up in the loss.
func reluOf(v float32) float32 {
	if v < 0 {
		return 0
	}
	return v
}

// reluGrad sets dx to dy where y > 0 and to 0 elsewhere, or with accumulate adds that to dx. y is
// the ReLU's output; dx may be dy, to mask it in place.
func reluGrad(y, dy, dx []float32, accumulate bool) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	i := reluGradVec(y, dy, dx, accumulate)
	if accumulate {
		for ; i < len(y); i++ {
			dx[i] += math.Float32frombits(math.Float32bits(dy[i]) & positive(y[i]))
		}
		return
	}
	for ; i < len(y); i++ {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & positive(y[i]))
	}
}

// positive returns all ones when v > 0 and zero otherwise (for a NaN too), like the AVX2
// kernel's comparison. A mask, unlike a branch, costs the same on the random signs of
// activations as on predictable ones: v > 0 exactly when the bits of v, as an int32, lie in
// [1, the bits of +∞].
func positive(v float32) uint32 {
	return uint32((int64(uint32(int32(math.Float32bits(v))-1)) - 0x7f800000) >> 63)
}

// filled returns n float32s of value v.
func filled(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// put sets dst to src, or with add adds src to dst.
func put(dst, src []float32, add bool) {
	if !add {
		copy(dst, src)
		return
	}
	addScaled(dst, dst, src, 1)
}

// addScaled sets y = a + s·b elementwise; y may be a or b.
func addScaled(y, a, b []float32, s float32) {
	a, b = a[:len(y)], b[:len(y)]
	for i := addScaledVec(y, a, b, s); i < len(y); i++ {
		y[i] = a[i] + s*b[i]
	}
}

// copyRows copies rows of n float32s: dst[r·dstStride+i] = src[r·srcStride+i] for r < rows and
// i < n. It panics, before copying anything, if a slice is too short.
func copyRows(dst []float32, dstStride int, src []float32, srcStride int, n, rows int) {
	if rows <= 0 || n <= 0 {
		return
	}
	_, _ = dst[(rows-1)*dstStride+n-1], src[(rows-1)*srcStride+n-1]
	if copyRowsVec(dst, dstStride, src, srcStride, n, rows) {
		return
	}
	for r := range rows {
		copy(dst[r*dstStride:r*dstStride+n], src[r*srcStride:])
	}
}
