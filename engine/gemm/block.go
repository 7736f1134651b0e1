package gemm

import (
	"sync"
	"sync/atomic"
)

// scratch holds one thread's packed panels and the staging tile for microtiles cut by C's edge.
type scratch struct {
	a, b, tile []float32
}

var scratches = freeList[scratch]{alloc: func() *scratch { return new(scratch) }}

// gemm computes rows [i0, i1) and columns [j0, j1) of C with microkernel kr, looping in the
// Goto/BLIS order: column blocks of nc, then k blocks of kc, then row blocks of mc, then
// microtiles. The k blocks depend only on k and kr, so the result for any C element does not
// depend on the rectangle it was computed in. If packedB is not nil it holds all of op(B) as
// packB lays it out; otherwise op(B) is read in place or packed here, block by block.
func (s *scratch) gemm(kr *kernel, g *operands, i0, i1, j0, j1 int, packedB []float32) {
	mr, nr := kr.mr, kr.nr
	kc := kBlock(kr, g.k)
	// A scratch serves products of every shape in turn, so its panels are sized for the largest
	// block at once: growing them shape by shape would allocate now and then for as long as a
	// new thread meets a larger layer.
	s.a = grow(s.a, min(kr.mc, roundUp(i1-i0, mr))*kc, kr.mc*kr.kc)
	s.b = grow(s.b, min(kr.nc, roundUp(j1-j0, nr))*kc, kr.nc*kr.kc)
	s.tile = grow(s.tile, mr*nr, mr*nr)
	for jc := j0; jc < j1; jc += kr.nc {
		nc := min(kr.nc, j1-jc)
		for pc := 0; pc < g.k; pc += kc {
			kb := min(kc, g.k-pc)
			var b slivers
			if packedB != nil {
				b = packedSlivers(packedB[pc*roundUp(g.n, nr)+jc*kb:], kb, nr)
			} else {
				b = place(s.b, g.b, g.ldb, g.transB, jc, nc, pc, kb, nr, inPlaceB(g, nr))
			}
			beta := g.beta
			if pc > 0 {
				beta = 1 // later k blocks add to what the first wrote
			}
			for ic := i0; ic < i1; ic += kr.mc {
				mc := min(kr.mc, i1-ic)
				a := place(s.a, g.a, g.lda, !g.transA, ic, mc, pc, kb, mr, inPlaceA(g, nc, nr))
				s.macro(kr, g, &a, &b, ic, mc, jc, nc, kb, beta)
			}
		}
	}
}

// kBlock returns the length of the k blocks, which cut k into the fewest blocks of at most kr.kc,
// as equal as they can be.
func kBlock(kr *kernel, k int) int { return evenSplit(k, kr.kc, 1) }

// macro runs the microkernel over the mc×nc block of C at (ic, jc) for one k block of length kb.
// Microtiles cut by the block's right edge are computed in place by the masked form of the kernel
// where it has one; others cut by an edge are computed in s.tile and copied. Either way every C
// element goes through exactly the same arithmetic.
func (s *scratch) macro(kr *kernel, g *operands, a, b *slivers, ic, mc, jc, nc, kb int, beta float32) {
	mr, nr := kr.mr, kr.nr
	for jr := 0; jr < nc; jr += nr {
		bx, _, rsB := b.at(jr)
		cols := min(nr, nc-jr)
		for ir := 0; ir < mc; ir += mr {
			ax, rsA, csA := a.at(ir)
			fn, masked := kr.fn, kr.masked
			if csA == 1 {
				fn, masked = kr.rows, kr.maskedRows
			}
			c := g.c[(ic+ir)*g.ldc+jc+jr:]
			rows := min(mr, mc-ir)
			if rows == mr && cols == nr {
				_ = c[(mr-1)*g.ldc+nr-1]
				fn(kb, ax, rsA, csA, bx, rsB, c, g.ldc, g.alpha, beta)
				continue
			}
			if rows == mr && masked != nil {
				_ = c[(mr-1)*g.ldc+cols-1]
				masked(kb, ax, rsA, csA, bx, rsB, c, g.ldc, g.alpha, beta, cols)
				continue
			}
			t := s.tile[:mr*nr]
			if beta != 0 {
				for i := range rows {
					copy(t[i*nr:i*nr+cols], c[i*g.ldc:])
				}
			}
			fn(kb, ax, rsA, csA, bx, rsB, t, nr, g.alpha, beta)
			for i := range rows {
				copy(c[i*g.ldc:i*g.ldc+cols], t[i*nr:])
			}
		}
	}
}

// slivers tells the microkernel where the slivers of one block of op(A) (w = mr rows) or op(B)
// (w = nr columns) are for one k block of length kb. The sliver whose first line is o (a multiple
// of w, counted from the block's first line) starts at x[o*step], its w lines are across apart and
// its k steps along apart, when o < whole; slivers from whole on are packed in edge.
type slivers struct {
	x                   []float32
	step, across, along int
	whole               int
	edge                []float32
	kb, w               int
}

// at returns the start and strides of the sliver whose first line is o.
func (v *slivers) at(o int) (x []float32, across, along int) {
	if o < v.whole {
		x, across, along = v.x[o*v.step:], v.across, v.along
	} else {
		x, across, along = v.edge[(o-v.whole)*v.kb:], 1, v.w
	}
	_ = x[(v.w-1)*across+(v.kb-1)*along] // the kernel's last read: a bad block panics here, not in assembly
	return x, across, along
}

