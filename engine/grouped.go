package engine

import "github.com/gonas/nas/engine/parallel"

// A grouped convolution whose groups have gs = 4 or 8 input and as many output channels is
// computed directly, group by group, instead of by merging groups into blocks of convBlockWidth
// filters (which spends 4 or 2 times the multiply-adds on the zeros between groups). Its
// kernels (groupedConv4, groupedConv8, groupedGrad4, groupedGrad8) take the channels in vectors
// of eight: one group of 8, or a pair of groups of 4.
//
// Every pass is a gather: a destination pixel a (one axis shown; the other is alike) is the sum
// over the kernel taps k whose source pixel (a·u + e + σ·k)/d is whole of that source pixel's
// channels times the tap's weights. The output is the gather of x with u = Stride, d = 1,
// e = −Pad, σ = +1; the input gradient is the gather of dY with u = 1, d = Stride, e = Pad,
// σ = −1, its weights transposed (dX[ci] = Σ_co dY[co]·w[ci][co]): a stride-s input gradient
// has s×s phases, the pixels a with the same (a·u + e) mod d, each with its own taps. A chunk
// gathers a band of destination rows from a buffer that holds the source rows it reads, with
// zeros where they lie outside the image, so that the kernels need no bounds: a phase's pixels
// of one row are one kernel call over pixels d apart in the destination and u apart in the
// buffer.
//
// The weight gradient dW[g][k][ci][co] = Σ_pixels x(window of k)[ci]·dY[co] is computed
// by the same kernels' duals on the output's gather of x, per segment of the batch as for the
// other convolutions.
//
// With gs = 8, a vector is a group's 8 output channels, and the kernel adds, for each tap and
// input channel ci, the broadcast input x[ci] times the vector w[k][ci][·]. With gs = 4 a
// vector holds two groups, one per 128-bit lane, and a product with a broadcast would need a
// shuffle per multiply-add; instead the kernel multiplies the input vector as it is by four
// vectors of weights W_r[ci] = w[k][ci][(ci+r) mod 4], r < 4, into four accumulators A_r, whose
// lane element ci is a term of output (ci+r) mod 4: at the end y[co] = Σ_r A_r[(co−r) mod 4],
// three in-lane rotations per output vector instead of one shuffle per multiply-add. Its weight
// gradient likewise accumulates x times dY rotated by r, R_r[ci] = Σ x[ci]·dY[(ci+r) mod 4],
// the gradient of w[k][ci][(ci+r) mod 4], so that a segment's partial holds the gradient in the
// layout of the packed weights.

// groupedWidth returns the group width gs of a convolution computed by the grouped kernels, or
// 0: at least two groups of 4 or 8 input and as many output channels, an even number of groups
// of 4 so that they pair up.
func groupedWidth(s ConvSpec, in Shape) int {
	if s.Groups < 2 || in.C/s.Groups != s.Filters/s.Groups {
		return 0
	}
	switch gs := in.C / s.Groups; {
	case gs == 8, gs == 4 && s.Groups%2 == 0:
		return gs
	}
	return 0
}

// grouped is a grouped convolution's direct computation.
type grouped struct {
	gs, taps int
	// fwd gathers the output from x, dual the input gradient from dY.
	fwd, dual gather
	// wf and wd are the weights packed for the output's and the input gradient's kernels,
	// [vector][tap][8][8] (gs = 8: w[k][ci][co] and w[k][co][ci]) or [vector][tap][r][8]
	// (gs = 4: the rotated weights W_r of the two groups). fwdIndex and dualIndex give the place
	// in wf and wd of each weight in the parameter's layout; fwdIndex is nil when wf is the
	// parameter's own layout (gs = 8).
	wf, wd              []float32
	fwdIndex, dualIndex []int32
}

// gather is the geometry of one gathering pass from src, an image of src.H×src.W pixels of c
// channels, into dst, dstH×dstW pixels of c channels: destination row a reads source rows
// (a·u + eh + σ·kh)/d, and columns likewise with ew (see the comment at the top).
type gather struct {
	src              Shape
	dstH, dstW       int
	kh, kw           int
	u, d, eh, ew, sg int
	// A band is up to rows destination rows. Its buffer holds source rows of wb pixels, columns
	// from clo on; bufLen is the longest buffer of a band.
	rows, wb, clo, bufLen int
	// taps holds, for each phase pair p = ph·d + pq (row phase ph, column phase pq), from
	// tapAt[p] to tapAt[p+1], pairs of a tap's offset in the buffer from the source pixel
	// (⌊(a·u+eh)/d⌋, ⌊(b·u+ew)/d⌋) plus back, and its weights' offset within a vector's packed
	// weights. back is the largest distance back from that pixel of a tap's (σ = −1 reads
	// pixels before it), which makes the offsets non-negative.
	taps, tapAt []int
	back        int
}

