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

// A convolution is computed by one of five algorithms (see convAlgorithm and convKind): direct 1×1, windowed, Winograd, grouped direct and im2col, one file each.
// All but the grouped one are GEMMs whose rows are output pixels.
//
// Groups are merged into blocks of sb consecutive groups, enough for a block to have at least
// convBlockWidth filters, so that a product is at least as wide as a microkernel: a block is a
// convolution from bc = sb·Cin/G input to bf = sb·Cout/G output channels whose weights are zero
// between different groups. That spends sb times the multiply-adds of the groups alone, which
// costs less than products a few columns wide. A block's weights are a K×bf matrix,
// [block][kh][kw][bc][bf], with K = KH·KW·bc, and its inputs are copied block by block. Without
// merging (sb = 1) that is the layout of the weight parameter, [G][KH][KW][Cin/G][Cout/G].
// Groups of 4 or 8 input and as many output channels would be merged 4 or 2 to a block, so such
// a convolution is instead computed group by group (conv_grouped.go).
//
// The weight gradient is computed per segment of the batch, each into its own partial gradient
// in the graph's scratch, and the partials are summed in segment order, so that the sum does not
// depend on the number of threads.
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

// convAlgorithm computes a convolution's output, input gradient and weight gradient by one
// method; conv_direct.go, conv_windowed.go, conv_winograd.go, conv_grouped.go and conv_im2col.go
// hold one each, and the plan picks one for each convolution (see convKind). The convOp passed to
// each method holds what they share: the geometry of the blocks, the weights, the buffers and
// the prologue and epilogue the plan fused into the convolution.
type convAlgorithm interface {
	// String names the algorithm in the plan.
	String() string
	// overwrites reports whether every input pixel's gradient comes from one product, so that
	// backward can set rather than add to it.
	overwrites() bool
	// prepare readies a forward; with weights, it also computes what the forward multiplies by
	// from o.fwdW.
	prepare(o *convOp, weights bool)
	// forwardChunks is how many chunks the forward has, and forward computes chunk i on worker w.
	forwardChunks(o *convOp) int
	forward(o *convOp, w, i int)
	// prepareDual readies the input gradient's weights, dataChunks is how many chunks it has and
	// backwardData computes chunk i on worker w.
	prepareDual(o *convOp)
	dataChunks(o *convOp) int
	backwardData(o *convOp, w, i int)
	// gradRows is how many product rows an image adds to the weight gradient, and weightGrad
	// sets dw, a segment's partial weight gradient (o.partW float32s), to the sum over its images.
	gradRows(o *convOp) int
	weightGrad(o *convOp, w, seg int, dw []float32)
	// finish turns the summed partials into the weights' gradient, when they are not it.
	finish(o *convOp)
}

type convOp struct {
	g       *Graph
	x, y    *Node
	w, b    *Param
	s       ConvSpec
	in, out Shape
	alg     convAlgorithm
	// sb groups form a block; there are blocks of them, each with bc input and bf output channels
	// and products of depth k = KH·KW·bc.
	sb, blocks, bc, bf, k int
	// wx holds the blocks' weights when groups are merged (sb > 1), zero between groups, and
	// wxIndex the place in wx of each weight. With sb = 1 the weights are used as they are.
	wx      []float32
	wxIndex []int32
	// dxBeta is 0 when backward sets x's gradient instead of adding to it (see overwrite).
	dxBeta float32
	convFusion
	convPartials
	// rows is what the last forward and its backward read as the input rows: x's, or the
	// deferred BatchNorm's input rows, which norm (not nil) then normalises.
	rows []float32
	norm *rowNorm
	// A forward's weights, output buffer and epilogue: the convolution's own, or the folded ones.
	fwdW, fwdOut []float32
	fwdEpi       epilogue
	// prepared is a copy of what the last inference forward prepared its weights from, and prepIn
	// the list of those buffers.
	prepared snapshot
	prepIn   [][]float32
	// colSize is the length of each worker's buffer in g.scratch: an im2col tile, or a band's
	// padded input followed by its output rows; the buffers start at colOffset.
	colSize       int
	fwd, bwd, sum func(w, i int)
}

