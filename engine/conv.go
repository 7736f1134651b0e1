package engine

import (
	"fmt"
	"math"
	"slices"

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

// A convolution is computed by GEMMs whose rows are its output pixels, in one of three ways,
// unless it is grouped with groups of 4 or 8 channels (see below):
//
//   - direct: a 1×1, stride-1, unpadded convolution is one product of x's rows, read in place;
//   - windowed: any other stride-1 convolution is computed on bands of output rows. The band's
//     input rows are copied, zero-padded on every side, into a buffer where each kernel row's
//     taps are KW contiguous pixels, so that the windows of consecutive output pixels are
//     overlapping rows of the buffer, one pixel apart, which the GEMM reads in place: the output
//     is the sum over kernel rows kh of one product each, of depth KW·C. The products run over
//     the padded row width, so each band row yields KW−1 surplus pixels that are dropped;
//   - im2col: a strided convolution copies each output pixel's window into a row of a tile
//     (im2col), for one product of depth KH·KW·C per tile.
//
// A windowed 3×3 convolution of one block with at least 8 channels computes its output and its
// input gradient by Winograd's F(4×4, 3×3) instead (winograd.go; F(2×2, 3×3) for the few image
// sizes where that takes fewer products), and its weight gradient too from 16 channels: 36
// multiply-adds per 4×4 output tile, channel and filter where the definition takes 144.
//
// Groups are merged into blocks of sb consecutive groups, enough for a block to have at least
// convBlockWidth filters, so that a product is at least as wide as a microkernel: a block is a
// convolution from bc = sb·Cin/G input to bf = sb·Cout/G output channels whose weights are zero
// between different groups. That spends sb times the multiply-adds of the groups alone, which
// costs less than products a few columns wide. A block's weights are a K×bf matrix,
// [block][kh][kw][bc][bf], with K = KH·KW·bc, and its inputs are copied block by block. Without
// merging (sb = 1) that is the layout of the weight parameter, [G][KH][KW][Cin/G][Cout/G].
//
// Groups of 4 or 8 input and as many output channels would be merged 4 or 2 to a block, so such
// a convolution is instead computed group by group, without GEMMs (grouped.go): its output, its
// input gradient and its weight gradient, at any stride, by kernels that take a pixel's channels
// eight at a time (a group of 8, or two groups of 4) and gather each destination pixel from the
// source image in place, leaving out the taps that fall in the padding. A segment's partial
// weight gradient is then laid out as the kernels' packed weights (wxIndex).
//
// The input gradient of a windowed convolution is the windowed convolution of the output's
// gradient with the flipped, transposed weights and the complementary padding KH−1−PadH, which
// writes every input pixel's gradient once. Its weight gradient is, for each kernel row, the
// product of the transposed windows with the output's gradient. Strided convolutions compute the
// gradient of each im2col row and add it back to the pixels it came from (col2im).
const (
	// convTile is how many rows one im2col-and-GEMM step lowers: a tile's im2col rows stay in
	// the worker's cache while the GEMM reads them.
	convTile = 192
	// convBand is about how many float32s a windowed convolution's band buffers (its padded input
	// rows and its output rows) may hold, so that they stay in the worker's cache.
	convBand = 1 << 15
	// convBlockWidth is the fewest filters a block of merged groups should have: the width of the
	// AVX-512 microkernel.
	convBlockWidth = 16
	// convMaxSegments is how many fixed segments of the batch the weight gradient is cut into at
	// most; each accumulates its own partial gradient, summed in segment order afterwards.
	convMaxSegments = 16
	// convPartialBudget is how many float32s of partial weight gradients a wide layer may hold
	// before it uses fewer segments, trading parallelism for memory.
	convPartialBudget = 1 << 22
	// convSegmentRows is about the fewest product rows (pixels or Winograd tiles) a weight-gradient
	// segment should sum over: the partials' sum reads each segment's whole gradient from memory,
	// which costs about as much as tens of multiply-adds per element.
	convSegmentRows = 512
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
	// windowed marks a stride-1 convolution computed by fwdWin, whose input gradient is the
	// windowed convolution dualWin with the flipped weights wt, [block][kh][kw][bf][bc].
	windowed        bool
	fwdWin, dualWin window
	wt              []float32
	// winoFwd and winoDual, when not nil, compute the output and the input gradient of a 3×3
	// convolution by Winograd's transform instead, with the transformed weights uFwd and uDual.
	winoFwd, winoDual *winograd
	uFwd, uDual       []float32
	// winoGrad marks a weight gradient computed by winoFwd too: the segments' partials then hold
	// its transform dU, summed into duSum and transformed once.
	winoGrad bool
	duSum    []float32
	// grp, when not nil, computes a convolution with groups of 4 or 8 channels directly
	// (grouped.go), without merging groups into blocks.
	grp *grouped
	// lowerX is x's im2col, for the other convolutions.
	lowerX lowering
	// dxBeta is 0 when backward sets x's gradient instead of adding to it (see overwrite).
	dxBeta float32
	// wx holds the blocks' weights when groups are merged (sb > 1), zero between groups, and
	// wxIndex the place in wx of each weight. With sb = 1 the weights are used as they are. A
	// grouped convolution with groups of 4 has no wx, and wxIndex the place of each weight's
	// gradient in a segment's partial, which is laid out as its packed weights.
	wx      []float32
	wxIndex []int32
	// fold is the BatchNorm whose output a folded inference forward computes (see Build), with
	// weights foldW and bias foldB.
	fold         *batchNormOp
	foldW, foldB []float32
	// deferredBN is the BatchNorm whose output this convolution's input is and which it applies
	// to its input rows as it pads them, in forwards where the BatchNorm is not folded (see
	// Build); inputNorm is what it applies.
	deferredBN *batchNormOp
	inputNorm  *rowNorm
	// rows is what the last forward and its backward read as the input rows: x's, or the
	// deferred BatchNorm's input rows, which norm (not nil) then normalises.
	rows []float32
	norm *rowNorm
	// residual is the Add that a folded inference forward computes too, addFused the one that
	// every forward computes, of this convolution's own output (see Build); selfScale is then the
	// Add's scale, Filters times, when it scales this output, and zeros Filters zeros.
	residual         *addOp
	addFused         *addOp
	selfScale, zeros []float32
	// A forward's weights, output buffer and epilogue: the convolution's own, or the folded ones.
	fwdW, fwdOut []float32
	fwdEpi       epilogue
	// prepared is a copy of what the last inference forward prepared its weights from, and prepIn
	// the list of those buffers.
	prepared snapshot
	prepIn   [][]float32
	// ones is Filters ones, the epilogue's scale.
	ones []float32
	// segImages is how many images one weight-gradient segment covers.
	segImages int
	// partW is the length of a segment's partial weight gradient: the blocks' weights, laid out
	// as wx, or dU.
	partW int
	// In g.scratch: partial gradients (the weights' partW, then the bias) of size part for each
	// segment, then from colOffset one buffer of colSize per worker: an im2col
	// tile, or a band's padded input followed by its output rows.
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
	gs := groupedWidth(s, in)
	for o.sb*coutG < convBlockWidth && o.sb < s.Groups && gs == 0 {
		o.sb++
		for s.Groups%o.sb != 0 {
			o.sb++
		}
	}
	o.blocks, o.bc, o.bf = s.Groups/o.sb, o.sb*cinG, o.sb*coutG
	o.k = s.KH * s.KW * o.bc
	o.direct = s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadH == 0 && s.PadW == 0 && o.blocks == 1
	// The dual convolution needs the complementary padding KH−1−PadH to be non-negative.
	o.windowed = s.Stride == 1 && s.PadH < s.KH && s.PadW < s.KW && !o.direct && gs == 0
	if gs != 0 {
		o.grp = newGrouped(s, in, out, gs, g.pool.Threads())
	} else if o.windowed {
		o.fwdWin = newWindow(in, out, s.KH, s.KW, s.PadH, s.PadW, o.blocks)
		o.dualWin = newWindow(out, in, s.KH, s.KW, s.KH-1-s.PadH, s.KW-1-s.PadW, o.blocks)
		o.colSize = max(o.fwdWin.size(), o.dualWin.size())
	} else if o.direct {
		o.colSize = convTile * in.C // the normalised input rows of a deferred BatchNorm
	} else {
		o.lowerX = lowering{src: in, outH: out.H, outW: out.W, kh: s.KH, kw: s.KW, stride: s.Stride,
			padH: s.PadH, padW: s.PadW, blocks: o.blocks, width: o.bc}
		o.colSize = convTile * o.blocks * o.k
	}
	if o.windowed && usesWinograd(s, in, o.blocks) {
		o.winoFwd = newWinograd(winogradFormOf(out), in, out, s.PadH, s.PadW, g.batch)
		o.uFwd = make([]float32, o.winoFwd.products()*in.C*out.C)
		o.colSize = max(o.colSize, o.winoFwd.size())
	}
	if o.windowed && usesWinograd(ConvSpec{KH: s.KH, KW: s.KW, Stride: 1, PadH: s.KH - 1 - s.PadH, PadW: s.KW - 1 - s.PadW}, out, o.blocks) {
		o.winoDual = newWinograd(winogradFormOf(in), out, in, s.KH-1-s.PadH, s.KW-1-s.PadW, g.batch)
		o.uDual = make([]float32, o.winoDual.products()*in.C*out.C)
		o.colSize = max(o.colSize, o.winoDual.size())
	}
	o.y = g.addNode(name, out, o, x)
	o.ones = filled(s.Filters, 1)
	std := math.Sqrt(2 / float64(s.Filters*s.KH*s.KW))
	o.w = g.addParam(name+".weight", false, func(v []float32, rng *normalRand) {
		for i := range v {
			v[i] = float32(rng.Normal() * std)
		}
	}, s.Groups, s.KH, s.KW, cinG, coutG)
	o.part = o.blocks * o.k * o.bf
	if o.grp != nil {
		o.wxIndex = o.grp.fwdIndex
	}
	if o.sb > 1 {
		o.wx = make([]float32, o.part)
		o.wxIndex = make([]int32, len(o.w.Value))
		for j := range o.wxIndex {
			o.wxIndex[j] = int32(o.blockIndex(j))
		}
	}
	if o.windowed {
		o.wt = make([]float32, o.part)
	}
	// Winograd's weight gradient is the merged block's, dense; merged groups (sb > 1) keep the
	// windowed one, whose partials sumSpan maps back to the groups' weights.
	if o.winoFwd != nil && in.C >= winogradGradMinChannels && o.sb == 1 {
		o.winoGrad = true
		o.duSum = make([]float32, o.winoFwd.products()*in.C*out.C)
		o.part = len(o.duSum)
	}
	o.partW = o.part
	if s.Bias {
		o.b = g.addParam(name+".bias", true, uniformInit(1/math.Sqrt(float64(s.KH*s.KW*cinG))), s.Filters)
		o.part += s.Filters
	}

	// The rows each image adds to the weight gradient's products: its output pixels, or its tiles.
	rows := out.H * out.W
	if o.winoGrad {
		rows = o.winoFwd.tilesH * o.winoFwd.tilesW
	}
	segments := min(g.batch, convMaxSegments, max(2, convPartialBudget/o.part), max(2, g.batch*rows/convSegmentRows))
	o.segImages = parallel.Chunks(g.batch, segments)
	o.colOffset = parallel.Chunks(g.batch, o.segImages) * o.part
	if o.staged(s.Filters) || o.staged(in.C) {
		o.colSize += convTile * max(s.Filters, in.C)
	}
	g.reserveScratch(o.colOffset + g.pool.Threads()*o.colSize)

	o.fwd = o.forwardChunk
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

// forwardChunks is how many chunks forward has: bands of images, or tiles of output pixels.
func (o *convOp) forwardChunks() int {
	if o.grp != nil {
		return o.g.n * o.grp.fwd.bands()
	}
	if o.winoFwd != nil {
		return o.winoFwd.chunks(o.g.n)
	}
	if o.windowed {
		return o.g.n * o.fwdWin.bands()
	}
	return parallel.Chunks(o.g.n*o.pixels(), convTile)
}

func (o *convOp) forward(g *Graph) {
	folded := g.folded && o.fold != nil
	o.fwdW, o.fwdOut, o.fwdEpi = o.blockWeights(), o.y.Value, epilogue{ones: o.ones}
	if o.b != nil {
		o.fwdEpi.bias = o.b.Value
	}
	if folded {
		o.setFolded()
	}
	if o.addFused != nil {
		o.setAddFused()
	}
	o.rows, o.norm = o.x.Value, nil
	if bn := o.deferredBN; bn != nil {
		// The input rows are the BatchNorm's input normalised, unless a folded forward had the
		// convolution before it compute them.
		if !(g.folded && bn.folded) {
			o.norm, o.rows = o.inputNorm, bn.x.Value
		}
		if o.winoFwd != nil {
			o.winoFwd.pad.norm = o.norm
		}
		o.fwdWin.norm = o.norm
	}
	// The weights' preparation (merging groups, folding, Winograd's transform, packing) reads the
	// parameters and, folded, the BatchNorm's; an inference forward whose inputs to it are the
	// same as the last one's leaves its results as they are: evaluating a test set prepares the
	// weights once.
	if g.train || !o.prepared.same(folded, o.prepareInputs(folded)) {
		o.prepareWeights(folded)
		if g.train {
			o.prepared.valid = false
		} else {
			o.prepared.save(folded, o.prepareInputs(folded))
		}
	}
	g.pool.For(o.forwardChunks(), o.fwd)
}

// prepareInputs returns what prepareWeights reads.
func (o *convOp) prepareInputs(folded bool) [][]float32 {
	in := o.prepIn[:0]
	in = append(in, o.w.Value)
	if o.b != nil {
		in = append(in, o.b.Value)
	}
	if folded {
		bn := o.fold
		in = append(in, bn.gamma.Value, bn.beta.Value, bn.runMean.Value, bn.runVar.Value)
	}
	o.prepIn = in
	return in
}

// prepareWeights computes the weights the forward multiplies by: the blocks' merged weights, the
// folded ones, Winograd's transform of them and the grouped kernels' layout.
func (o *convOp) prepareWeights(folded bool) {
	if o.wx != nil {
		for j, v := range o.w.Value {
			o.wx[o.wxIndex[j]] = v
		}
	}
	if folded {
		o.foldWeights()
	}
	if o.winoFwd != nil {
		o.winoFwd.transformWeights(o.uFwd, o.fwdW)
	}
	if o.grp != nil {
		o.grp.packForward(o.fwdW)
	}
}

// snapshot holds copies of buffers, to tell whether they have changed since.
type snapshot struct {
	valid  bool
	folded bool
	parts  [][]float32
}

// same reports whether the buffers hold, bit for bit (−0 is not 0, a NaN is itself), what save
// copied, for the same folding.
func (s *snapshot) same(folded bool, parts [][]float32) bool {
	if !s.valid || s.folded != folded || len(s.parts) != len(parts) {
		return false
	}
	sameBits := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for i, p := range parts {
		if !slices.EqualFunc(s.parts[i], p, sameBits) {
			return false
		}
	}
	return true
}

// save copies the buffers, reusing its own copies' memory.
func (s *snapshot) save(folded bool, parts [][]float32) {
	s.parts = slices.Grow(s.parts[:0], len(parts))[:len(parts)]
	for i, p := range parts {
		s.parts[i] = append(s.parts[i][:0], p...)
	}
	s.valid, s.folded = true, folded
}

// foldInto makes the convolution compute bn's output in inference (see Build).
func (o *convOp) foldInto(bn *batchNormOp) {
	o.fold, bn.folded = bn, true
	o.foldW, o.foldB = make([]float32, o.blocks*o.k*o.bf), make([]float32, o.s.Filters)
}

// foldWeights sets the folded weights and bias: with scale s and shift h of the BatchNorm's
// running statistics, BN(conv(x) + b) = conv_{w·s}(x) + b·s + h, each filter scaled by its s.
func (o *convOp) foldWeights() {
	bn := o.fold
	bn.affine(false)
	w := o.blockWeights()
	for b := range o.blocks {
		scale := bn.scale[b*o.bf : (b+1)*o.bf]
		for r := range o.k {
			row := w[(b*o.k+r)*o.bf:][:o.bf]
			dst := o.foldW[(b*o.k+r)*o.bf:][:o.bf]
			for j, v := range row {
				dst[j] = v * scale[j]
			}
		}
	}
	for c := range o.foldB {
		o.foldB[c] = bn.shift[c]
		if o.b != nil {
			o.foldB[c] += o.b.Value[c] * bn.scale[c]
		}
	}
}

// setFolded makes the forward compute the folded BatchNorm's output, with the weights and bias
// of foldWeights.
func (o *convOp) setFolded() {
	bn := o.fold
	o.fwdW, o.fwdOut, o.fwdEpi = o.foldW, bn.y.Value, epilogue{bias: o.foldB, ones: o.ones, relu: bn.relu}
	if r := o.residual; r != nil {
		// The Add after the BatchNorm, and its ReLU, are computed here too.
		other, s := r.residual(bn.y)
		o.fwdOut = r.y.Value
		o.fwdEpi.relu, o.fwdEpi.res, o.fwdEpi.resScale = r.relu, other.Value, s
	}
}

// setAddFused makes the forward compute the Add of its output, a + scale·b, and its ReLU: for
// the Add's first input, the output plus scale times the other input, as the folded residual
// epilogue does; for the second, with scale 1, the other input plus the output; with another
// scale, scale times the output (its bias added first) plus the other input. Each gives the bits
// of the Add computed apart, but for the sign of a zero sum (the output without a bias is taken
// as x + 0).
func (o *convOp) setAddFused() {
	r := o.addFused
	if o.zeros == nil {
		o.zeros = make([]float32, o.s.Filters)
	}
	e := &o.fwdEpi
	o.fwdOut, e.relu, e.res, e.resScale = r.y.Value, r.relu, r.b.Value, r.scale
	if e.bias == nil {
		e.bias = o.zeros
	}
	if o.y != r.b {
		return
	}
	e.res, e.resScale = r.a.Value, 1
	if r.scale != 1 {
		if o.selfScale == nil {
			o.selfScale = filled(o.s.Filters, r.scale)
		}
		e.self, e.zeros = o.selfScale, o.zeros
	}
}

// forwardChunk computes chunk i of the output: a band of an image, or a tile of output pixels.
func (o *convOp) forwardChunk(w, i int) {
	cout, wts, y := o.s.Filters, o.fwdW, o.fwdOut
	switch {
	case o.grp != nil:
		p0, p1 := o.grp.run(&o.grp.fwd, w, o.x.Value, y, o.grp.forwardWeights(wts), i, false)
		ys := y[p0*cout : p1*cout]
		o.fwdEpi.apply(ys, ys, cout, p0*cout)
	case o.winoFwd != nil:
		o.winoFwd.convolve(o.col(w), o.rows, y, o.uFwd, o.g.n, i, false, o.fwdEpi)
	case o.windowed:
		v := &o.fwdWin
		n, oh0, oh1 := v.band(i)
		buf, temp := v.buffers(o.col(w))
		v.pad(buf, o.x.Value[n*o.in.Size():][:o.in.Size()], oh0, oh1)
		v.multiply(temp, buf, wts, oh1-oh0, o.bf, cout)
		r0, r1 := (n*o.out.H+oh0)*o.out.W, (n*o.out.H+oh1)*o.out.W
		v.store(y[r0*cout:r1*cout], temp, oh1-oh0, cout, false, o.fwdEpi, r0*cout)
	default:
		r0, r1 := parallel.Span(i, o.g.n*o.pixels(), convTile)
		a, lda := o.lower(w, r0, r1)
		ys := y[r0*cout : r1*cout]
		t := ys
		if o.staged(cout) {
			t = o.outTile(w)
		}
		for b := range o.blocks {
			gemm.Sgemm(false, false, r1-r0, o.bf, o.k, 1, a[b*o.k:], lda,
				wts[b*o.k*o.bf:], o.bf, 0, t[b*o.bf:], cout)
		}
		o.fwdEpi.apply(ys, t[:len(ys)], cout, r0*cout)
	}
}

// epilogue is what a forward applies to the rows of C channels it stores: a per-channel bias
// (none when nil), added as x·1 + bias by the BatchNorm kernel with scale ones, then a ReLU.
type epilogue struct {
	bias, ones []float32
	relu       bool
	// res, when not nil, is a residual added after the bias (resScale times it), as the Add
	// fused into the convolution computes it (see Build): the output's rows at offset at add
	// res's rows at the same offset. With self (not nil), the output with its bias is multiplied
	// by self, per channel, before res is added.
	res         []float32
	resScale    float32
	self, zeros []float32
}

// apply sets dst, the output's rows from offset at on, to the rows src with the epilogue applied,
// in one pass; dst may be src.
func (e epilogue) apply(dst, src []float32, c, at int) {
	switch {
	case e.self != nil:
		// src is a tile of products or the output's rows, which may take the bias in place.
		bnNormalize(src, src, c, e.ones, e.bias, false)
		bnResidual(src, dst, e.res[at:at+len(dst)], c, e.self, e.zeros, e.resScale, e.relu)
	case e.res != nil:
		bnResidual(src, dst, e.res[at:at+len(dst)], c, e.ones, e.bias, e.resScale, e.relu)
	case e.bias != nil:
		bnNormalize(src, dst, c, e.ones, e.bias, e.relu)
	case e.relu:
		relu(src, dst)
	case len(dst) > 0 && &dst[0] != &src[0]:
		copy(dst, src)
	}
}

// backward runs the partial weight gradient of every segment and the input gradient's chunks as
// one pool job, since they write disjoint buffers, then sums the partials.
func (o *convOp) backward(g *Graph) {
	if o.x.Grad != nil && o.grp != nil {
		o.grp.packDual(o.w.Value)
	}
	if o.x.Grad != nil && o.windowed {
		o.flipWeights()
		if o.winoDual != nil {
			o.winoDual.transformWeights(o.uDual, o.wt)
		}
	}
	g.pool.For(o.dataChunks()+parallel.Chunks(g.n, o.segImages), o.bwd)
	g.pool.For(parallel.Chunks(o.sumLen(), convSumSpan), o.sum)
	if o.winoGrad {
		o.winoFwd.addWeightGrad(o.w.Grad, o.duSum)
	}
}

// overwrite makes backward set x's gradient rather than add to it, where every input pixel's
// gradient comes from one product: the windowed dual convolution, the direct 1×1 and the
// grouped gather.
func (o *convOp) overwrite(int) bool {
	if o.windowed || o.direct || o.grp != nil {
		o.dxBeta = 0
		return true
	}
	return false
}

// dataChunks is how many chunks of backward compute the input gradient: bands of images for the
// dual convolution, tiles of pixels for the direct 1×1, whole images for col2im (so that no two
// chunks add into the same pixel), none when x needs no gradient.
func (o *convOp) dataChunks() int {
	switch {
	case o.x.Grad == nil:
		return 0
	case o.grp != nil:
		return o.g.n * o.grp.dual.bands()
	case o.winoDual != nil:
		return o.winoDual.chunks(o.g.n)
	case o.windowed:
		return o.g.n * o.dualWin.bands()
	case o.direct:
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

// backwardChunk is chunk i of backward: the weight-gradient segments, then the input gradient's
// chunks. The segments are the larger chunks, so they go first and the smaller ones even out
// the threads' finishing times.
func (o *convOp) backwardChunk(w, i int) {
	s := parallel.Chunks(o.g.n, o.segImages)
	if i < s {
		o.backwardWeights(w, i)
		return
	}
	o.backwardData(w, i-s)
}

// backwardData adds chunk i of the input gradient to x.Grad.
func (o *convOp) backwardData(w, i int) {
	cin, cout := o.in.C, o.s.Filters
	dy, dx := o.y.Grad, o.x.Grad
	switch {
	case o.grp != nil:
		o.grp.run(&o.grp.dual, w, dy, dx, o.grp.wd, i, o.dxBeta != 0)
	case o.direct:
		// dX = dY·Wᵀ, row by row.
		r0, r1 := parallel.Span(i, o.g.n*o.in.H*o.in.W, convTile)
		if !o.staged(cin) {
			gemm.Sgemm(false, true, r1-r0, cin, cout, 1, dy[r0*cout:], cout, o.blockWeights(), cout, o.dxBeta, dx[r0*cin:], cin)
			break
		}
		dxs := dx[r0*cin : r1*cin]
		t := o.outTile(w)[:len(dxs)]
		gemm.Sgemm(false, true, r1-r0, cin, cout, 1, dy[r0*cout:], cout, o.blockWeights(), cout, 0, t, cin)
		put(dxs, t, o.dxBeta != 0)
	case o.winoDual != nil:
		o.winoDual.convolve(o.col(w), dy, dx, o.uDual, o.g.n, i, o.dxBeta != 0, epilogue{})
	case o.windowed:
		v := &o.dualWin
		n, ih0, ih1 := v.band(i)
		buf, temp := v.buffers(o.col(w))
		v.pad(buf, dy[n*o.out.Size():][:o.out.Size()], ih0, ih1)
		v.multiply(temp, buf, o.wt, ih1-ih0, o.bc, cin)
		r0, r1 := (n*o.in.H+ih0)*o.in.W, (n*o.in.H+ih1)*o.in.W
		v.store(dx[r0*cin:r1*cin], temp, ih1-ih0, cin, o.dxBeta != 0, epilogue{}, 0)
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

// backwardWeights computes segment seg's partial gradients: for each block the sum over the
// segment's pixels of the transposed windows times dY, and the column sums of dY for the bias.
func (o *convOp) backwardWeights(w, seg int) {
	hw, cout := o.pixels(), o.s.Filters
	dy := o.y.Grad
	n0, n1 := seg*o.segImages, min((seg+1)*o.segImages, o.g.n)
	part := o.partial(seg)
	dw, db := part[:o.partW], part[o.partW:]
	clear(db)
	var beta float32 // the first product overwrites the partial left by the previous step
	switch {
	case o.grp != nil:
		clear(dw)
		v := &o.grp.fwd
		for i := n0 * v.bands(); i < n1*v.bands(); i++ {
			o.grp.weightGrad(dw, w, o.x.Value, dy, i)
		}
	case o.winoGrad:
		o.winoFwd.weightGrad(o.col(w), o.rows, dy, dw, n0, n1)
	case o.windowed:
		v := &o.fwdWin
		buf, dyp := v.buffers(o.col(w))
		for i := n0 * v.bands(); i < n1*v.bands(); i++ {
			n, oh0, oh1 := v.band(i)
			v.pad(buf, o.rows[n*o.in.Size():][:o.in.Size()], oh0, oh1)
			r0 := (n*o.out.H + oh0) * o.out.W
			v.spread(dyp, dy[r0*cout:], oh1-oh0, cout)
			v.weightGrad(dw, buf, dyp, oh1-oh0, o.bf, cout, beta)
			beta = 1
		}
	case o.direct && o.norm == nil:
		// One product over the segment's rows, x read in place.
		r0, r1 := n0*hw, n1*hw
		gemm.Sgemm(true, false, o.k, o.bf, r1-r0, 1, o.x.Value[r0*o.in.C:], o.in.C, dy[r0*cout:], cout, 0, dw, o.bf)
	default:
		for t0 := n0 * hw; t0 < n1*hw; t0 += convTile {
			t1 := min(t0+convTile, n1*hw)
			a, lda := o.lower(w, t0, t1)
			for b := range o.blocks {
				gemm.Sgemm(true, false, o.k, o.bf, t1-t0, 1, a[b*o.k:], lda,
					dy[t0*cout+b*o.bf:], cout, beta, dw[b*o.k*o.bf:], o.bf)
			}
			beta = 1
		}
	}
	if o.b == nil {
		return
	}
	for r := n0 * hw; r < n1*hw; r++ {
		for c, d := range dy[r*cout : (r+1)*cout] {
			db[c] += d
		}
	}
}

// sumSpan adds the segments' partial gradients, in segment order, to span j of the parameters'
// gradients (the weights', then the bias'), or for a Winograd weight gradient sets span j of
// duSum, then the bias', to their sum.
func (o *convOp) sumSpan(_, j int) {
	nw := len(o.w.Grad)
	dst := o.w.Grad
	if o.winoGrad {
		nw, dst = o.partW, o.duSum
	}
	lo, hi := parallel.Span(j, o.sumLen(), convSumSpan)
	for seg := range parallel.Chunks(o.g.n, o.segImages) {
		p := o.partial(seg)
		if lo < nw {
			d := dst[lo:min(hi, nw)]
			switch {
			case o.winoGrad && seg == 0:
				copy(d, p[lo:])
			case o.wxIndex == nil:
				addScaled(d, d, p[lo:], 1)
			default:
				for i, at := range o.wxIndex[lo:min(hi, nw)] {
					d[i] += p[at]
				}
			}
		}
		if hi > nw {
			b0, b1 := max(lo, nw)-nw, hi-nw
			db := o.b.Grad[b0:b1]
			addScaled(db, db, p[o.partW+b0:], 1)
		}
	}
}

// sumLen is the number of sums sumSpan makes: the weights' gradients (or dU's), then the bias'.
func (o *convOp) sumLen() int {
	n := len(o.w.Grad)
	if o.winoGrad {
		n = o.partW
	}
	if o.b != nil {
		n += len(o.b.Grad)
	}
	return n
}

// partial is segment seg's partial gradient buffer in the graph's scratch.
func (o *convOp) partial(seg int) []float32 {
	return o.g.scratch[seg*o.part : (seg+1)*o.part]
}

// col is worker w's im2col tile in the graph's scratch.
func (o *convOp) col(w int) []float32 {
	return o.g.scratch[o.colOffset+w*o.colSize : o.colOffset+(w+1)*o.colSize]
}

// staged reports whether a product of the convolution whose rows have ch channels is computed in
// outTile and then stored: a direct convolution's forward (ch the filters) or input gradient (ch
// the input channels), when a row is wider than a microtile. Written in place, where each
// microtile stores lines a row apart, 1×1 convolutions from 32 to 64 and 64 to 32 channels at
// 28×28 ran 10–15% slower; rows of 16 channels, whose microtiles store lines one after the other,
// and im2col's products measured no faster staged.
func (o *convOp) staged(ch int) bool { return o.direct && ch > convBlockWidth }

// outTile is worker w's tile of convTile product rows for staged, after its im2col tile in the
// scratch.
func (o *convOp) outTile(w int) []float32 {
	return o.col(w)[o.colSize-convTile*max(o.s.Filters, o.in.C):]
}

// lower returns the im2col matrix of rows [r0, r1) and its row stride: x itself for a direct conv,
// or its rows normalised into worker w's tile for a deferred BatchNorm, else worker w's tile
// filled by im2col.
func (o *convOp) lower(w, r0, r1 int) ([]float32, int) {
	c := o.in.C
	if o.direct && o.norm != nil {
		col, n := o.col(w)[:(r1-r0)*c], o.norm
		bnNormalize(o.rows[r0*c:r1*c], col, c, n.scale, n.shift, n.relu)
		return col, c
	}
	if o.direct {
		return o.x.Value[r0*c:], c
	}
	col := o.col(w)
	o.lowerX.lower(col, o.x.Value, r0, r1)
	return col, o.lowerX.rowLen()
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
