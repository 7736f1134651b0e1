package engine

import (
	"fmt"
	"math"

	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// ConvSpec describes a 2-D convolution. Stride applies to both axes; PadH and PadW are zero padding
// on each side; Groups divides both input and output channels (Groups == C for depthwise), and 0
// means 1. Bias adds a learned per-filter bias.
type ConvSpec struct {
	Filters, KH, KW, Stride, PadH, PadW, Groups int
	Bias                                        bool
}

// A convolution is lowered to GEMMs over its output pixels, the rows of the products: row r is
// pixel (n, oh, ow) of the output, and its im2col row holds the input patch that pixel sees.
//
// Groups are merged into blocks of sb consecutive groups, enough for a block to have at least
// convBlockWidth filters, so that a product is at least as wide as a microkernel: a block is a
// convolution from bc = sb·Cin/G input to bf = sb·Cout/G output channels whose weights are zero
// between different groups. That spends sb times the multiply-adds of the groups alone, which
// costs less than products a few columns wide. A block's im2col columns are contiguous, laid out
// [kh][kw][channel of the block], and the blocks' weights are K×bf matrices,
// [block][kh][kw][bc][bf], with K = KH·KW·bc. Without merging (sb = 1) that is the layout of the
// weight parameter, [G][KH][KW][Cin/G][Cout/G].
//
// The input gradient of a stride-1 convolution is the convolution of the output's gradient with
// the flipped, transposed weights and the complementary padding KH−1−PadH, so it is lowered the
// same way, to products that write every input pixel's gradient once; other convolutions compute
// the gradient of each im2col row and add it back to the pixels it came from (col2im).
const (
	// convTile is how many rows one im2col-and-GEMM step lowers: a tile's im2col rows stay in
	// the worker's cache while the GEMM reads them.
	convTile = 192
	// convBlockWidth is the fewest filters a block of merged groups should have: the width of the
	// AVX-512 microkernel.
	convBlockWidth = 16
	// convMaxSegments is how many fixed segments of the batch the weight gradient is cut into at
	// most; each accumulates its own partial gradient, summed in segment order afterwards.
	convMaxSegments = 16
	// convPartialBudget is how many float32s of partial weight gradients a wide layer may hold
	// before it uses fewer segments, trading parallelism for memory.
	convPartialBudget = 1 << 22
	// convSumSpan is how many gradient elements one chunk of the partial-gradient sum covers.
	convSumSpan = 1 << 12
)

type convOp struct {
	x, y    *Node
	w, b    *Param
	s       ConvSpec
	in, out Shape
	// sb groups form a block; there are blocks of them, each with bc input and bf output channels
	// and products of depth k = KH·KW·bc.
	sb, blocks, bc, bf, k int
	// direct marks a 1×1, stride-1, unpadded conv of one block, whose im2col rows are x's rows.
	direct bool
	// lowerX is x's im2col. With dual set, lowerDY is the output gradient's im2col for the input
	// gradient, a convolution of depth kd = KH·KW·bf with weights wt, [block][kh][kw][bf][bc].
	lowerX, lowerDY lowering
	dual            bool
	// dxBeta is 0 when backward sets x's gradient instead of adding to it (see overwrite).
	dxBeta float32
	kd     int
	wt     []float32
	// wx holds the blocks' weights when groups are merged (sb > 1), zero between groups, and
	// wxIndex the place in wx of each weight. With sb = 1 the weights are used as they are.
	wx      []float32
	wxIndex []int32
	// segImages is how many images one weight-gradient segment covers.
	segImages int
	// In g.scratch: partial gradients (the blocks' weights, laid out as wx, then the bias) of
	// size part for each segment, then from colOffset one im2col tile of colSize per worker.
	part, colOffset, colSize int
	g                        *Graph
	fwd, bwd, sum            func(w, i int)
}

// Conv2D adds a 2-D convolution with Filters output channels; the output is Ho×Wo×Filters with
// Ho = ⌊(H+2·PadH-KH)/Stride⌋+1 and Wo likewise. The weights start as torchvision's:
// Kaiming-normal in fan-out mode, standard deviation √(2/(Filters·KH·KW)); the bias, a NoDecay
// parameter, uniform in ±1/√((C/Groups)·KH·KW) as PyTorch's default. The weight's Param shape is
// [Groups, KH, KW, C/Groups, Filters/Groups], its layout in memory.
func (g *Graph) Conv2D(x *Node, s ConvSpec) *Node {
	name := x.Name + ".conv"
	if s.Groups == 0 {
		s.Groups = 1
	}
	in := x.Shape
	if s.Filters < 1 || s.KH < 1 || s.KW < 1 || s.Stride < 1 || s.PadH < 0 || s.PadW < 0 || s.Groups < 1 {
		panic(fmt.Sprintf("engine: %s: invalid %+v: filters, kernel and stride must be positive, padding non-negative", name, s))
	}
	if in.C%s.Groups != 0 || s.Filters%s.Groups != 0 {
		panic(fmt.Sprintf("engine: %s: %d groups do not divide %d input channels and %d filters", name, s.Groups, in.C, s.Filters))
	}
	if in.H+2*s.PadH < s.KH || in.W+2*s.PadW < s.KW {
		panic(fmt.Sprintf("engine: %s: kernel %dx%d larger than padded input %v", name, s.KH, s.KW, in))
	}
	out := Shape{H: (in.H+2*s.PadH-s.KH)/s.Stride + 1, W: (in.W+2*s.PadW-s.KW)/s.Stride + 1, C: s.Filters}
	cinG, coutG := in.C/s.Groups, s.Filters/s.Groups
	o := &convOp{x: x, s: s, in: in, out: out, g: g, sb: 1, dxBeta: 1}
	for o.sb*coutG < convBlockWidth && o.sb < s.Groups {
		o.sb++
		for s.Groups%o.sb != 0 {
			o.sb++
		}
	}
	o.blocks, o.bc, o.bf = s.Groups/o.sb, o.sb*cinG, o.sb*coutG
	o.k = s.KH * s.KW * o.bc
	o.direct = s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadH == 0 && s.PadW == 0 && o.blocks == 1
	o.lowerX = lowering{src: in, outH: out.H, outW: out.W, kh: s.KH, kw: s.KW, stride: s.Stride,
		padH: s.PadH, padW: s.PadW, blocks: o.blocks, width: o.bc}
	o.dual = s.Stride == 1 && s.PadH < s.KH && s.PadW < s.KW && !o.direct
	if o.dual {
		o.kd = s.KH * s.KW * o.bf
		o.lowerDY = lowering{src: out, outH: in.H, outW: in.W, kh: s.KH, kw: s.KW, stride: 1,
			padH: s.KH - 1 - s.PadH, padW: s.KW - 1 - s.PadW, blocks: o.blocks, width: o.bf}
	}
	o.y = g.addNode(name, out, o, x)
	std := math.Sqrt(2 / float64(s.Filters*s.KH*s.KW))
	o.w = g.addParam(name+".weight", false, func(v []float32, rng *normalRand) {
		for i := range v {
			v[i] = float32(rng.Normal() * std)
		}
	}, s.Groups, s.KH, s.KW, cinG, coutG)
	o.part = o.blocks * o.k * o.bf
	if o.sb > 1 {
		o.wx = make([]float32, o.part)
		o.wxIndex = make([]int32, len(o.w.Value))
		for j := range o.wxIndex {
			o.wxIndex[j] = int32(o.blockIndex(j))
		}
	}
	if o.dual {
		o.wt = make([]float32, o.part)
	}
	if s.Bias {
		o.b = g.addParam(name+".bias", true, uniformInit(1/math.Sqrt(float64(s.KH*s.KW*cinG))), s.Filters)
		o.part += s.Filters
	}

	segments := min(g.batch, convMaxSegments, max(2, convPartialBudget/o.part))
	o.segImages = parallel.Chunks(g.batch, segments)
	o.colOffset = parallel.Chunks(g.batch, o.segImages) * o.part
	if !o.direct {
		o.colSize = convTile * o.blocks * max(o.k, o.kd)
	}
	g.reserveScratch(o.colOffset + g.pool.Threads()*o.colSize)

	o.fwd = o.forwardTile
	o.bwd = o.backwardChunk
	o.sum = o.sumSpan
	return o.y
}

// blockIndex returns where weight j, in the parameter's [G][KH][KW][Cin/G][Cout/G] layout, lies
// in the blocks' weights.
func (o *convOp) blockIndex(j int) int {
	cinG, coutG := o.bc/o.sb, o.bf/o.sb
	co := j % coutG
	j /= coutG
	ci := j % cinG
	j /= cinG
	tap := j % (o.s.KH * o.s.KW)
	grp := j / (o.s.KH * o.s.KW)
	b, gi := grp/o.sb, grp%o.sb
	return ((b*o.s.KH*o.s.KW+tap)*o.bc+gi*cinG+ci)*o.bf + gi*coutG + co
}

// blockWeights returns the blocks' weights: the parameter itself, or wx as the last forward set it.
func (o *convOp) blockWeights() []float32 {
	if o.wx == nil {
		return o.w.Value
	}
	return o.wx
}

// pixels is the number of output pixels, product rows, per image.
func (o *convOp) pixels() int { return o.out.H * o.out.W }

func (o *convOp) forward(g *Graph) {
	if o.wx != nil {
		for j, v := range o.w.Value {
			o.wx[o.wxIndex[j]] = v
		}
	}
	g.pool.For(parallel.Chunks(g.n*o.pixels(), convTile), o.fwd)
}

// forwardTile computes output rows [t·convTile, (t+1)·convTile).
func (o *convOp) forwardTile(w, t int) {
	r0, r1 := parallel.Span(t, o.g.n*o.pixels(), convTile)
	a, lda := o.lower(w, r0, r1)
	cout, wts := o.s.Filters, o.blockWeights()
	for b := range o.blocks {
		gemm.Sgemm(false, false, r1-r0, o.bf, o.k, 1, a[b*o.k:], lda,
			wts[b*o.k*o.bf:], o.bf, 0, o.y.Value[r0*cout+b*o.bf:], cout)
	}
	if o.b == nil {
		return
	}
	for r := r0; r < r1; r++ {
		ys := o.y.Value[r*cout : (r+1)*cout]
		for c, v := range o.b.Value {
			ys[c] += v
		}
	}
}

// backward runs the input gradient's chunks and the partial weight gradient of every segment as
// one pool job, since they write disjoint buffers, then sums the partials.
func (o *convOp) backward(g *Graph) {
	if o.x.Grad != nil && o.dual {
		o.flipWeights()
	}
	g.pool.For(o.dataChunks()+parallel.Chunks(g.n, o.segImages), o.bwd)
	g.pool.For(parallel.Chunks(o.gradLen(), convSumSpan), o.sum)
}

// overwrite makes backward set x's gradient rather than add to it, where every input pixel's
// gradient comes from one product: the dual convolution and the direct 1×1.
func (o *convOp) overwrite(int) bool {
	if o.dual || o.direct {
		o.dxBeta = 0
		return true
	}
	return false
}

// dataChunks is how many chunks of backward compute the input gradient: tiles of input pixels
// for the dual convolution and the direct 1×1, whole images for col2im (so that no two chunks
// add into the same pixel), none when x needs no gradient.
func (o *convOp) dataChunks() int {
	switch {
	case o.x.Grad == nil:
		return 0
	case o.dual || o.direct:
		return parallel.Chunks(o.g.n*o.in.H*o.in.W, convTile)
	}
	return o.g.n
}

// flipWeights sets the dual convolution's weights: wt[b][kh][kw][f][c] = w[b][KH−1−kh][KW−1−kw][c][f].
func (o *convOp) flipWeights() {
	taps, wts := o.s.KH*o.s.KW, o.blockWeights()
	for b := range o.blocks {
		for tap := range taps {
			src := wts[(b*taps+taps-1-tap)*o.bc*o.bf:][:o.bc*o.bf]
			dst := o.wt[(b*taps+tap)*o.bf*o.bc:][:o.bf*o.bc]
			for c := range o.bc {
				for f, v := range src[c*o.bf : (c+1)*o.bf] {
					dst[f*o.bc+c] = v
				}
			}
		}
	}
}

// backwardChunk is chunk i of backward: the input gradient's chunks, then the weight-gradient
// segments.
func (o *convOp) backwardChunk(w, i int) {
	d := o.dataChunks()
	if i < d {
		o.backwardData(w, i)
		return
	}
	o.backwardWeights(w, i-d)
}

// backwardData adds chunk i of the input gradient to x.Grad.
func (o *convOp) backwardData(w, i int) {
	cin, cout := o.in.C, o.s.Filters
	dy, dx := o.y.Grad, o.x.Grad
	switch {
	case o.direct:
		// dX = dY·Wᵀ, row by row.
		r0, r1 := parallel.Span(i, o.g.n*o.in.H*o.in.W, convTile)
		gemm.Sgemm(false, true, r1-r0, cin, cout, 1, dy[r0*cout:], cout, o.blockWeights(), cout, o.dxBeta, dx[r0*cin:], cin)
	case o.dual:
		r0, r1 := parallel.Span(i, o.g.n*o.in.H*o.in.W, convTile)
		col := o.col(w)
		o.lowerDY.lower(col, dy, r0, r1)
		lda := o.blocks * o.kd
		for b := range o.blocks {
			gemm.Sgemm(false, false, r1-r0, o.bc, o.kd, 1, col[b*o.kd:], lda,
				o.wt[b*o.kd*o.bc:], o.bc, o.dxBeta, dx[r0*cin+b*o.bc:], cin)
		}
	default:
		// dcol = dY·Wᵀ for image i's rows, scattered back by col2im.
		hw, wts, col := o.pixels(), o.blockWeights(), o.col(w)
		for t0 := i * hw; t0 < (i+1)*hw; t0 += convTile {
			t1 := min(t0+convTile, (i+1)*hw)
			for b := range o.blocks {
				gemm.Sgemm(false, true, t1-t0, o.k, o.bf, 1, dy[t0*cout+b*o.bf:], cout,
					wts[b*o.k*o.bf:], o.bf, 0, col[b*o.k:], o.blocks*o.k)
			}
			o.lowerX.scatter(col, dx, t0, t1)
		}
	}
}

// backwardWeights computes segment seg's partial gradients: colᵀ·dY over the segment's rows for
// each block's weights, and the column sums of dY for the bias.
func (o *convOp) backwardWeights(w, seg int) {
	hw, cout := o.pixels(), o.s.Filters
	dy := o.y.Grad
	r0, r1 := seg*o.segImages*hw, min((seg+1)*o.segImages, o.g.n)*hw
	part := o.partial(seg)
	nw := o.blocks * o.k * o.bf
	dw, db := part[:nw], part[nw:]
	clear(db)
	tile := convTile
	if o.direct {
		tile = r1 - r0 // no im2col tile to fit in a cache: one product over the whole segment
	}
	var beta float32 // the first tile overwrites the partial left by the previous step
	for t0 := r0; t0 < r1; t0 += tile {
		t1 := min(t0+tile, r1)
		a, lda := o.lower(w, t0, t1)
		for b := range o.blocks {
			gemm.Sgemm(true, false, o.k, o.bf, t1-t0, 1, a[b*o.k:], lda,
				dy[t0*cout+b*o.bf:], cout, beta, dw[b*o.k*o.bf:], o.bf)
		}
		beta = 1
		if o.b == nil {
			continue
		}
		for r := t0; r < t1; r++ {
			for c, d := range dy[r*cout : (r+1)*cout] {
				db[c] += d
			}
		}
	}
}

// sumSpan adds the segments' partial gradients, in segment order, to span j of the parameters'
// gradients (the weights', then the bias').
func (o *convOp) sumSpan(_, j int) {
	nw, nx := len(o.w.Grad), o.blocks*o.k*o.bf
	lo, hi := parallel.Span(j, o.gradLen(), convSumSpan)
	for seg := range parallel.Chunks(o.g.n, o.segImages) {
		p := o.partial(seg)
		if lo < nw {
			dst := o.w.Grad[lo:min(hi, nw)]
			if o.wxIndex == nil {
				for i, v := range p[lo:min(hi, nw)] {
					dst[i] += v
				}
			} else {
				for i, at := range o.wxIndex[lo:min(hi, nw)] {
					dst[i] += p[at]
				}
			}
		}
		if hi > nw {
			b0, b1 := max(lo, nw)-nw, hi-nw
			dst := o.b.Grad[b0:b1]
			for i, v := range p[nx+b0 : nx+b1] {
				dst[i] += v
			}
		}
	}
}

// gradLen is the number of parameter gradients: the weights', then the bias'.
func (o *convOp) gradLen() int {
	if o.b == nil {
		return len(o.w.Grad)
	}
	return len(o.w.Grad) + len(o.b.Grad)
}

// partial is segment seg's partial gradient buffer in the graph's scratch.
func (o *convOp) partial(seg int) []float32 {
	return o.g.scratch[seg*o.part : (seg+1)*o.part]
}

// col is worker w's im2col tile in the graph's scratch.
func (o *convOp) col(w int) []float32 {
	return o.g.scratch[o.colOffset+w*o.colSize : o.colOffset+(w+1)*o.colSize]
}

// lower returns the im2col matrix of rows [r0, r1) and its row stride: x itself for a direct conv,
// else worker w's tile filled by im2col.
func (o *convOp) lower(w, r0, r1 int) ([]float32, int) {
	if o.direct {
		return o.x.Value[r0*o.in.C:], o.in.C
	}
	col := o.col(w)
	o.lowerX.lower(col, o.x.Value, r0, r1)
	return col, o.lowerX.rowLen()
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
		if span := min(owOut-ow, r1-r); !add && l.blocks == 1 && span > 0 && ow >= owIn && ih0 >= 0 && ih0+l.kh <= l.src.H {
			for kh := range l.kh {
				copyRows(row[kh*run:], rowLen, img[((ih0+kh)*l.src.W+iw0)*c:], l.stride*c, run, span)
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