// convFusion is what the plan fused into a convolution (see convOp.configure).
type convFusion struct {
	// The prologue: deferredBN is the BatchNorm whose output this convolution's input is and
	// which it applies to its input rows as it copies them, in forwards where the BatchNorm is not
	// folded (see deferBatchNorm); inputNorm is what it applies.
	deferredBN *batchNormOp
	inputNorm  *rowNorm
	// The epilogue: fold is the BatchNorm whose output a folded inference forward computes (see
	// foldBatchNorm), with weights foldW and bias foldB; residual is the Add that a folded
	// inference forward computes too, addFused the one that every forward computes, of this
	// convolution's own output (see fuseAdd); selfScale is then the Add's scale, Filters times,
	// when it scales this output, zeros Filters zeros and ones Filters ones, the epilogue's scale.
	fold                   *batchNormOp
	foldW, foldB           []float32
	residual               *addOp
	addFused               *addOp
	selfScale, zeros, ones []float32
}

// convPartials is how a convolution's weight gradient is cut into segments of the batch, each
// summed into its own partial gradient in g.scratch, and the partials summed in segment order.
type convPartials struct {
	// segImages is how many images one segment covers.
	segImages int
	// partW is the length of a segment's partial weight gradient, and part that of its partial
	// gradients (the weights', then the bias'); segment i's are at g.scratch[i·part:], the
	// workers' buffers from colOffset on.
	partW, part, colOffset int
	// The partials are summed into gradSum, in place partIndex[j] of a partial for element j
	// when partIndex is not nil; gradSum is the weights' gradient, added to, or with gradSet a
	// buffer of the algorithm's, set.
	gradSum   []float32
	partIndex []int32
	gradSet   bool
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
	o.y = g.addNode(name, out, o, x)
	o.ones = filled(s.Filters, 1)
	std := math.Sqrt(2 / float64(s.Filters*s.KH*s.KW))
	o.w = g.addParam(name+".weight", false, func(v []float32, rng *normalRand) {
		for i := range v {
			v[i] = float32(rng.Normal() * std)
		}
	}, s.Groups, s.KH, s.KW, cinG, coutG)
	if o.sb > 1 {
		o.wx = make([]float32, o.blocks*o.k*o.bf)
		o.wxIndex = make([]int32, len(o.w.Value))
		for j := range o.wxIndex {
			o.wxIndex[j] = int32(o.blockIndex(j))
		}
	}
	if s.Bias {
		o.b = g.addParam(name+".bias", true, uniformInit(1/math.Sqrt(float64(s.KH*s.KW*cinG))), s.Filters)
	}
	o.fwd = func(w, i int) { o.alg.forward(o, w, i) }
	o.bwd = o.backwardChunk
	o.sum = o.sumSpan
	return o.y
}

// convKind is one of the algorithms that compute a convolution; the plan chooses one for each
// (see planConvolutions).
type convKind int

const (
	// convIm2col: the others (conv_im2col.go).
	convIm2col convKind = iota
	// convDirect: a 1×1, stride-1, unpadded convolution of one block, x's rows read in place
	// (conv_direct.go).
	convDirect
	// convWindowed: any other stride-1 convolution whose dual, padded KH−1−PadH, exists
	// (conv_windowed.go).
	convWindowed
	// convWinograd: a windowed 3×3 convolution of one block with at least 8 channels
	// (conv_winograd.go).
	convWinograd
	// convGrouped: groups of 4 or 8 channels, group by group (conv_grouped.go).
	convGrouped
)

// copiesInput reports whether the algorithm's forward and weight gradient copy the input rows
// before they read them, and can then apply a deferred BatchNorm (o.norm) to them.
func (k convKind) copiesInput() bool { return k == convWinograd || k == convDirect }

// kind returns the algorithm that computes the convolution fastest.
func (o *convOp) kind() convKind {
	s := o.s
	switch {
	case groupedWidth(s, o.in) != 0:
		return convGrouped
	case s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadH == 0 && s.PadW == 0 && o.blocks == 1:
		return convDirect
	case s.Stride == 1 && s.PadH < s.KH && s.PadW < s.KW && usesWinograd(s, o.in, o.blocks):
		return convWinograd
	case s.Stride == 1 && s.PadH < s.KH && s.PadW < s.KW:
		return convWindowed
	}
	return convIm2col
}

