package gemm

import "sync"

// scratch holds one thread's packed panels and the staging tile for microtiles cut by C's edge.
type scratch struct {
	a, b, tile []float32
}

var scratches = freeList[scratch]{alloc: func() *scratch { return new(scratch) }}

// gemm computes rows [i0, i1) and columns [j0, j1) of C with microkernel kr, looping in the
// Goto/BLIS order: column blocks of nc, then k blocks of kc (op(B) packed once per block), then
// row blocks of mc (op(A) packed), then microtiles. The k blocks depend only on k and kr, so the
// result for any C element does not depend on the rectangle it was computed in.
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
				mc := min(kr.mc, i1-ic)
				pack(s.a, g.a, g.lda, !g.transA, ic, mc, pc, kb, mr)
				s.macro(kr, g, ic, mc, jc, nc, kb, beta)
			}
		}
	}
}

// macro runs the microkernel over the mc×nc block of C at (ic, jc) from the packed panels.
// Microtiles cut by the block's edge are computed in s.tile and copied, so that they go through
// exactly the arithmetic of whole ones.
func (s *scratch) macro(kr *kernel, g *operands, ic, mc, jc, nc, kb int, beta float32) {
	mr, nr := kr.mr, kr.nr
	for jr := 0; jr < nc; jr += nr {
		bp := s.b[jr*kb : (jr+nr)*kb]
		cols := min(nr, nc-jr)
		for ir := 0; ir < mc; ir += mr {
			ap := s.a[ir*kb : (ir+mr)*kb]
			rows := min(mr, mc-ir)
			c := g.c[(ic+ir)*g.ldc+jc+jr:]
			if rows == mr && cols == nr {
				kr.fn(kb, ap, bp, c, g.ldc, g.alpha, beta)
				continue
			}
			t := s.tile[:mr*nr]
			if beta != 0 {
				for i := range rows {
					copy(t[i*nr:i*nr+cols], c[i*g.ldc:])
				}
			}
			kr.fn(kb, ap, bp, t, nr, g.alpha, beta)
			for i := range rows {
				copy(c[i*g.ldc:i*g.ldc+cols], t[i*nr:])
			}
		}
	}
}

// pack copies the on×pn block at (o0, p0) of a matrix into panels of w rows for the microkernel:
// element (o, p) goes to dst[(o/w)*w*pn + p*w + o%w], and the last panel is padded with zeros.
// Element (o, p) is x[o*ld+p] when oMajor is set and x[p*ld+o] otherwise; op(A) is packed with
// o = row, op(B) with o = column, p running along k in both.
func pack(dst, x []float32, ld int, oMajor bool, o0, on, p0, pn, w int) {
	for q := 0; q < on; q += w {
		panel := dst[q*pn : (q+w)*pn]
		n := min(w, on-q)
		if oMajor {
			for o := range n {
				src := x[(o0+q+o)*ld+p0:][:pn]
				for p, v := range src {
					panel[p*w+o] = v
				}
			}
		} else {
			for p := range pn {
				copy(panel[p*w:p*w+n], x[(p0+p)*ld+o0+q:])
			}
		}
		if n < w {
			for p := range pn {
				clear(panel[p*w+n : (p+1)*w])
			}
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
