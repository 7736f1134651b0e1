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

// A convolution is lowered to GEMMs over its output pixels, the rows of the product: row r is
// pixel (n, oh, ow) of the output, and its im2col row holds the input patch that pixel sees, laid
// out [group][kh][kw][channel of the group] so that each group's K = KH·KW·Cin/G columns are
// contiguous. The weights are stored as per-group K×(Cout/G) matrices, [G][KH][KW][Cin/G][Cout/G].
const (
	// convTile is how many rows one im2col-and-GEMM step lowers: a tile's im2col rows stay in
	// the worker's cache while the GEMM reads them.
	convTile = 128
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
	// cinG and coutG are the channels of one group, and k = KH·KW·cinG its product's depth.
	cinG, coutG, k int
	// direct marks a 1×1, stride-1, unpadded, ungrouped conv, whose im2col rows are x's rows.
	direct bool
	// segImages is how many images one weight-gradient segment covers.
	segImages int
	// In g.scratch: partial gradients (weights, then bias) of size part for each segment, then
	// from colOffset one im2col tile of colSize per worker.
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
	o := &convOp{
		x: x, s: s, in: in, out: out, g: g,
		cinG:   in.C / s.Groups,
		coutG:  s.Filters / s.Groups,
		direct: s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadH == 0 && s.PadW == 0 && s.Groups == 1,
	}
	o.k = s.KH * s.KW * o.cinG
	o.y = g.addNode(name, out, o, x)
	std := math.Sqrt(2 / float64(s.Filters*s.KH*s.KW))
	o.w = g.addParam(name+".weight", false, func(v []float32, rng *normalRand) {
		for i := range v {
			v[i] = float32(rng.Normal() * std)
		}
	}, s.Groups, s.KH, s.KW, o.cinG, o.coutG)
	o.part = len(o.w.Value)
	if s.Bias {
		o.b = g.addParam(name+".bias", true, uniformInit(1/math.Sqrt(float64(o.k))), s.Filters)
		o.part += s.Filters
	}

	segments := min(g.batch, convMaxSegments, max(2, convPartialBudget/o.part))
	o.segImages = parallel.Chunks(g.batch, segments)
	o.colOffset = parallel.Chunks(g.batch, o.segImages) * o.part
	if !o.direct {
		o.colSize = convTile * s.Groups * o.k
	}
	g.reserveScratch(o.colOffset + g.pool.Threads()*o.colSize)

	o.fwd = o.forwardTile
	o.bwd = o.backwardChunk
	o.sum = o.sumSpan
	return o.y
}

// pixels is the number of output pixels, product rows, per image.
func (o *convOp) pixels() int { return o.out.H * o.out.W }

func (o *convOp) forward(g *Graph) {
	g.pool.For(parallel.Chunks(g.n*o.pixels(), convTile), o.fwd)
}

