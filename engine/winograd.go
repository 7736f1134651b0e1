package engine

import (
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// winograd computes a 3×3, stride-1 convolution of one block by Winograd's minimal filtering
// F(m×m, 3×3) (Lavin and Gray 2016), m = 2 or 4: the output is cut into m×m tiles, each computed
// from the a×a input window around it, a = m+2, as Y = Aᵀ[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]A. For a chunk of
// tiles, the a² elementwise products of every tile become a² GEMMs, M[ξ] = V[ξ]·U[ξ] with V[ξ] the
// tiles × channels matrix of transformed inputs and U[ξ] the channels × filters matrix of
// transformed weights: a²/m² multiply-adds per output pixel, channel and filter (4 for F(2×2),
// 2.25 for F(4×4)) where the definition takes 9.
//
// The work is cut into chunks of up to rows tile rows of the whole batch, which may span images, so
// that small images still make products of many rows. For each image in a chunk, its input rows
// are zero-padded by window.pad into rows of wp = m·tilesW+2 pixels, transformed into V, and after
// the products M is transformed back into output rows of m·tilesW pixels, from which store keeps
// the outW real ones.
type winograd struct {
	winogradForm
	pad            window // pads the input rows of an image's tile rows
	gradPad        window // pads the output gradient's rows to whole tiles, for weightGrad
	tilesH, tilesW int
	rows           int // tile rows per chunk
	c, filters     int
	outH, outW     int
	// tiles is the tiles of a chunk, rounded up for the GEMM; ldv and ldm the strides of the a²
	// matrices of V and M, padded by a cache line so that they do not fall on the same cache
	// sets; the buffers' lengths.
	tiles, ldv, ldm           int
	inLen, vLen, mLen, outLen int
	ol                        int // the length of an output row, m·tilesW pixels
	// t is the scratch of the weights' transforms, a×3 rows of filters.
	t []float32
}

// winogradForm is one of Winograd's F(m×m, 3×3): the output tile's side m, the a×3 matrix G, a =
// m+2, and the kernels that compute the input transform Bᵀ·d·B, the output transform Aᵀ·M·A and
// its transpose A·dY·Aᵀ for the tiles of one tile row (see winogradInput, winogradOutput and
// winogradGradOutput for their contracts, which are the same for both forms but for the sizes).
type winogradForm struct {
	m int
	// tiles is about how many tiles a chunk covers: enough rows for the products to run at the
	// microkernels' speed, few enough for V and M, a² matrices each, to stay near the cache.
	tiles      int
	g          [][3]float32
	input      func(src []float32, line, c, tiles int, v []float32, ldv int)
	output     func(m []float32, ldm, f, tiles int, y []float32, line int)
	gradOutput func(dy []float32, line, f, tiles int, m []float32, ldm int)
}

var (
	// winograd2 is F(2×2, 3×3), from the interpolation points 0, ±1 and ∞.
	winograd2 = winogradForm{m: 2, tiles: 192, g: [][3]float32{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
		input: winogradInput, output: winogradOutput, gradOutput: winogradGradOutput}
	// winograd4 is F(4×4, 3×3), from the points 0, ±1, ±2 and ∞.
	winograd4 = winogradForm{m: 4, tiles: 96, g: [][3]float32{{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}},
		input: winograd4Input, output: winograd4Output, gradOutput: winograd4GradOutput}
)

// products is a², the number of products per tile and of matrices in V, U and M.
func (f winogradForm) products() int { return (f.m + 2) * (f.m + 2) }

// winogradGradMinChannels is the fewest input channels for which the weight gradient is computed
// by Winograd's transform too: its products are channels × filters, summed over the tiles, and
// with fewer channels than a microkernel's height their rows are a partial microtile, which the
// GEMM packs and stages; such weight gradients are windowed. (From 16 channels, a 3×3
// convolution's forward and backward at 28×28, batch 64, runs 15–23% faster than with the
// windowed weight gradient.)
const winogradGradMinChannels = 16

// newWinograd returns the geometry of the 3×3 convolution of src, padded by padH and padW, that
// gives out, computed by form f for batches of up to batch images.
func newWinograd(f winogradForm, src, out Shape, padH, padW, batch int) *winograd {
	m := f.m
	v := &winograd{winogradForm: f, tilesH: (out.H + m - 1) / m, tilesW: (out.W + m - 1) / m, c: src.C,
		filters: out.C, outH: out.H, outW: out.W}
	// Pad as a window whose output is the whole tiles: its padded rows are m·tilesW+2 wide.
	whole := Shape{H: m * v.tilesH, W: m * v.tilesW, C: out.C}
	v.pad = newWindow(src, whole, 3, 3, padH, padW, 1)
	v.rows = min(batch*v.tilesH, max(1, f.tiles/v.tilesW))
	v.tiles = (v.rows*v.tilesW + convRowMultiple - 1) / convRowMultiple * convRowMultiple
	v.ldv, v.ldm = v.tiles*src.C+16, v.tiles*out.C+16
	v.inLen = v.pad.blockLen(m * min(v.rows, v.tilesH))
	v.vLen, v.mLen = f.products()*v.ldv, f.products()*v.ldm
	v.ol = m * v.tilesW * out.C
	v.gradPad = newWindow(out, whole, 1, 1, 0, 0, 1)
	v.outLen = v.gradPad.blockLen(m * min(v.rows, v.tilesH))
	v.t = make([]float32, (m+2)*3*out.C)
	return v
}

// winogradFormOf returns the form that computes an output of shape out with fewer products:
// F(4×4, 3×3), except where its tiles pad the image so much that F(2×2, 3×3) takes no more (images
// of 2×2, 5×5 or 6×6 pixels, say).
func winogradFormOf(out Shape) winogradForm {
	cost := func(f winogradForm) int {
		return f.products() * ((out.H + f.m - 1) / f.m) * ((out.W + f.m - 1) / f.m)
	}
	if cost(winograd4) < cost(winograd2) {
		return winograd4
	}
	return winograd2
}

// usesWinograd reports whether a convolution is computed by Winograd's transform: a 3×3,
// stride-1 convolution of one block with at least 8 channels, padded by at most 2 so that its
// input gradient (the dual convolution, padded 2−pad) is one too.
func usesWinograd(s ConvSpec, in Shape, blocks int) bool {
	return s.KH == 3 && s.KW == 3 && s.Stride == 1 && s.PadH <= 2 && s.PadW <= 2 && blocks == 1 && in.C >= 8
}

// size is the length of a chunk's buffers.
func (v *winograd) size() int { return v.inLen + v.vLen + v.mLen + v.outLen }

// chunks is how many chunks a batch of n images has.
func (v *winograd) chunks(n int) int { return parallel.Chunks(n*v.tilesH, v.rows) }

// transformWeights sets u, [a²][c][f], to G·g·Gᵀ for each 3×3 kernel g = w[·][·][c][f] of w,
// laid out [3][3][c][f]: for each input channel, G·g for the rows of f filters of each kernel
// column, then (G·g)·Gᵀ.
func (v *winograd) transformWeights(u, w []float32) {
	c, f, a := v.c, v.filters, v.m+2
	for ci := range c {
		for kw := range 3 {
			for i, gr := range v.g {
				t := v.t[(i*3+kw)*f:][:f]
				clear(t)
				for kh, x := range gr {
					if x != 0 {
						addScaled(t, t, w[((kh*3+kw)*c+ci)*f:], x)
					}
				}
			}
		}
		for i := range a {
			for j, gr := range v.g {
				d := u[((a*i+j)*c+ci)*f:][:f]
				clear(d)
				for kw, x := range gr {
					if x != 0 {
						addScaled(d, d, v.t[(i*3+kw)*f:], x)
					}
				}
			}
		}
	}
}

// convolve computes chunk i of a batch of n images src (images of the source's size) into dst
// (images of the output's size), with the transformed weights u: it sets dst's pixels with the
// epilogue e applied, or with add adds to them.
func (v *winograd) convolve(buf, src, dst, u []float32, n, i int, add bool, e epilogue) {
	b := v.buffers(buf)
	c, f := v.c, v.filters
	q0, q1 := parallel.Span(i, n*v.tilesH, v.rows)
	v.transformInput(b, src, q0, q1)
	// The rows past the chunk's tiles, up to the GEMM's multiple, are left as they are: their
	// products land in rows of M that nothing reads.
	for xi := range v.products() {
		gemm.Sgemm(false, false, v.tiles, f, c, 1, b.v[xi*v.ldv:], c, u[xi*c*f:], f, 0, b.m[xi*v.ldm:], f)
	}
	size := v.outH * v.outW * f
	for q := q0; q < q1; {
		img, t0, t1 := v.segment(q, q1)
		for r := range t1 - t0 {
			v.output(b.m[(q-q0+r)*v.tilesW*f:], v.ldm, f, v.tilesW, b.out[v.m*r*v.ol:], v.ol)
		}
		oh0, oh1 := v.m*t0, min(v.m*t1, v.outH)
		at := img*size + oh0*v.outW*f
		storeRows(dst[at:img*size+oh1*v.outW*f], b.out, oh1-oh0, v.outW*f, v.ol, f, add, e, at)
		q += t1 - t0
	}
}

// winogradBuffers are a chunk's buffers: the padded input rows, the transformed inputs V, the
// products M (or the transformed output gradients) and the output rows (or the padded output
// gradient's rows).
type winogradBuffers struct{ in, v, m, out []float32 }

func (v *winograd) buffers(buf []float32) winogradBuffers {
	var b winogradBuffers
	for _, p := range []struct {
		dst *[]float32
		n   int
	}{{&b.in, v.inLen}, {&b.v, v.vLen}, {&b.m, v.mLen}, {&b.out, v.outLen}} {
		*p.dst, buf = buf[:p.n], buf[p.n:]
	}
	return b
}

// segment returns the part of tile rows [q, q1) of the batch in q's image: the image and its tile
// rows [t0, t1).
func (v *winograd) segment(q, q1 int) (img, t0, t1 int) {
	img, t0 = q/v.tilesH, q%v.tilesH
	return img, t0, min(v.tilesH, t0+q1-q)
}

// transformInput pads the input rows of tile rows [q0, q1) of the batch src, image by image, and
// transforms their tiles into the matrices V. (Reading the windows that lie inside the image in
// place instead, and padding only the others, measured slower on an AMD EPYC: the copy is where
// the rows are first fetched into the cache, which it does faster than the transform would.)
func (v *winograd) transformInput(b winogradBuffers, src []float32, q0, q1 int) {
	c, size, line := v.c, v.pad.src.Size(), v.pad.wp*v.c
	for q := q0; q < q1; {
		img, t0, t1 := v.segment(q, q1)
		v.pad.pad(b.in, src[img*size:][:size], v.m*t0, v.m*t1)
		for r := range t1 - t0 {
			v.input(b.in[v.m*r*line:], line, c, v.tilesW, b.v[(q-q0+r)*v.tilesW*c:], v.ldv)
		}
		q += t1 - t0
	}
}

// weightGrad sets du, [a²][c][f], to the weight gradient's transform over the tiles of images
// [n0, n1), dU[ξ] = Σ_t V[ξ][t]ᵀ·(A·dY_t·Aᵀ)[ξ], for the input x and output gradient dy of the
// whole batch, a chunk of tile rows at a time; addWeightGrad turns it into the weights'.
func (v *winograd) weightGrad(buf, x, dy, du []float32, n0, n1 int) {
	b := v.buffers(buf)
	c, f := v.c, v.filters
	size, line := v.outH*v.outW*f, v.m*v.tilesW*f
	var beta float32
	for q0 := n0 * v.tilesH; q0 < n1*v.tilesH; q0 += v.rows {
		q1 := min(q0+v.rows, n1*v.tilesH)
		v.transformInput(b, x, q0, q1)
		for q := q0; q < q1; {
			img, t0, t1 := v.segment(q, q1)
			// Reading dY's tiles in place instead measured no faster overall: faster for images
			// of 14×14 and less, slower for 16×16 and more.
			v.gradPad.pad(b.out, dy[img*size:][:size], v.m*t0, v.m*t1)
			for r := range t1 - t0 {
				v.gradOutput(b.out[v.m*r*line:], line, f, v.tilesW, b.m[(q-q0+r)*v.tilesW*f:], v.ldm)
			}
			q += t1 - t0
		}
		tiles := (q1 - q0) * v.tilesW
		for xi := range v.products() {
			gemm.Sgemm(true, false, c, f, tiles, 1, b.v[xi*v.ldv:], c, b.m[xi*v.ldm:], f, beta, du[xi*c*f:], f)
		}
		beta = 1
	}
}

// addWeightGrad adds Gᵀ·dU·G to dw, laid out [3][3][c][f], for the transform du of weightGrad: for
// each input channel, dU·G for the rows of f filters of each row of dU, then Gᵀ·(dU·G).
func (v *winograd) addWeightGrad(dw, du []float32) {
	c, f, a := v.c, v.filters, v.m+2
	for ci := range c {
		for i := range a {
			for kw := range 3 {
				t := v.t[(i*3+kw)*f:][:f]
				clear(t)
				for j, gr := range v.g {
					if gr[kw] != 0 {
						addScaled(t, t, du[((a*i+j)*c+ci)*f:], gr[kw])
					}
				}
			}
		}
		for kh := range 3 {
			for kw := range 3 {
				d := dw[((kh*3+kw)*c+ci)*f:][:f]
				for i, gr := range v.g {
					if gr[kh] != 0 {
						addScaled(d, d, v.t[(i*3+kw)*f:], gr[kh])
					}
				}
			}
		}
	}
}
