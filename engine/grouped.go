package engine

import "github.com/gonas/nas/engine/parallel"

// A grouped convolution whose groups have gs = 4 or 8 input and as many output channels is
// computed directly, group by group, instead of by merging groups into blocks of convBlockWidth
// filters (which spends 4 or 2 times the multiply-adds on the zeros between groups). Its
// kernels (groupedConv4, groupedConv8, groupedGrad4, groupedGrad8) take the channels in vectors
// of eight: one group of 8, or a pair of groups of 4.
//
// Every pass is a gather: a destination pixel a (one axis shown; the other is alike) is the sum
// over the kernel taps k whose source pixel (a·u + e + σ·k)/d is whole, and inside the image, of
// that source pixel's channels times the tap's weights. The output is the gather of x with
// u = Stride, d = 1, e = −Pad, σ = +1; the input gradient is the gather of dY with u = 1,
// d = Stride, e = Pad, σ = −1, its weights transposed (dX[ci] = Σ_co dY[co]·w[ci][co]): a
// stride-s input gradient has s×s phases, the pixels a with the same (a·u + e) mod d, each with
// its own taps. Along a row, the pixels of one phase are d apart in the destination and u apart
// in the source, and down a column, d rows apart and u rows apart: either is one kernel call over
// pixels at fixed strides, reading the images in place. The taps that fall outside the image are
// left out, which splits a phase's pixels into interior rows and columns, whose windows lie
// inside the image, and the few border rows and columns: each interior row's interior pixels are
// one call, each border column's interior rows are one call down the column, each border row's
// interior pixels one call, and each corner pixel one call.
//
// The weight gradient dW[g][k][ci][co] = Σ_pixels x(window of k)[ci]·dY[co] is computed by the
// same walk over the output's gather of x, per segment of the batch as for the other
// convolutions.
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
	// tapBuf holds each worker's taps of one kernel call, 2·taps ints per worker.
	tapBuf []int
}

// gather is the geometry of one gathering pass from src, an image of src.H×src.W pixels of c
// channels, into dst, dstH×dstW pixels of c channels: destination row a reads source rows
// (a·u + eh + σ·kh)/d, and columns likewise with ew (see the comment at the top).
type gather struct {
	src              Shape
	dstH, dstW       int
	u, d, eh, ew, sg int
	// A band, one chunk of a pass, is up to rows destination rows of an image.
	rows int
	// taps holds, for each phase pair p = ph·d + pq (row phase ph = (a·u+eh) mod d, column phase
	// pq likewise), from tapAt[p] to tapAt[p+1], triples of a tap's source row and column
	// relative to the pixel (⌊(a·u+eh)/d⌋, ⌊(b·u+ew)/d⌋) and its weights' offset within a
	// vector's packed weights.
	taps, tapAt []int
}

