package engine

import (
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// windowedConv computes a stride-1 convolution on bands of output rows. The band's input rows
// are copied, zero-padded on every side, into a buffer where each kernel row's taps are KW
// contiguous pixels, so that the windows of consecutive output pixels are overlapping rows of
// the buffer, one pixel apart, which the GEMM reads in place: the output is the sum over kernel
// rows kh of one product each, of depth KW·C. The products run over the padded row width, so
// each band row yields KW−1 surplus pixels that are dropped.
//
// Its input gradient is the windowed convolution of the output's gradient with the flipped,
// transposed weights wt, [block][kh][kw][bf][bc], and the complementary padding KH−1−PadH, which
// writes every input pixel's gradient once; by Winograd's transform (dual, not nil) when that
// convolution is a 3×3 one that Winograd's takes. Its weight gradient is, for each kernel row,
// the product of the transposed windows with the output's gradient.
type windowedConv struct {
	fwdWin, dualWin window
	wt              []float32
	// dual and uDual, when not nil, compute the input gradient by Winograd's transform, with
	// the transformed flipped weights uDual.
	dual  *winograd
	uDual []float32
}

func newWindowedConv(o *convOp) *windowedConv {
	s, in, out := o.s, o.in, o.out
	a := &windowedConv{
		fwdWin:  newWindow(in, out, s.KH, s.KW, s.PadH, s.PadW, o.blocks),
		dualWin: newWindow(out, in, s.KH, s.KW, s.KH-1-s.PadH, s.KW-1-s.PadW, o.blocks),
		wt:      make([]float32, o.partW),
	}
	o.colSize = max(a.fwdWin.size(), a.dualWin.size())
	if usesWinograd(ConvSpec{KH: s.KH, KW: s.KW, Stride: 1, PadH: s.KH - 1 - s.PadH, PadW: s.KW - 1 - s.PadW}, out, o.blocks) {
		a.dual = newWinograd(winogradFormOf(in), out, in, s.KH-1-s.PadH, s.KW-1-s.PadW, o.g.batch)
		a.uDual = make([]float32, a.dual.products()*in.C*out.C)
		o.colSize = max(o.colSize, a.dual.size())
	}
	return a
}

func (a *windowedConv) String() string {
	if a.dual != nil {
		return "windowed, input gradient " + a.dual.String()
	}
	return "windowed"
}

func (*windowedConv) overwrites() bool       { return true }
func (*windowedConv) prepare(*convOp, bool)  {}
func (*windowedConv) finish(*convOp)         {}
func (*windowedConv) gradRows(o *convOp) int { return o.pixels() }

func (a *windowedConv) forwardChunks(o *convOp) int { return o.g.n * a.fwdWin.bands() }

// forward computes band i of the batch's output rows.
func (a *windowedConv) forward(o *convOp, w, i int) {
	cout, v := o.s.Filters, &a.fwdWin
	n, oh0, oh1 := v.band(i)
	buf, temp := v.buffers(o.col(w))
	v.pad(buf, o.x.Value[n*o.in.Size():][:o.in.Size()], oh0, oh1)
	v.multiply(temp, buf, o.fwdW, oh1-oh0, o.bf, cout)
	r0, r1 := (n*o.out.H+oh0)*o.out.W, (n*o.out.H+oh1)*o.out.W
	v.store(o.fwdOut[r0*cout:r1*cout], temp, oh1-oh0, cout, false, o.fwdEpi, r0*cout)
}

// prepareDual sets the dual convolution's weights: wt[b][kh][kw][f][c] =
// w[b][KH−1−kh][KW−1−kw][c][f], and Winograd's transform of them.
func (a *windowedConv) prepareDual(o *convOp) {
	taps, wts := o.s.KH*o.s.KW, o.blockWeights()
	for b := range o.blocks {
		for tap := range taps {
			src := wts[(b*taps+taps-1-tap)*o.bc*o.bf:][:o.bc*o.bf]
			dst := a.wt[(b*taps+tap)*o.bf*o.bc:][:o.bf*o.bc]
			for c := range o.bc {
				for f, v := range src[c*o.bf : (c+1)*o.bf] {
					dst[f*o.bc+c] = v
				}
			}
		}
	}
	if a.dual != nil {
		a.dual.transformWeights(a.uDual, a.wt)
	}
}

func (a *windowedConv) dataChunks(o *convOp) int {
	if a.dual != nil {
		return a.dual.chunks(o.g.n)
	}
	return o.g.n * a.dualWin.bands()
}

// backwardData computes chunk i of the input gradient: a band of the dual convolution, or a
// chunk of Winograd's.
func (a *windowedConv) backwardData(o *convOp, w, i int) {
	cin, dy, dx := o.in.C, o.y.Grad, o.x.Grad
	if a.dual != nil {
		a.dual.convolve(o.col(w), dy, dx, a.uDual, o.g.n, i, o.dxBeta != 0, epilogue{})
		return
	}
	v := &a.dualWin
	n, ih0, ih1 := v.band(i)
	buf, temp := v.buffers(o.col(w))
	v.pad(buf, dy[n*o.out.Size():][:o.out.Size()], ih0, ih1)
	v.multiply(temp, buf, a.wt, ih1-ih0, o.bc, cin)
	r0, r1 := (n*o.in.H+ih0)*o.in.W, (n*o.in.H+ih1)*o.in.W
	v.store(dx[r0*cin:r1*cin], temp, ih1-ih0, cin, o.dxBeta != 0, epilogue{}, 0)
}

// weightGrad sums, band by band of the segment's images, the transposed windows of the input
// rows (o.rows, normalised as fwdWin.norm says) times dY.
func (a *windowedConv) weightGrad(o *convOp, w, seg int, dw []float32) {
	cout, dy, v := o.s.Filters, o.y.Grad, &a.fwdWin
	n0, n1 := o.segment(seg)
	buf, dyp := v.buffers(o.col(w))
	var beta float32 // the first product overwrites the partial left by the previous step
	for i := n0 * v.bands(); i < n1*v.bands(); i++ {
		n, oh0, oh1 := v.band(i)
		v.pad(buf, o.rows[n*o.in.Size():][:o.in.Size()], oh0, oh1)
		r0 := (n*o.out.H + oh0) * o.out.W
		v.spread(dyp, dy[r0*cout:], oh1-oh0, cout)
		v.weightGrad(dw, buf, dyp, oh1-oh0, o.bf, cout, beta)
		beta = 1
	}
}

// window is the geometry of a windowed (stride-1) convolution of src, an H×W×C image whose
// channels are cut into blocks of width, giving outH×outW pixels of filters channels. It is
// computed in bands of up to rows output rows. A band's padded input holds, block after block,
// its input rows of wp = outW+kw−1 pixels and convRowMultiple zero pixels of slack; its output
// rows span wp pixels, of which the last kw−1 are surplus.
type window struct {
	src                     Shape
	outH, outW, filters     int
	kh, kw, padH, padW      int
	blocks, width, wp, rows int
	// norm, when not nil, is applied to the input rows as pad copies them (one block only).
	norm *rowNorm
}

// rowNorm is a per-channel affine map, x·scale + shift, and a ReLU if relu: a deferred
// BatchNorm's, applied by the convolution that reads its output.
type rowNorm struct {
	scale, shift []float32
	relu         bool
}

// convRowMultiple is a multiple of every GEMM microkernel's height (24 and 6): a windowed product
// runs over a multiple of it, a few surplus rows more, so that the GEMM never packs a partial
// microtile of the windows.
const convRowMultiple = 24

func newWindow(src, out Shape, kh, kw, padH, padW, blocks int) window {
	v := window{src: src, outH: out.H, outW: out.W, filters: out.C, kh: kh, kw: kw, padH: padH, padW: padW,
		blocks: blocks, width: src.C / blocks, wp: out.W + kw - 1}
	perRow := v.wp * (src.C + out.C)
	v.rows = min(out.H, max(1, (convBand-(kh-1)*v.wp*src.C)/perRow))
	return v
}

// blockLen is the length of one block's padded input for a band of rows output rows.
func (v *window) blockLen(rows int) int { return ((rows+v.kh-1)*v.wp + convRowMultiple) * v.width }

// size is the length of the buffers of one band: padded input, then output rows.
func (v *window) size() int {
	return v.blocks*v.blockLen(v.rows) + (v.rows*v.wp+convRowMultiple)*v.filters
}

// buffers cuts a band's padded input and output rows from col.
func (v *window) buffers(col []float32) (in, out []float32) {
	n := v.blocks * v.blockLen(v.rows)
	return col[:n], col[n:v.size()]
}

// bands is how many bands an image has.
func (v *window) bands() int { return parallel.Chunks(v.outH, v.rows) }

// band returns band i of the batch: its image and its output rows [oh0, oh1).
func (v *window) band(i int) (n, oh0, oh1 int) {
	n, i = i/v.bands(), i%v.bands()
	oh0, oh1 = parallel.Span(i, v.outH, v.rows)
	return n, oh0, oh1
}

// pad fills buf with the input rows that output rows [oh0, oh1) of img see, zero-padded, block
// by block: row i of block b holds input row oh0−padH+i, its pixel j column j−padW.
func (v *window) pad(buf, img []float32, oh0, oh1 int) {
	rows, c, w := oh1-oh0+v.kh-1, v.src.C, v.src.W
	right := v.wp - v.padW - w
	for b := range v.blocks {
		blk := buf[b*v.blockLen(oh1-oh0):][:v.blockLen(oh1-oh0)]
		clear(blk[rows*v.wp*v.width:])
		for i := range rows {
			row := blk[i*v.wp*v.width:][:v.wp*v.width]
			ih := oh0 - v.padH + i
			if ih < 0 || ih >= v.src.H {
				clear(row)
				continue
			}
			clear(row[:v.padW*v.width])
			clear(row[(v.padW+w)*v.width:][:right*v.width])
			if v.blocks == 1 {
				dst, src := row[v.padW*c:(v.padW+w)*c], img[ih*w*c:][:w*c]
				if n := v.norm; n != nil {
					bnNormalize(src, dst, c, n.scale, n.shift, n.relu)
				} else {
					copy(dst, src)
				}
				continue
			}
			copyRows(row[v.padW*v.width:], v.width, img[ih*w*c+b*v.width:], c, v.width, w)
		}
	}
}

// products returns the number of product rows of a band of rows output rows: all their padded
// pixels but the last row's surplus.
func (v *window) products(rows int) int { return (rows-1)*v.wp + v.outW }

// multiply sets out, rows rows of wp pixels with ldc channels, to the band's convolution with
// the blocks' weights wts: block b's bf filters at columns b·bf, the sum over kernel rows kh of
// the windows starting in padded row kh, read in place as rows one pixel apart, times wts's rows
// [b][kh].
func (v *window) multiply(out, buf, wts []float32, rows, bf, ldc int) {
	k := v.kw * v.width
	m := (v.products(rows) + convRowMultiple - 1) / convRowMultiple * convRowMultiple
	for b := range v.blocks {
		blk := buf[b*v.blockLen(rows):]
		for kh := range v.kh {
			var beta float32
			if kh > 0 {
				beta = 1
			}
			gemm.Sgemm(false, false, m, bf, k, 1, blk[kh*v.wp*v.width:], v.width,
				wts[(b*v.kh+kh)*k*bf:], bf, beta, out[b*bf:], ldc)
		}
	}
}

// store moves rows output rows of ldc channels from out, wp pixels apart, to dst, dropping the
// surplus pixels: it sets them with the epilogue e applied (dst being the output's rows from
// offset at on), or with add adds them.
func (v *window) store(dst, out []float32, rows, ldc int, add bool, e epilogue, at int) {
	storeRows(dst, out, rows, v.outW*ldc, v.wp*ldc, ldc, add, e, at)
}

// storeRows moves rows rows of n float32s, ld apart in out, to dst, where they follow each other:
// it sets them with the epilogue e applied (rows of c channels, dst being the output's rows from
// offset at on), or with add adds them.
func storeRows(dst, out []float32, rows, n, ld, c int, add bool, e epilogue, at int) {
	switch {
	case add:
		for i := range rows {
			put(dst[i*n:(i+1)*n], out[i*ld:], true)
		}
	case e.bias == nil && !e.relu && e.res == nil:
		copyRows(dst, n, out, ld, n, rows)
	case ld == n:
		e.apply(dst[:rows*n], out[:rows*n], c, at)
	default:
		for i := range rows {
			e.apply(dst[i*n:(i+1)*n], out[i*ld:][:n], c, at+i*n)
		}
	}
}

// spread copies rows output rows of dy (ldc channels) into dyp with the pitch of the band's
// products, zeros in the surplus pixels, so that those contribute nothing to the weight gradient.
func (v *window) spread(dyp, dy []float32, rows, ldc int) {
	n := v.outW * ldc
	for i := range rows {
		row := dyp[i*v.wp*ldc:][:v.wp*ldc]
		copy(row[:n], dy[i*n:])
		clear(row[n:])
	}
}

// weightGrad adds to dw (set with beta 0) the weight gradient of a band of rows output rows: for
// block b and kernel row kh, dw[b][kh] = Σ windowsᵀ·dY over the band's product rows, dY spread
// by spread.
func (v *window) weightGrad(dw, buf, dyp []float32, rows, bf, ldc int, beta float32) {
	k, m := v.kw*v.width, v.products(rows)
	for b := range v.blocks {
		blk := buf[b*v.blockLen(rows):]
		for kh := range v.kh {
			gemm.Sgemm(true, false, k, bf, m, 1, blk[kh*v.wp*v.width:], v.width,
				dyp[b*bf:], ldc, beta, dw[(b*v.kh+kh)*k*bf:], bf)
		}
	}
}