// forwardTile computes output rows [t·convTile, (t+1)·convTile).
func (o *convOp) forwardTile(w, t int) {
	r0, r1 := parallel.Span(t, o.g.n*o.pixels(), convTile)
	a, lda := o.lower(w, r0, r1)
	cout := o.s.Filters
	for gi := range o.s.Groups {
		gemm.Sgemm(false, false, r1-r0, o.coutG, o.k, 1, a[gi*o.k:], lda,
			o.w.Value[gi*o.k*o.coutG:], o.coutG, 0, o.y.Value[r0*cout+gi*o.coutG:], cout)
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

// backward runs the input gradient of every image and the partial weight gradient of every
// segment as one pool job, since they write disjoint buffers, then sums the partials.
func (o *convOp) backward(g *Graph) {
	chunks := parallel.Chunks(g.n, o.segImages)
	if o.x.Grad != nil {
		chunks += g.n
	}
	g.pool.For(chunks, o.bwd)
	g.pool.For(parallel.Chunks(o.part, convSumSpan), o.sum)
}

// backwardChunk is chunk i of backward: image i's input gradient when x needs one (one image per
// chunk, so that no two chunks scatter into the same dx), then the weight-gradient segments.
func (o *convOp) backwardChunk(w, i int) {
	if o.x.Grad != nil {
		if i < o.g.n {
			o.backwardData(w, i)
			return
		}
		i -= o.g.n
	}
	o.backwardWeights(w, i)
}

// backwardData adds image img's input gradient, dcol = dY·Wᵀ scattered back by col2im, to x.Grad.
func (o *convOp) backwardData(w, img int) {
	hw, cin, cout := o.pixels(), o.in.C, o.s.Filters
	dy, dx := o.y.Grad, o.x.Grad
	r0, r1 := img*hw, (img+1)*hw
	if o.direct {
		gemm.Sgemm(false, true, hw, cin, cout, 1, dy[r0*cout:], cout, o.w.Value, cout, 1, dx[r0*cin:], cin)
		return
	}
	col := o.col(w)
	for t0 := r0; t0 < r1; t0 += convTile {
		t1 := min(t0+convTile, r1)
		for gi := range o.s.Groups {
			gemm.Sgemm(false, true, t1-t0, o.k, o.coutG, 1, dy[t0*cout+gi*o.coutG:], cout,
				o.w.Value[gi*o.k*o.coutG:], o.coutG, 0, col[gi*o.k:], o.s.Groups*o.k)
		}
		o.patches(col, dx, t0, t1, true)
	}
}

// backwardWeights computes segment seg's partial gradients: colᵀ·dY over the segment's rows for
// the weights, and the column sums of dY for the bias.
func (o *convOp) backwardWeights(w, seg int) {
	hw, cout := o.pixels(), o.s.Filters
	dy := o.y.Grad
	r0, r1 := seg*o.segImages*hw, min((seg+1)*o.segImages, o.g.n)*hw
	part := o.partial(seg)
	dw, db := part[:len(o.w.Value)], part[len(o.w.Value):]
	clear(db)
	tile := convTile
	if o.direct {
		tile = r1 - r0 // no im2col tile to fit in a cache: one product over the whole segment
	}
	var beta float32 // the first tile overwrites the partial left by the previous step
	for t0 := r0; t0 < r1; t0 += tile {
		t1 := min(t0+tile, r1)
		a, lda := o.lower(w, t0, t1)
		for gi := range o.s.Groups {
			gemm.Sgemm(true, false, o.k, o.coutG, t1-t0, 1, a[gi*o.k:], lda,
				dy[t0*cout+gi*o.coutG:], cout, beta, dw[gi*o.k*o.coutG:], o.coutG)
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
	lo, hi := parallel.Span(j, o.part, convSumSpan)
	nw := len(o.w.Grad)
	for seg := range parallel.Chunks(o.g.n, o.segImages) {
		p := o.partial(seg)
		if lo < nw {
			dst := o.w.Grad[lo:min(hi, nw)]
			for i, v := range p[lo:min(hi, nw)] {
				dst[i] += v
			}
		}
		if hi > nw {
			b0 := max(lo, nw)
			dst := o.b.Grad[b0-nw : hi-nw]
			for i, v := range p[b0:hi] {
				dst[i] += v
			}
		}
	}
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
	o.patches(col, o.x.Value, r0, r1, false)
	return col, o.s.Groups * o.k
}

// patches moves between the im2col rows [r0, r1), stored from col[0] with row stride G·K, and the
// image buffer x (a node's Value or Grad). Without scatter it is im2col: col ← x, with zeros where
// a patch covers padding. With scatter it is col2im: x += col, padding entries dropped.
func (o *convOp) patches(col, x []float32, r0, r1 int, scatter bool) {
	s, in, out := o.s, o.in, o.out
	cg, k, groups := o.cinG, o.k, s.Groups
	hw := out.H * out.W
	run := s.KW * in.C // one kernel row of an ungrouped patch, contiguous in x when inside
	for r := r0; r < r1; r++ {
		row := col[(r-r0)*groups*k : (r-r0+1)*groups*k]
		n, p := r/hw, r%hw
		ih0 := p/out.W*s.Stride - s.PadH
		iw0 := p%out.W*s.Stride - s.PadW
		img := x[n*in.Size() : (n+1)*in.Size()]
		for kh := range s.KH {
			ih := ih0 + kh
			if ih < 0 || ih >= in.H {
				if !scatter {
					for gi := range groups {
						clear(row[gi*k+kh*s.KW*cg : gi*k+(kh+1)*s.KW*cg])
					}
				}
				continue
			}
			if groups == 1 && iw0 >= 0 && iw0+s.KW <= in.W {
				movePatch(row[kh*run:(kh+1)*run], img[(ih*in.W+iw0)*in.C:], scatter)
				continue
			}
			for kw := range s.KW {
				iw := iw0 + kw
				inside := iw >= 0 && iw < in.W
				for gi := range groups {
					d := row[gi*k+(kh*s.KW+kw)*cg:][:cg]
					switch {
					case inside:
						movePatch(d, img[(ih*in.W+iw)*in.C+gi*cg:], scatter)
					case !scatter:
						clear(d)
					}
				}
			}
		}
	}
}

// movePatch copies x into d (im2col), or with scatter adds d to x (col2im).
func movePatch(d, x []float32, scatter bool) {
	if !scatter {
		copy(d, x)
		return
	}
	x = x[:len(d)]
	for i, v := range d {
		x[i] += v
	}
}
