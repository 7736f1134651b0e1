package engine

import (
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// directConv computes a 1×1, stride-1, unpadded convolution of one block: its im2col rows are
// x's rows, so its forward is one product of them, read in place, per tile of convTile pixels,
// its input gradient dX = dY·Wᵀ row by row and its weight gradient one product over a segment's
// rows. A deferred BatchNorm is applied as the rows are copied into a tile, tile by tile.
//
// A product whose rows are wider than a microtile (more than convBlockWidth channels: the
// forward's filters, the input gradient's input channels) is computed in worker's outTile and
// then stored (staged). Written in place, where each microtile stores lines a row apart, 1×1
// convolutions from 32 to 64 and 64 to 32 channels at 28×28 ran 10–15% slower; rows of 16
// channels, whose microtiles store lines one after the other, and im2col's products measured no
// faster staged.
type directConv struct{}

func newDirectConv(o *convOp) directConv {
	o.colSize = convTile * o.in.C // the normalised input rows of a deferred BatchNorm
	if staged(o.s.Filters) || staged(o.in.C) {
		o.colSize += convTile * max(o.s.Filters, o.in.C)
	}
	return directConv{}
}

// staged reports whether a product whose rows have ch channels is computed in outTile and then
// stored.
func staged(ch int) bool { return ch > convBlockWidth }

func (directConv) String() string         { return "direct-1x1" }
func (directConv) overwrites() bool       { return true }
func (directConv) prepare(*convOp, bool)  {}
func (directConv) prepareDual(*convOp)    {}
func (directConv) finish(*convOp)         {}
func (directConv) gradRows(o *convOp) int { return o.pixels() }
func (directConv) forwardChunks(o *convOp) int {
	return parallel.Chunks(o.g.n*o.pixels(), convTile)
}

func (a directConv) forward(o *convOp, w, i int) { o.forwardTile(w, i, a, staged(o.s.Filters)) }

// tile returns x's rows [r0, r1) in place, or normalised into worker w's tile for a deferred
// BatchNorm.
func (directConv) tile(o *convOp, w, r0, r1 int) ([]float32, int) {
	c := o.in.C
	if o.norm != nil {
		col, n := o.col(w)[:(r1-r0)*c], o.norm
		bnNormalize(o.rows[r0*c:r1*c], col, c, n.scale, n.shift, n.relu)
		return col, c
	}
	return o.x.Value[r0*c:], c
}

func (directConv) dataChunks(o *convOp) int { return parallel.Chunks(o.g.n*o.in.H*o.in.W, convTile) }

// backwardData computes dX = dY·Wᵀ for tile i of input pixels.
func (directConv) backwardData(o *convOp, w, i int) {
	cin, cout := o.in.C, o.s.Filters
	dy, dx := o.y.Grad, o.x.Grad
	r0, r1 := parallel.Span(i, o.g.n*o.in.H*o.in.W, convTile)
	if !staged(cin) {
		gemm.Sgemm(false, true, r1-r0, cin, cout, 1, dy[r0*cout:], cout, o.blockWeights(), cout, o.dxBeta, dx[r0*cin:], cin)
		return
	}
	dxs := dx[r0*cin : r1*cin]
	t := o.outTile(w)[:len(dxs)]
	gemm.Sgemm(false, true, r1-r0, cin, cout, 1, dy[r0*cout:], cout, o.blockWeights(), cout, 0, t, cin)
	put(dxs, t, o.dxBeta != 0)
}

// weightGrad is one product over the segment's rows, x read in place, or tile by tile for a
// deferred BatchNorm.
func (a directConv) weightGrad(o *convOp, w, seg int, dw []float32) {
	if o.norm != nil {
		o.weightGradTiles(w, seg, dw, a)
		return
	}
	hw, cout := o.pixels(), o.s.Filters
	n0, n1 := o.segment(seg)
	r0, r1 := n0*hw, n1*hw
	gemm.Sgemm(true, false, o.k, o.bf, r1-r0, 1, o.x.Value[r0*o.in.C:], o.in.C, o.y.Grad[r0*cout:], cout, 0, dw, o.bf)
}
