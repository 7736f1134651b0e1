package engine

import "fmt"

// groupedConv computes a convolution whose groups have 4 or 8 input and as many output channels
// group by group, without GEMMs (grouped.go): merged into blocks of convBlockWidth filters they
// would spend 4 or 2 times the multiply-adds on the zeros between groups. Its output, input
// gradient and weight gradient, at any stride, are gathers that read the images in place; a
// segment's partial weight gradient is laid out as the kernels' packed weights.
type groupedConv struct{ k *grouped }

func newGroupedConv(o *convOp, gs int) groupedConv {
	k := newGrouped(o.s, o.in, o.out, gs, o.g.pool.Threads())
	o.partIndex = k.fwdIndex
	return groupedConv{k}
}

func (a groupedConv) String() string       { return fmt.Sprintf("grouped-%d", a.k.gs) }
func (groupedConv) overwrites() bool       { return true }
func (groupedConv) finish(*convOp)         {}
func (groupedConv) gradRows(o *convOp) int { return o.pixels() }

// prepare packs the forward's weights.
func (a groupedConv) prepare(o *convOp, weights bool) {
	if weights {
		a.k.packForward(o.fwdW)
	}
}

func (a groupedConv) forwardChunks(o *convOp) int { return o.g.n * a.k.fwd.bands() }

// forward gathers band i of the output, then applies the epilogue in place.
func (a groupedConv) forward(o *convOp, w, i int) {
	cout, y := o.s.Filters, o.fwdOut
	p0, p1 := a.k.run(&a.k.fwd, w, o.x.Value, y, a.k.forwardWeights(o.fwdW), i, false)
	ys := y[p0*cout : p1*cout]
	o.fwdEpi.apply(ys, ys, cout, p0*cout)
}

func (a groupedConv) prepareDual(o *convOp)    { a.k.packDual(o.w.Value) }
func (a groupedConv) dataChunks(o *convOp) int { return o.g.n * a.k.dual.bands() }

func (a groupedConv) backwardData(o *convOp, w, i int) {
	a.k.run(&a.k.dual, w, o.y.Grad, o.x.Grad, a.k.wd, i, o.dxBeta != 0)
}

func (a groupedConv) weightGrad(o *convOp, w, seg int, dw []float32) {
	clear(dw)
	n0, n1 := o.segment(seg)
	v := &a.k.fwd
	for i := n0 * v.bands(); i < n1*v.bands(); i++ {
		a.k.weightGrad(dw, w, o.x.Value, o.y.Grad, i)
	}
}
