package gemm

import "sync"

// scratch holds one thread's packed panels and the staging tile for microtiles cut by C's edge.
type scratch struct {
	a, b, tile []float32
}

var scratches = freeList[scratch]{alloc: func() *scratch { return new(scratch) }}

// gemm computes rows [i0, i1) and columns [j0, j1) of C with microkernel kr, looping in the
// Goto/BLIS order: column blocks of nc, then k blocks of kc (op(B) packed once per block), then
// row blocks of mc, then microtiles. The k blocks depend only on k and kr, so the result for any C
// element does not depend on the rectangle it was computed in.
func (s *scratch) gemm(kr *kernel, g *operands, i0, i1, j0, j1 int) {
	mr, nr := kr.mr, kr.nr
	kc := evenSplit(g.k, kr.kc, 1)
	s.a = grow(s.a, min(kr.mc, roundUp(i1-i0, mr))*kc)
	s.b = grow(s.b, min(kr.nc, roundUp(j1-j0, nr))*kc)
	s.tile = grow(s.tile, mr*nr)
	for jc := j0; jc < j1; jc += kr.nc {
		nc := min(kr.nc, j1-jc)
		for pc := 0; pc < g.k; pc += kc {
			kb := min(kc, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1 // later k blocks add to what the first wrote
			}
			pack(s.b, g.b, g.ldb, g.transB, jc, nc, pc, kb, nr)
			for ic := i0; ic < i1; ic += kr.mc {
				s.macro(kr, g, ic, min(kr.mc, i1-ic), jc, nc, pc, kb, beta)
			}
		}
	}
}

// macro runs the microkernel over the mc×nc block of C at (ic, jc) for the k block [pc, pc+kb),
// with op(B) packed. op(A) is packed too when enough slivers of B reuse it; otherwise the kernel
// reads it in place and only a sliver cut short by the block's edge is packed, with zeros below.
// Microtiles cut by the block's edge are computed in s.tile and copied, so that every C element
// goes through exactly the same arithmetic.
func (s *scratch) macro(kr *kernel, g *operands, ic, mc, jc, nc, pc, kb int, beta float32) {
	mr, nr := kr.mr, kr.nr
	// Sliver ir of op(A) starts at a[ir*step] and has strides rsA, csA; slivers from whole on are
	// in s.a.
	var a []float32
	var step, rsA, csA, whole int
	switch {
	case nc > inPlaceSlivers*nr:
		pack(s.a, g.a, g.lda, !g.transA, ic, mc, pc, kb, mr)
		a, step, rsA, csA, whole = s.a, kb, 1, mr, mc
	case g.transA:
		a, step, rsA, csA, whole = g.a[pc*g.lda+ic:], 1, 1, g.lda, mc/mr*mr
	default:
		a, step, rsA, csA, whole = g.a[ic*g.lda+pc:], g.lda, g.lda, 1, mc/mr*mr
	}
	if whole < mc {
		pack(s.a, g.a, g.lda, !g.transA, ic+whole, mc-whole, pc, kb, mr)
	}
	for jr := 0; jr < nc; jr += nr {
		bp := s.b[jr*kb : (jr+nr)*kb]
		cols := min(nr, nc-jr)
		for ir := 0; ir < mc; ir += mr {
			ap, rs, cs := s.a, 1, mr
			if ir < whole {
				ap, rs, cs = a[ir*step:], rsA, csA
			}
			c := g.c[(ic+ir)*g.ldc+jc+jr:]
			rows := min(mr, mc-ir)
			if rows == mr && cols == nr {
				kr.fn(kb, ap, rs, cs, bp, c, g.ldc, g.alpha, beta)
				continue
			}
			t := s.tile[:mr*nr]
			if beta != 0 {
				for i := range rows {
					copy(t[i*nr:i*nr+cols], c[i*g.ldc:])
				}
			}
			kr.fn(kb, ap, rs, cs, bp, t, nr, g.alpha, beta)
			for i := range rows {
				copy(c[i*g.ldc:i*g.ldc+cols], t[i*nr:])
			}
		}
	}
}

// inPlaceSlivers is the most slivers of op(B) for which the kernel reads op(A) in place: packing
// a block of op(A) costs about as much as multiplying it by a few slivers, so it pays only when
// more slivers reuse it.
var inPlaceSlivers = 4

// pack copies the on×pn block at (o0, p0) of a matrix into slivers of w rows for the microkernel:
// element (o, p) goes to dst[(o/w)*w*pn + p*w + o%w], and the last sliver is padded with zeros.
// Element (o, p) is x[o*ld+p] when oMajor is set and x[p*ld+o] otherwise; op(A) is packed with
// o = row, op(B) with o = column, p running along k in both.
func pack(dst, x []float32, ld int, oMajor bool, o0, on, p0, pn, w int) {
	for q := 0; q < on; q += w {
		sliver := dst[q*pn : (q+w)*pn]
		if n := min(w, on-q); n < w || !packSliver(sliver, x, ld, oMajor, o0+q, p0, pn, w) {
			packGeneric(sliver, x, ld, oMajor, o0+q, n, p0, pn, w)
		}
	}
}

// packGeneric packs one sliver of n <= w rows of pack's block, starting at row o0, in plain Go.
func packGeneric(sliver, x []float32, ld int, oMajor bool, o0, n, p0, pn, w int) {
	if oMajor {
		for o := range n {
			for p, v := range x[(o0+o)*ld+p0:][:pn] {
				sliver[p*w+o] = v
			}
		}
	} else {
		for p := range pn {
			copy(sliver[p*w:p*w+n], x[(p0+p)*ld+o0:])
		}
	}
	if n < w {
		for p := range pn {
			clear(sliver[p*w+n : (p+1)*w])
		}
	}
}

// grow returns x resliced to n elements, reallocated only when its capacity is short.
func grow(x []float32, n int) []float32 {
	if cap(x) < n {
		return make([]float32, n)
	}
	return x[:n]
}

// freeList keeps objects for reuse. Unlike sync.Pool it is never emptied by the garbage collector,
// so GEMMs in a training step allocate nothing even when other code triggers collections; it holds
// at most as many objects as were ever in use at once.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
	alloc func() *T
}

func (l *freeList[T]) get() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.items); n > 0 {
		x := l.items[n-1]
		l.items = l.items[:n-1]
		return x
	}
	return l.alloc()
}

func (l *freeList[T]) put(x *T) {
	l.mu.Lock()
	l.items = append(l.items, x)
	l.mu.Unlock()
}