// floorDiv returns ⌊a/b⌋ for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// newGrouped returns the direct computation of a convolution from in to out with groups of gs.
func newGrouped(s ConvSpec, in, out Shape, gs int) *grouped {
	taps := s.KH * s.KW
	o := &grouped{gs: gs, taps: taps,
		fwd:  newGather(in, out, s.KH, s.KW, s.Stride, 1, -s.PadH, -s.PadW, 1, gs),
		dual: newGather(out, in, s.KH, s.KW, 1, s.Stride, s.PadH, s.PadW, -1, gs),
		wf:   make([]float32, in.C*taps*gs),
		wd:   make([]float32, in.C*taps*gs),
	}
	n := in.C * taps * gs
	o.dualIndex = make([]int32, n)
	if gs == 4 {
		o.fwdIndex = make([]int32, n)
	}
	for j := range n {
		// Weight j is w[g][k][ci][co].
		co, ci, k, g := j%gs, j/gs%gs, j/(gs*gs)%taps, j/(gs*gs*taps)
		if gs == 8 {
			o.dualIndex[j] = int32(((g*taps+k)*8+co)*8 + ci)
			continue
		}
		base := (g/2*taps+k)*32 + g%2*4
		o.fwdIndex[j] = int32(base + (co-ci+4)%4*8 + ci)
		o.dualIndex[j] = int32(base + (ci-co+4)%4*8 + co)
	}
	return o
}

// newGather returns the geometry of a gathering pass (see gather) for groups of gs.
func newGather(src, dst Shape, kh, kw, u, d, eh, ew, sg, gs int) gather {
	v := gather{src: src, dstH: dst.H, dstW: dst.W, kh: kh, kw: kw, u: u, d: d, eh: eh, ew: ew, sg: sg}
	lo, hi := v.span(0, dst.W, ew, kw)
	v.clo, v.wb = lo, hi-lo
	v.rows = dst.H
	for v.rows > 1 && v.bandLen(0, v.rows) > convBand {
		v.rows--
	}
	for i := range v.bands() {
		v.bufLen = max(v.bufLen, v.bandLen(parallel.Span(i, dst.H, v.rows)))
	}
	v.tapAt = make([]int, d*d+1)
	for p := range d * d {
		ph, pq := p/d, p%d
		for i := range kh {
			for j := range kw {
				if (sg*i+ph)%d == 0 && (sg*j+pq)%d == 0 {
					at := ((sg*i+ph)/d*v.wb + (sg*j+pq)/d) * src.C
					v.taps = append(v.taps, at, (i*kw+j)*gs*8)
				}
			}
		}
		v.tapAt[p+1] = len(v.taps)
	}
	for t := 0; t < len(v.taps); t += 2 {
		v.back = max(v.back, -v.taps[t])
	}
	for t := 0; t < len(v.taps); t += 2 {
		v.taps[t] += v.back
	}
	return v
}

// span returns the source rows (or columns) [lo, hi) that destination rows [a0, a1) read, for
// the offset e and a kernel of k taps along the axis.
func (v *gather) span(a0, a1, e, k int) (lo, hi int) {
	return floorDiv(a0*v.u+e+min(0, v.sg*(k-1)), v.d), floorDiv((a1-1)*v.u+e+max(0, v.sg*(k-1)), v.d) + 1
}

// bandLen is the length of the buffer of destination rows [a0, a1).
func (v *gather) bandLen(a0, a1 int) int {
	lo, hi := v.span(a0, a1, v.eh, v.kh)
	return (hi - lo) * v.wb * v.src.C
}

// bands is how many bands an image has.
func (v *gather) bands() int { return parallel.Chunks(v.dstH, v.rows) }

// band returns band i of the batch: its image and its destination rows [a0, a1).
func (v *gather) band(i int) (n, a0, a1 int) {
	n, i = i/v.bands(), i%v.bands()
	a0, a1 = parallel.Span(i, v.dstH, v.rows)
	return n, a0, a1
}

