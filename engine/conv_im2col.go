package engine

import (
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// im2colConv computes a convolution that no other algorithm takes (a strided one, mostly): each
// tile of convTile output pixels copies its pixels' windows into the rows of a tile (im2col) for
// one product of depth KH·KW·bc per block. Its input gradient computes the gradient of each
// im2col row and adds it back to the pixels it came from (col2im), a whole image per chunk so
// that no two chunks add into the same pixel.
type im2colConv struct{ l lowering }

func newIm2colConv(o *convOp) *im2colConv {
	s := o.s
	o.colSize = convTile * o.blocks * o.k
	return &im2colConv{l: lowering{src: o.in, outH: o.out.H, outW: o.out.W, kh: s.KH, kw: s.KW, stride: s.Stride,
		padH: s.PadH, padW: s.PadW, blocks: o.blocks, width: o.bc}}
}

func (*im2colConv) String() string           { return "im2col" }
func (*im2colConv) overwrites() bool         { return false }
func (*im2colConv) prepare(*convOp, bool)    {}
func (*im2colConv) prepareDual(*convOp)      {}
func (*im2colConv) finish(*convOp)           {}
func (*im2colConv) gradRows(o *convOp) int   { return o.pixels() }
func (*im2colConv) dataChunks(o *convOp) int { return o.g.n }
func (*im2colConv) forwardChunks(o *convOp) int {
	return parallel.Chunks(o.g.n*o.pixels(), convTile)
}

func (a *im2colConv) forward(o *convOp, w, i int) { o.forwardTile(w, i, a, false) }

// tile fills worker w's tile with the im2col rows [r0, r1).
func (a *im2colConv) tile(o *convOp, w, r0, r1 int) ([]float32, int) {
	col := o.col(w)
	a.l.lower(col, o.x.Value, r0, r1)
	return col, a.l.rowLen()
}

// backwardData adds image i's input gradient: dcol = dY·Wᵀ for its rows, scattered back by col2im.
func (a *im2colConv) backwardData(o *convOp, w, i int) {
	cout, dy := o.s.Filters, o.y.Grad
	hw, wts, col := o.pixels(), o.blockWeights(), o.col(w)
	for t0 := i * hw; t0 < (i+1)*hw; t0 += convTile {
		t1 := min(t0+convTile, (i+1)*hw)
		for b := range o.blocks {
			gemm.Sgemm(false, true, t1-t0, o.k, o.bf, 1, dy[t0*cout+b*o.bf:], cout,
				wts[b*o.k*o.bf:], o.bf, 0, col[b*o.k:], o.blocks*o.k)
		}
		a.l.scatter(col, o.x.Grad, t0, t1)
	}
}

func (a *im2colConv) weightGrad(o *convOp, w, seg int, dw []float32) {
	o.weightGradTiles(w, seg, dw, a)
}

// lowering is an im2col: row r is pixel (n, oh, ow) of an outH×outW grid, which sees the kh×kw
// window at (oh·stride − padH, ow·stride − padW) of image n of src (images of src.Size() float32s).
// src's channels are cut into blocks of width; the row holds the window block by block, each
// [kh][kw][channel], with zeros where the window covers padding.
type lowering struct {
	src                        Shape
	outH, outW                 int
	kh, kw, stride, padH, padW int
	blocks, width              int
}

// rowLen is the length of an im2col row.
func (l *lowering) rowLen() int { return l.blocks * l.kh * l.kw * l.width }

// lower sets rows [r0, r1) of col, stored from col[0] with row stride rowLen, from the images x.
func (l *lowering) lower(col, x []float32, r0, r1 int) {
	l.each(col, x, r0, r1, false)
}

// scatter adds rows [r0, r1) of col back to the image pixels they came from (col2im); entries
// that lie in the padding are dropped.
func (l *lowering) scatter(col, x []float32, r0, r1 int) {
	l.each(col, x, r0, r1, true)
}

// each walks rows [r0, r1), moving every kernel row's run of pixels inside the image between col
// and x: copying it to col, or with add adding it to x. Without add it clears the entries that lie
// in the padding. A block's taps of one kernel row are contiguous in x only when there is one
// block, so then a kernel row moves in one run, and the rows of a stretch of pixels whose windows
// lie inside the image move with one copyRows per kernel row.
func (l *lowering) each(col, x []float32, r0, r1 int, add bool) {
	c, size, rowLen := l.src.C, l.src.Size(), l.rowLen()
	k, run, width := l.kh*l.kw*l.width, l.kw*l.width, l.width
	hw := l.outH * l.outW
	// Windows of output columns [owIn, owOut) lie inside the image along W.
	owIn, owOut := min(l.outW, (l.padW+l.stride-1)/l.stride), 0
	if last := l.src.W + l.padW - l.kw; last >= 0 {
		owOut = min(l.outW, last/l.stride+1)
	}
	n, p := r0/hw, r0%hw
	oh, ow := p/l.outW, p%l.outW
	for r := r0; r < r1; {
		row := col[(r-r0)*rowLen:]
		img := x[n*size:][:size]
		ih0, iw0 := oh*l.stride-l.padH, ow*l.stride-l.padW
		if span := min(owOut-ow, r1-r); !add && span > 0 && ow >= owIn && ih0 >= 0 && ih0+l.kh <= l.src.H {
			for kh := range l.kh {
				at := ((ih0+kh)*l.src.W + iw0) * c
				if l.blocks == 1 {
					copyRows(row[kh*run:], rowLen, img[at:], l.stride*c, run, span)
					continue
				}
				for b := range l.blocks {
					for kw := range l.kw {
						copyRows(row[b*k+kh*run+kw*width:], rowLen, img[at+kw*c+b*width:], l.stride*c, width, span)
					}
				}
			}
			r, ow = r+span, ow+span
		} else {
			row = row[:rowLen]
			// Taps [kw0, kw1) of a kernel row lie inside the image.
			kw0, kw1 := max(0, -iw0), max(0, min(l.kw, l.src.W-iw0))
			for kh := range l.kh {
				ih := ih0 + kh
				inside := ih >= 0 && ih < l.src.H && kw0 < kw1
				for b := range l.blocks {
					seg := row[b*k+kh*run:][:run]
					switch {
					case !inside:
						if !add {
							clear(seg)
						}
						continue
					case add:
					case kw0 > 0 || kw1 < l.kw:
						clear(seg[:kw0*width])
						clear(seg[kw1*width:])
					}
					at := (ih*l.src.W+iw0)*c + b*width
					if l.blocks == 1 {
						move(seg[kw0*width:kw1*width], img[at+kw0*c:], add)
						continue
					}
					for kw := kw0; kw < kw1; kw++ {
						move(seg[kw*width:(kw+1)*width], img[at+kw*c:], add)
					}
				}
			}
			r, ow = r+1, ow+1
		}
		if ow == l.outW {
			ow = 0
			if oh++; oh == l.outH {
				oh = 0
				n++
			}
		}
	}
}

// move copies x into d, or with add adds d to x.
func move(d, x []float32, add bool) {
	if add {
		put(x[:len(d)], d, true)
		return
	}
	copy(d, x)
}