// setAlgorithm makes the convolution computed by the algorithm of kind k, and plans its share
// of the graph's scratch: the segments' partial weight gradients and the workers' buffers.
func (o *convOp) setAlgorithm(k convKind) {
	o.partW, o.gradSum, o.partIndex, o.gradSet = o.blocks*o.k*o.bf, o.w.Grad, o.wxIndex, false
	switch k {
	case convGrouped:
		o.alg = newGroupedConv(o, groupedWidth(o.s, o.in))
	case convDirect:
		o.alg = newDirectConv(o)
	case convWindowed:
		o.alg = newWindowedConv(o)
	case convWinograd:
		o.alg = newWinogradConv(o, newWindowedConv(o))
	default:
		o.alg = newIm2colConv(o)
	}
	o.part = o.partW
	if o.b != nil {
		o.part += o.s.Filters
	}
	g := o.g
	segments := min(g.batch, convMaxSegments, max(2, convPartialBudget/o.part), max(2, g.batch*o.alg.gradRows(o)/convSegmentRows))
	o.segImages = parallel.Chunks(g.batch, segments)
	o.colOffset = parallel.Chunks(g.batch, o.segImages) * o.part
	g.reserveScratch(o.colOffset + g.pool.Threads()*o.colSize)
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
	// The input rows are a deferred BatchNorm's input normalised, unless a folded forward had
	// the convolution before it compute them.
	if bn := o.deferredBN; bn != nil && !(g.folded && bn.folded) {
		o.norm, o.rows = o.inputNorm, bn.x.Value
	}
	// The weights' preparation (merging groups, folding, Winograd's transform, packing) reads the
	// parameters and, folded, the BatchNorm's; an inference forward whose inputs to it are the
	// same as the last one's leaves its results as they are: evaluating a test set prepares the
	// weights once.
	prepare := g.train || !o.prepared.same(folded, o.prepareInputs(folded))
	if prepare {
		if o.wx != nil {
			for j, v := range o.w.Value {
				o.wx[o.wxIndex[j]] = v
			}
		}
		if folded {
			o.foldWeights()
		}
	}
	o.alg.prepare(o, prepare)
	if prepare {
		if g.train {
			o.prepared.valid = false
		} else {
			o.prepared.save(folded, o.prepareInputs(folded))
		}
	}
	g.pool.For(o.alg.forwardChunks(o), o.fwd)
}

// prepareInputs returns what the preparation of the forward's weights reads.
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