// fill sets buf to the source rows that destination rows [a0, a1) of img read, columns from
// clo on, zero outside the image, and returns the first of those rows.
func (v *gather) fill(buf, img []float32, a0, a1 int) int {
	c, w := v.src.C, v.src.W
	lo, hi := v.span(a0, a1, v.eh, v.kh)
	c0, c1 := max(v.clo, 0), min(v.clo+v.wb, w)
	for r := lo; r < hi; r++ {
		row := buf[(r-lo)*v.wb*c:][:v.wb*c]
		if r < 0 || r >= v.src.H || c0 >= c1 {
			clear(row)
			continue
		}
		clear(row[:(c0-v.clo)*c])
		copy(row[(c0-v.clo)*c:(c1-v.clo)*c], img[(r*w+c0)*c:])
		clear(row[(c1-v.clo)*c:])
	}
	return lo
}

// rowPhases calls f for each phase of destination row a, a band's buffer starting at source
// row lo: with the phase's first column q, the offset in the buffer of its first source pixel
// less back, its number of pixels and its taps.
func (v *gather) rowPhases(a, lo int, f func(q, at, n int, taps []int)) {
	ph, r := (a*v.u+v.eh)-floorDiv(a*v.u+v.eh, v.d)*v.d, floorDiv(a*v.u+v.eh, v.d)-lo
	for q := range min(v.d, v.dstW) {
		t := q*v.u + v.ew
		pq, col := t-floorDiv(t, v.d)*v.d, floorDiv(t, v.d)-v.clo
		p := ph*v.d + pq
		f(q, (r*v.wb+col)*v.src.C-v.back, (v.dstW-q+v.d-1)/v.d, v.taps[v.tapAt[p]:v.tapAt[p+1]])
	}
}

// packForward sets wf from the weights w in the parameter's layout.
func (o *grouped) packForward(w []float32) {
	for j, at := range o.fwdIndex {
		o.wf[at] = w[j]
	}
}

// packDual sets wd from the weights w in the parameter's layout.
func (o *grouped) packDual(w []float32) {
	for j, at := range o.dualIndex {
		o.wd[at] = w[j]
	}
}

// forwardWeights returns the output's packed weights given the weights w: w itself for gs = 8.
func (o *grouped) forwardWeights(w []float32) []float32 {
	if o.fwdIndex == nil {
		return w
	}
	return o.wf
}

// run gathers band i of the batch by the pass v from the images src into dst (set, or with add
// added to), with the packed weights w, using buf for the band's source rows, and returns the
// band's destination pixels [p0, p1).
func (o *grouped) run(v *gather, buf, src, dst, w []float32, i int, add bool) (p0, p1 int) {
	n, a0, a1 := v.band(i)
	c, dstSize := v.src.C, v.dstH*v.dstW*v.src.C
	lo := v.fill(buf, src[n*v.src.Size():][:v.src.Size()], a0, a1)
	img := dst[n*dstSize:][:dstSize]
	for a := a0; a < a1; a++ {
		row := img[a*v.dstW*c:][:v.dstW*c]
		v.rowPhases(a, lo, func(q, at, m int, taps []int) {
			o.conv(row[q*c:], v.d*c, buf[at:], v.u*c, m, taps, w, add)
		})
	}
	return (n*v.dstH + a0) * v.dstW, (n*v.dstH + a1) * v.dstW
}

// weightGrad adds to dw, laid out as wf, the weight gradient of band i of the batch: for each
// output pixel, its window of x (gathered into buf) times its gradient in dy.
func (o *grouped) weightGrad(dw, buf, x, dy []float32, i int) {
	v := &o.fwd
	n, a0, a1 := v.band(i)
	c := v.src.C
	lo := v.fill(buf, x[n*v.src.Size():][:v.src.Size()], a0, a1)
	for a := a0; a < a1; a++ {
		at := ((n*v.dstH + a) * v.dstW) * c
		v.rowPhases(a, lo, func(_, off, m int, taps []int) {
			o.grad(dw, buf[off:], v.u*c, dy[at:], c, m, taps)
		})
	}
}

// conv sets (with add adds to) the n pixels dst[i·ds:] to the sum over taps (pairs of offsets
// (s, ω)) of the pixels src[i·ss+s:] times the weights at w[ω:] of each vector, all vectors of
// channels.
func (o *grouped) conv(dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, add bool) {
	c := o.fwd.src.C
	if groupedConvVec(o.gs, dst, ds, src, ss, n, taps, w, c/8, o.taps*o.gs*8, add) {
		return
	}
	if o.gs == 4 {
		groupedConv4(dst, ds, src, ss, n, taps, w, c/8, o.taps*32, add)
		return
	}
	groupedConv8(dst, ds, src, ss, n, taps, w, c/8, o.taps*64, add)
}

