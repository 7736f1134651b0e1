package engine

import "fmt"

// winogradConv computes a 3×3, stride-1 convolution of one block with at least 8 channels by
// Winograd's F(4×4, 3×3), or F(2×2, 3×3) for the few image sizes where that takes fewer products
// (winograd.go): 36 multiply-adds per 4×4 output tile, channel and filter where the definition
// takes 144. Its input gradient is the windowed convolution's (by Winograd's transform too when
// the filters are 8 or more), and so is its weight gradient below winogradGradMinChannels input
// channels or with merged groups; from there it is Winograd's, whose segments' partials hold its
// transform dU, summed into du and transformed once. A deferred BatchNorm is applied as the input
// rows are padded, in the forward and in the weight gradient.
type winogradConv struct {
	*windowedConv
	fwd *winograd
	// u is the transformed weights; du, when not nil, the summed transform of the weight
	// gradient.
	u, du []float32
}

func newWinogradConv(o *convOp, w *windowedConv) *winogradConv {
	in, out := o.in, o.out
	a := &winogradConv{windowedConv: w, fwd: newWinograd(winogradFormOf(out), in, out, o.s.PadH, o.s.PadW, o.g.batch)}
	a.u = make([]float32, a.fwd.products()*in.C*out.C)
	o.colSize = max(o.colSize, a.fwd.size())
	// Winograd's weight gradient is the merged block's, dense; merged groups (sb > 1) keep the
	// windowed one, whose partials sumSpan maps back to the groups' weights.
	if in.C >= winogradGradMinChannels && o.sb == 1 {
		a.du = make([]float32, a.fwd.products()*in.C*out.C)
		o.partW, o.gradSum, o.gradSet = len(a.du), a.du, true
	}
	return a
}

func (a *winogradConv) String() string {
	s := a.fwd.String()
	if a.dual != nil {
		s += ", input gradient " + a.dual.String()
	} else {
		s += ", input gradient windowed"
	}
	if a.du == nil {
		s += ", weight gradient windowed"
	}
	return s
}

// prepare has the input rows padded with the deferred BatchNorm, if any, applied, and
// transforms the weights.
func (a *winogradConv) prepare(o *convOp, weights bool) {
	a.fwd.pad.norm, a.fwdWin.norm = o.norm, o.norm
	if weights {
		a.fwd.transformWeights(a.u, o.fwdW)
	}
}

func (a *winogradConv) forwardChunks(o *convOp) int { return a.fwd.chunks(o.g.n) }

func (a *winogradConv) forward(o *convOp, w, i int) {
	a.fwd.convolve(o.col(w), o.rows, o.fwdOut, a.u, o.g.n, i, false, o.fwdEpi)
}

func (a *winogradConv) gradRows(o *convOp) int {
	if a.du == nil {
		return o.pixels()
	}
	return a.fwd.tilesH * a.fwd.tilesW
}

func (a *winogradConv) weightGrad(o *convOp, w, seg int, dw []float32) {
	if a.du == nil {
		a.windowedConv.weightGrad(o, w, seg, dw)
		return
	}
	n0, n1 := o.segment(seg)
	a.fwd.weightGrad(o.col(w), o.rows, o.y.Grad, dw, n0, n1)
}

// finish adds the weight gradient transformed back from du.
func (a *winogradConv) finish(o *convOp) {
	if a.du != nil {
		a.fwd.addWeightGrad(o.w.Grad, a.du)
	}
}

// String names the form, F(m×m, 3×3).
func (v *winograd) String() string { return fmt.Sprintf("winograd-F(%dx%d,3x3)", v.m, v.m) }