func (o *convOp) configure(p *plan) {
	s := p.step(o.y)
	o.setAlgorithm(s.conv)
	if s.fold != nil {
		o.fold = s.fold.op.(*batchNormOp)
		o.foldW, o.foldB = make([]float32, o.blocks*o.k*o.bf), make([]float32, o.s.Filters)
	}
	if s.foldedAdd != nil {
		o.residual = s.foldedAdd.op.(*addOp)
	}
	if s.add != nil {
		o.addFused = s.add.op.(*addOp)
	}
	if bn := s.deferred; bn != nil {
		o.deferredBN = bn.op.(*batchNormOp)
		o.inputNorm = o.deferredBN.rowNorm(p.step(bn).relu)
	}
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

// epilogue is what a forward applies to the rows of C channels it stores: a per-channel bias
// (none when nil), added as x·1 + bias by the BatchNorm kernel with scale ones, then a ReLU.
type epilogue struct {
	bias, ones []float32
	relu       bool
	// res, when not nil, is a residual added after the bias (resScale times it), as the Add
	// fused into the convolution computes it (see fuseAdd): the output's rows at offset at add
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

// forwardTiles computes chunk i of the forward of a convolution whose im2col rows l gives: a
// tile of convTile output pixels, one product per block, computed in worker w's outTile and
// then stored when staged, else stored in place.
func (o *convOp) forwardTile(w, i int, l tileLowerer, staged bool) {
	cout, wts, y := o.s.Filters, o.fwdW, o.fwdOut
	r0, r1 := parallel.Span(i, o.g.n*o.pixels(), convTile)
	a, lda := l.tile(o, w, r0, r1)
	ys := y[r0*cout : r1*cout]
	t := ys
	if staged {
		t = o.outTile(w)
	}
	for b := range o.blocks {
		gemm.Sgemm(false, false, r1-r0, o.bf, o.k, 1, a[b*o.k:], lda,
			wts[b*o.k*o.bf:], o.bf, 0, t[b*o.bf:], cout)
	}
	o.fwdEpi.apply(ys, t[:len(ys)], cout, r0*cout)
}

// tileLowerer gives the im2col rows of a tile of output pixels.
type tileLowerer interface {
	// tile returns the im2col matrix of rows [r0, r1) and its row stride, in worker w's col or
	// in place.
	tile(o *convOp, w, r0, r1 int) ([]float32, int)
}

// weightGradTiles sets dw to segment seg's weight gradient tile by tile: for each block the sum
// over the segment's pixels of the transposed im2col rows times dY.
func (o *convOp) weightGradTiles(w, seg int, dw []float32, l tileLowerer) {
	hw, cout, dy := o.pixels(), o.s.Filters, o.y.Grad
	n0, n1 := o.segment(seg)
	var beta float32 // the first product overwrites the partial left by the previous step
	for t0 := n0 * hw; t0 < n1*hw; t0 += convTile {
		t1 := min(t0+convTile, n1*hw)
		a, lda := l.tile(o, w, t0, t1)
		for b := range o.blocks {
			gemm.Sgemm(true, false, o.k, o.bf, t1-t0, 1, a[b*o.k:], lda,
				dy[t0*cout+b*o.bf:], cout, beta, dw[b*o.k*o.bf:], o.bf)
		}
		beta = 1
	}
}

// backward runs the partial weight gradient of every segment and the input gradient's chunks as
// one pool job, since they write disjoint buffers, then sums the partials.
func (o *convOp) backward(g *Graph) {
	if o.x.Grad != nil {
		o.alg.prepareDual(o)
	}
	g.pool.For(o.dataChunks()+parallel.Chunks(g.n, o.segImages), o.bwd)
	g.pool.For(parallel.Chunks(o.sumLen(), convSumSpan), o.sum)
	o.alg.finish(o)
}

// overwrite makes backward set x's gradient rather than add to it, where every input pixel's
// gradient comes from one product.
func (o *convOp) overwrite(int) bool {
	if o.alg.overwrites() {
		o.dxBeta = 0
		return true
	}
	return false
}

// dataChunks is how many chunks of backward compute the input gradient, none when x needs no
// gradient.
func (o *convOp) dataChunks() int {
	if o.x.Grad == nil {
		return 0
	}
	return o.alg.dataChunks(o)
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
	o.alg.backwardData(o, w, i-s)
}

// segment returns the images [n0, n1) of weight-gradient segment seg.
func (o *convOp) segment(seg int) (n0, n1 int) {
	return seg * o.segImages, min((seg+1)*o.segImages, o.g.n)
}

// backwardWeights computes segment seg's partial gradients: the algorithm's for the weights, and
// the column sums of dY for the bias.
func (o *convOp) backwardWeights(w, seg int) {
	part := o.partial(seg)
	o.alg.weightGrad(o, w, seg, part[:o.partW])
	if o.b == nil {
		return
	}
	db := part[o.partW:]
	clear(db)
	hw, cout, dy := o.pixels(), o.s.Filters, o.y.Grad
	n0, n1 := o.segment(seg)
	for r := n0 * hw; r < n1*hw; r++ {
		for c, d := range dy[r*cout : (r+1)*cout] {
			db[c] += d
		}
	}
}

// sumSpan adds the segments' partial gradients, in segment order, to span j of gradSum and then
// of the bias' gradient, or with gradSet sets span j of gradSum to their sum.
func (o *convOp) sumSpan(_, j int) {
	nw, dst := len(o.gradSum), o.gradSum
	lo, hi := parallel.Span(j, o.sumLen(), convSumSpan)
	for seg := range parallel.Chunks(o.g.n, o.segImages) {
		p := o.partial(seg)
		if lo < nw {
			d := dst[lo:min(hi, nw)]
			switch {
			case o.gradSet && seg == 0:
				copy(d, p[lo:])
			case o.partIndex == nil:
				addScaled(d, d, p[lo:], 1)
			default:
				for i, at := range o.partIndex[lo:min(hi, nw)] {
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

// sumLen is the number of sums sumSpan makes: gradSum's, then the bias'.
func (o *convOp) sumLen() int {
	n := len(o.gradSum)
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

// outTile is worker w's tile of convTile product rows of a staged product (see directConv),
// after its im2col tile in the scratch.
func (o *convOp) outTile(w int) []float32 {
	return o.col(w)[o.colSize-convTile*max(o.s.Filters, o.in.C):]
}