// floorDiv returns ⌊a/b⌋ for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// newGrouped returns the direct computation of a convolution from in to out with groups of gs,
// run by up to threads workers.
func newGrouped(s ConvSpec, in, out Shape, gs, threads int) *grouped {
	taps := s.KH * s.KW
	o := &grouped{gs: gs, taps: taps,
		fwd:    newGather(in, out, s.KH, s.KW, s.Stride, 1, -s.PadH, -s.PadW, 1, gs),
		dual:   newGather(out, in, s.KH, s.KW, 1, s.Stride, s.PadH, s.PadW, -1, gs),
		wf:     make([]float32, in.C*taps*gs),
		wd:     make([]float32, in.C*taps*gs),
		tapBuf: make([]int, threads*2*taps),
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
	v := gather{src: src, dstH: dst.H, dstW: dst.W, u: u, d: d, eh: eh, ew: ew, sg: sg}
	v.rows = min(dst.H, max(1, convBand/(dst.W*dst.C)))
	v.tapAt = make([]int, d*d+1)
	for p := range d * d {
		ph, pq := p/d, p%d
		for i := range kh {
			for j := range kw {
				if (sg*i+ph)%d == 0 && (sg*j+pq)%d == 0 {
					v.taps = append(v.taps, (sg*i+ph)/d, (sg*j+pq)/d, (i*kw+j)*gs*8)
				}
			}
		}
		v.tapAt[p+1] = len(v.taps)
	}
	return v
}

// bands is how many bands an image has.
func (v *gather) bands() int { return parallel.Chunks(v.dstH, v.rows) }

// band returns band i of the batch: its image and its destination rows [a0, a1).
func (v *gather) band(i int) (n, a0, a1 int) {
	n, i = i/v.bands(), i%v.bands()
	a0, a1 = parallel.Span(i, v.dstH, v.rows)
	return n, a0, a1
}

// interior returns the pixels [i0, i1) of cnt, pixel i at source row (or column) b + i·u, whose
// taps, rows (or columns) lo to hi from it, all lie in [0, size).
func interior(b, u, lo, hi, size, cnt int) (i0, i1 int) {
	i0 = min(cnt, max(0, -floorDiv(b+lo, u)))
	i1 = max(i0, min(cnt, floorDiv(size-1-hi-b, u)+1))
	return i0, i1
}

// visit walks band i of the batch in kernel calls: for each it calls f with the offsets of the
// call's first destination and source pixels in the batch, their strides, its number of pixels
// and its taps (pairs of offsets into the source from a pixel's and into a vector's weights),
// kept in buf. As it starts a row of a phase, it prefetches from src the source rows of the
// phase's next two rows, and the next row from read when it is not nil (a destination that f
// reads): the kernels read pixels of several rows at a time, a pattern that the CPU's own
// prefetching does not foresee.
func (v *gather) visit(buf []int, i int, src, read []float32, f func(dstAt, ds, srcAt, ss, cnt int, taps []int)) {
	n, a0, a1 := v.band(i)
	c, h, w := v.src.C, v.src.H, v.src.W
	img, dst := n*v.src.Size(), n*v.dstH*v.dstW*c
	for first := a0; first < min(a1, a0+v.d); first++ {
		// The band's rows of one phase: first + i·d, source row rb + i·u.
		t := first*v.u + v.eh
		ph, rb, rows := t-floorDiv(t, v.d)*v.d, floorDiv(t, v.d), (a1-first+v.d-1)/v.d
		for q := range min(v.d, v.dstW) {
			// The row's pixels of one phase: q + j·d, source column cb + j·u.
			t := q*v.u + v.ew
			pq, cb, cols := t-floorDiv(t, v.d)*v.d, floorDiv(t, v.d), (v.dstW-q+v.d-1)/v.d
			all := v.taps[v.tapAt[ph*v.d+pq]:v.tapAt[ph*v.d+pq+1]]
			roLo, roHi, coLo, coHi := 0, 0, 0, 0
			for k := 0; k < len(all); k += 3 {
				roLo, roHi = min(roLo, all[k]), max(roHi, all[k])
				coLo, coHi = min(coLo, all[k+1]), max(coHi, all[k+1])
			}
			i0, i1 := interior(rb, v.u, roLo, roHi, h, rows)
			j0, j1 := interior(cb, v.u, coLo, coHi, w, cols)
			// call runs cnt pixels from (i, j), along the row or down the column.
			call := func(i, j, cnt int, down bool) {
				if cnt <= 0 {
					return
				}
				r, col := rb+i*v.u, cb+j*v.u
				taps, lo := buf[:0], 0
				for k := 0; k < len(all); k += 3 {
					if sr, sc := r+all[k], col+all[k+1]; sr >= 0 && sr < h && sc >= 0 && sc < w {
						off := (all[k]*w + all[k+1]) * c
						if len(taps) == 0 || off < lo {
							lo = off
						}
						taps = append(taps, off, all[k+2])
					}
				}
				for k := 0; k < len(taps); k += 2 {
					taps[k] -= lo
				}
				at := dst + ((first+i*v.d)*v.dstW+q+j*v.d)*c
				from := img + (r*w+col)*c + lo
				if len(taps) == 0 {
					from = img
				}
				if down {
					f(at, v.d*v.dstW*c, from, v.u*w*c, cnt, taps)
				} else {
					f(at, v.d*c, from, v.u*c, cnt, taps)
				}
			}
			for i := range rows {
				if r0, r1 := max(0, rb+(i+1)*v.u+roLo), min(h, rb+(i+2)*v.u+roHi+1); q == 0 && r0 < r1 {
					prefetch(src[img+r0*w*c : img+r1*w*c])
					if a := first + (i+1)*v.d; read != nil && a < a1 {
						prefetch(read[dst+a*v.dstW*c:][:v.dstW*c])
					}
				}
				if i >= i0 && i < i1 {
					call(i, j0, j1-j0, false)
					continue
				}
				// A border row.
				call(i, j0, j1-j0, false)
				for j := range cols {
					if j < j0 || j >= j1 {
						call(i, j, 1, false)
					}
				}
			}
			for j := range cols {
				if j < j0 || j >= j1 {
					call(i0, j, i1-i0, true)
				}
			}
		}
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
// added to), with the packed weights w, for worker wk, and returns the band's destination pixels
// [p0, p1).
func (o *grouped) run(v *gather, wk int, src, dst, w []float32, i int, add bool) (p0, p1 int) {
	v.visit(o.workerTaps(wk), i, src, nil, func(dstAt, ds, srcAt, ss, cnt int, taps []int) {
		o.conv(dst[dstAt:], ds, src[srcAt:], ss, cnt, taps, w, add)
	})
	n, a0, a1 := v.band(i)
	return (n*v.dstH + a0) * v.dstW, (n*v.dstH + a1) * v.dstW
}

// weightGrad adds to dw, laid out as wf, the weight gradient of band i of the batch, for worker
// wk: for each output pixel, its window of x times its gradient in dy.
func (o *grouped) weightGrad(dw []float32, wk int, x, dy []float32, i int) {
	o.fwd.visit(o.workerTaps(wk), i, x, dy, func(dyAt, dys, xAt, xs, cnt int, taps []int) {
		o.grad(dw, x[xAt:], xs, dy[dyAt:], dys, cnt, taps)
	})
}

// workerTaps is worker wk's buffer for the taps of a kernel call.
func (o *grouped) workerTaps(wk int) []int { return o.tapBuf[wk*2*o.taps : (wk+1)*2*o.taps] }

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
// it adds R_r[l] = Σ_i src[i·ss+s+8v+l]·dy[i·dys+8v+4h+(ci+r) mod 4] (l = 4h+ci), summed over
// the n pixels in order, to dw[v·wv+ω+8r+l]: the gradient of w[k][ci][(ci+r) mod 4] of group
// 2v+h, which is where wf holds that weight (W_r[l]).
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