// packedSlivers describes slivers that pack laid out in x.
func packedSlivers(x []float32, kb, w int) slivers {
	return slivers{edge: x, kb: kb, w: w}
}

// place returns the slivers of the on×pn block at (o0, p0) of the matrix that pack would read
// (same arguments). In place, the kernel reads whole slivers where they lie and only a sliver cut
// short by the block's edge is packed into buf, with zeros beyond the edge; otherwise the whole
// block is packed into buf.
func place(buf, x []float32, ld int, oMajor bool, o0, on, p0, pn, w int, inPlace bool) slivers {
	if !inPlace {
		pack(buf, x, ld, oMajor, o0, on, p0, pn, w)
		return packedSlivers(buf, pn, w)
	}
	v := slivers{whole: on / w * w, edge: buf, kb: pn, w: w}
	if oMajor {
		v.x, v.step, v.across, v.along = x[o0*ld+p0:], ld, ld, 1
	} else {
		v.x, v.step, v.across, v.along = x[p0*ld+o0:], 1, 1, ld
		// A sliver cut short by the edge is read in place too where its w lines lie in x: the
		// lines past the edge are whatever follows (the next row's first elements), which only
		// reach the rows or columns of C that the kernel leaves unstored or that are staged and
		// dropped, so every stored element of C is computed as from a packed sliver.
		if v.whole < on && (p0+pn-1)*ld+o0+v.whole+w <= len(x) {
			v.whole = roundUp(on, w)
		}
	}
	if v.whole < on {
		pack(buf, x, ld, oMajor, o0+v.whole, on-v.whole, p0, pn, w)
	}
	return v
}

// inPlaceSlivers bounds when the microkernel reads an operand where it lies instead of packing it.
// Packing a block of op(A) costs about as much as multiplying it by a few slivers of op(B), so it
// pays only when more than inPlaceSlivers slivers reuse the block; and an operand whose rows are at
// most inPlaceSlivers slivers wide is compact enough that reading it in place takes no more cache
// than a packed copy would.
const inPlaceSlivers = 4

// inPlaceA reports whether the microkernel reads op(A) in place for column blocks of nc. That
// holds even for rows whose stride is a multiple of 1 KiB, which fall on few L1 sets: packing such
// an A for a 1×1 convolution from 256 channels to 64 (nc = 64) took a third of its forward time,
// and reading it in place runs the forward 1.4× faster.
func inPlaceA(g *operands, nc, nr int) bool {
	short := inPlaceSlivers * nr
	return nc <= short || g.lda <= short
}

// inPlaceB reports whether the microkernel reads op(B) in place, which needs its rows contiguous.
func inPlaceB(g *operands, nr int) bool {
	return !g.transB && g.ldb <= inPlaceSlivers*nr
}

// packB packs all of op(B) for Parallel, k block after k block: the block starting at pc takes
// roundUp(n, nr)·kb elements from x[pc*roundUp(n, nr)] and is laid out as pack lays it out.
func packB(x []float32, kr *kernel, g *operands, pc int) {
	kb := min(kBlock(kr, g.k), g.k-pc)
	pack(x[pc*roundUp(g.n, kr.nr):], g.b, g.ldb, g.transB, 0, g.n, pc, kb, kr.nr)
}

// pack copies the on×pn block at (o0, p0) of a matrix into slivers of w rows for the microkernel:
// element (o, p) goes to dst[(o/w)*w*pn + p*w + o%w], and the last sliver is padded with zeros.
// Element (o, p) is x[o*ld+p] when oMajor is set and x[p*ld+o] otherwise; op(A) is packed with
// o = row, op(B) with o = column, p running along k in both.
func pack(dst, x []float32, ld int, oMajor bool, o0, on, p0, pn, w int) {
	q := 0
	if whole := on / w; whole > 0 && packSlivers(dst, x, ld, oMajor, o0, whole, p0, pn, w) {
		q = whole * w
	}
	for ; q < on; q += w {
		packGeneric(dst[q*pn:(q+w)*pn], x, ld, oMajor, o0+q, min(w, on-q), p0, pn, w)
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

// grow returns x resliced to n elements, reallocated only when its capacity is short, and then
// with a capacity of at least least.
func grow(x []float32, n, least int) []float32 {
	if cap(x) < n {
		return make([]float32, n, max(n, least))
	}
	return x[:n]
}

// freeList keeps objects for reuse. Unlike sync.Pool it is never emptied by the garbage collector,
// so GEMMs in a training step allocate nothing even when other code triggers collections; it holds
// at most as many objects as were ever in use at once. The first freeSlots objects sit in slots
// taken and filled by compare-and-swap, so that threads running small products side by side do not
// queue on a lock; the rest, if ever that many are in use, in a list under a mutex.
type freeList[T any] struct {
	slots [freeSlots]atomic.Pointer[T]
	mu    sync.Mutex
	items []*T
	alloc func() *T
}

const freeSlots = 16

func (l *freeList[T]) get() *T {
	for i := range l.slots {
		if x := l.slots[i].Load(); x != nil && l.slots[i].CompareAndSwap(x, nil) {
			return x
		}
	}
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
	for i := range l.slots {
		if l.slots[i].Load() == nil && l.slots[i].CompareAndSwap(nil, x) {
			return
		}
	}
	l.mu.Lock()
	l.items = append(l.items, x)
	l.mu.Unlock()
}