// grad adds to dw the products of the n pixels src[i·ss+s:] of each tap (s, ω) with the
// gradients dy[i·dys:], at dw[ω:] of each vector of channels.
func (o *grouped) grad(dw, src []float32, ss int, dy []float32, dys, n int, taps []int) {
	c := o.fwd.src.C
	if groupedGradVec(o.gs, dw, src, ss, dy, dys, n, taps, c/8, o.taps*o.gs*8) {
		return
	}
	if o.gs == 4 {
		groupedGrad4(dw, src, ss, dy, dys, n, taps, c/8, o.taps*32)
		return
	}
	groupedGrad8(dw, src, ss, dy, dys, n, taps, c/8, o.taps*64)
}

// groupedConv8 is the gs = 8 gather kernel: for each of the n pixels i and each of nv groups v,
// the 8 outputs dst[i·ds+8v+co] = Σ_(s,ω) Σ_ci src[i·ss+s+8v+ci]·w[v·wv+ω+8ci+co], summed over
// the taps in order and within a tap over ci, then set or with add added.
func groupedConv8(dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool) {
	for i := range n {
		for v := range nv {
			var acc [8]float32
			for t := 0; t < len(taps); t += 2 {
				x := src[i*ss+taps[t]+8*v:][:8]
				wt := w[v*wv+taps[t+1]:][:64]
				for ci, xv := range x {
					for co := range acc {
						acc[co] += xv * wt[8*ci+co]
					}
				}
			}
			put(dst[i*ds+8*v:][:8], acc[:], add)
		}
	}
}

// groupedConv4 is the gs = 4 gather kernel: for each of the n pixels i and each of nv pairs of
// groups v, the accumulators A_r[l] = Σ_(s,ω) src[i·ss+s+8v+l]·w[v·wv+ω+8r+l] (l < 8, lane
// l/4 holding a group), and the outputs dst[i·ds+8v+l] = ((A_0 + ρ_1) + ρ_2) + ρ_3, ρ_r being
// A_r rotated in its lane by r: ρ_r[4h+co] = A_r[4h+(co−r) mod 4].
func groupedConv4(dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool) {
	for i := range n {
		for v := range nv {
			var acc [4][8]float32
			for t := 0; t < len(taps); t += 2 {
				x := src[i*ss+taps[t]+8*v:][:8]
				wt := w[v*wv+taps[t+1]:][:32]
				for r := range acc {
					for l, xv := range x {
						acc[r][l] += xv * wt[8*r+l]
					}
				}
			}
			var y [8]float32
			for l := range y {
				h, co := l&^3, l&3
				y[l] = acc[0][l] + acc[1][h+(co+3)%4] + acc[2][h+(co+2)%4] + acc[3][h+(co+1)%4]
			}
			put(dst[i*ds+8*v:][:8], y[:], add)
		}
	}
}

// groupedGrad8 is the gs = 8 weight-gradient kernel: for each group v and tap (s, ω), it adds
// Σ_i src[i·ss+s+8v+ci]·dy[i·dys+8v+co], summed over the n pixels in order, to
// dw[v·wv+ω+8ci+co].
func groupedGrad8(dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int) {
	for v := range nv {
		for t := 0; t < len(taps); t += 2 {
			var acc [64]float32
			for i := range n {
				x, d := src[i*ss+taps[t]+8*v:][:8], dy[i*dys+8*v:][:8]
				for ci, xv := range x {
					for co, dv := range d {
						acc[8*ci+co] += xv * dv
					}
				}
			}
			dst := dw[v*wv+taps[t+1]:][:64]
			addScaled(dst, dst, acc[:], 1)
		}
	}
}

// groupedGrad4 is the gs = 4 weight-gradient kernel: for each pair of groups v and tap (s, ω),
// it adds R_r[l] = Σ_i src[i·ss+s+8v+l]·dy[i·dys+8v+4h+(co+r) mod 4] (l = 4h+co), summed over
// the n pixels in order, to dw[v·wv+ω+8r+l]: the gradient of w[k][co][(co+r) mod 4] of group
// 2v+h, where wf holds W_r.
func groupedGrad4(dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int) {
	for v := range nv {
		for t := 0; t < len(taps); t += 2 {
			var acc [32]float32
			for i := range n {
				x, d := src[i*ss+taps[t]+8*v:][:8], dy[i*dys+8*v:][:8]
				for r := range 4 {
					for l, xv := range x {
						acc[8*r+l] += xv * d[l&^3+(l+r)&3]
					}
				}
			}
			dst := dw[v*wv+taps[t+1]:][:32]
			addScaled(dst, dst, acc[:], 1)
		}
	}
}
