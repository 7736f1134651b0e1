// Package gemm multiplies row-major float32 matrices, the compute core that convolutions lower to.
//
// Sgemm and Parallel compute
//
//	C = alpha·op(A)·op(B) + beta·C
//
// where op(A) is m×k, op(B) is k×n, C is m×n and op(X) is X or Xᵀ. Element (i, j) of a row-major
// matrix X with row stride ldx is x[i*ldx+j]. When beta == 0, C is written without being read, so
// NaNs or infinities already in C do not reach the result; when alpha == 0 or k == 0, A and B are not
// read and C becomes beta·C.
//
// The implementation is blocked and packed in the manner of Goto and BLIS: k is cut into blocks
// whose boundaries depend on k alone; for each block, panels of op(A) and op(B) are copied into
// contiguous buffers and a register microkernel accumulates each C element over the block with one
// fused multiply-add per term, in increasing order of the summation index. Every C element is therefore
// summed in an order fixed by (m, n, k) and the microkernel, which is what makes Parallel bitwise
// identical to Sgemm for any number of threads.
package gemm

import (
	"fmt"
	"strings"

	"github.com/gonas/nas/engine/parallel"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on the calling goroutine, where op(A) is m×k, op(B)
// is k×n and op(X) is X when transX is false and Xᵀ when it is true. lda, ldb and ldc are the row
// strides of the matrices as stored (A is stored k×m when transA is set, B is stored n×k when transB
// is set). When beta == 0, C is overwritten without being read. Sgemm allocates nothing once its
// pack buffers exist, and panics if a dimension, stride or slice length is inconsistent.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := newOperands(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	if g.trivial() {
		return
	}
	s := scratches.get()
	s.gemm(active, &g, 0, m, 0, n, nil)
	scratches.put(s)
}

// Parallel computes the same as Sgemm, with the same arguments, on the threads of p. It cuts C into
// tiles whose sizes depend only on m, n and k, and each tile is computed over the whole of k by one
// thread, so the result is bitwise identical to Sgemm's whatever p.Threads() is. Parallel must not
// be called from inside a chunk of p.
func Parallel(p *parallel.Pool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := newOperands(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	if g.trivial() {
		return
	}
	kr := active
	tm, tn := tileShape(kr, m, n, k)
	tilesM, tilesN := parallel.Chunks(m, tm), parallel.Chunks(n, tn)
	s := scratches.get()
	defer scratches.put(s)
	if tilesM*tilesN == 1 {
		s.gemm(kr, &g, 0, m, 0, n, nil)
		return
	}
	j := jobs.get()
	defer jobs.put(j)
	j.g, j.kr, j.tm, j.tn, j.tilesN, j.packedB = g, kr, tm, tn, tilesN, nil
	if !inPlaceB(&g, kr.nr) {
		// Every tile would pack the same op(B); pack it once, k block by k block.
		s.b = grow(s.b, k*roundUp(n, kr.nr))
		j.packedB = s.b
		p.For(parallel.Chunks(k, kBlock(kr, k)), j.packFn)
	}
	p.For(tilesM*tilesN, j.tileFn)
	*j = job{tileFn: j.tileFn, packFn: j.packFn} // keep no reference to the caller's matrices
}

// Tile sizes for Parallel. A tile is computed by one thread over the whole of k, so it should hold
// enough work to amortise packing its share of op(A), yet C should split into enough tiles to keep a
// few threads busy. Both depend only on the shape, never on the thread count.
const (
	tileWork = 1 << 22 // target multiply-adds per tile
	tileNMax = 1024    // widest tile; wider rows of C are split
	tileMMin = 96      // shortest tile
)

// tileShape returns the tile height and width Parallel uses for an m×n×k product: multiples of the
// microtile, cut as evenly as the multiples allow.
func tileShape(kr *kernel, m, n, k int) (tm, tn int) {
	tn = evenSplit(n, tileNMax, kr.nr)
	rows := max(tileMMin, tileWork/(tn*k))
	tm = evenSplit(m, rows, kr.mr)
	return tm, tn
}

// evenSplit returns the size of the blocks that cover n in the fewest blocks of at most limit
// (rounded up to a multiple of unit), made as equal as the multiple of unit allows.
func evenSplit(n, limit, unit int) int {
	limit = roundUp(limit, unit)
	blocks := parallel.Chunks(n, limit)
	return roundUp(parallel.Chunks(n, blocks), unit)
}

func roundUp(x, unit int) int { return (x + unit - 1) / unit * unit }

// job is the state of one Parallel call, kept in a free list so that its method values are built
// once and p.For receives them without allocating.
type job struct {
	g              operands
	kr             *kernel
	tm, tn, tilesN int
	packedB        []float32 // all of op(B), packed, or nil to let tiles read or pack it
	tileFn, packFn func(worker, i int)
}

func newJob() *job {
	j := new(job)
	j.tileFn, j.packFn = j.tile, j.pack
	return j
}

// tile computes tile i of C, numbered row-major over the tile grid.
func (j *job) tile(_, i int) {
	i0, i1 := parallel.Span(i/j.tilesN, j.g.m, j.tm)
	j0, j1 := parallel.Span(i%j.tilesN, j.g.n, j.tn)
	s := scratches.get()
	s.gemm(j.kr, &j.g, i0, i1, j0, j1, j.packedB)
	scratches.put(s)
}

// pack packs k block i of op(B) into j.packedB.
func (j *job) pack(_, i int) { packB(j.packedB, j.kr, &j.g, i*kBlock(j.kr, j.g.k)) }

var jobs = freeList[job]{alloc: newJob}

// operands holds the arguments of one product after validation.
type operands struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func newOperands(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) operands {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	return operands{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
}

// checkMatrix panics unless x with row stride ld holds op(X), an r×c matrix.
func checkMatrix(name string, trans bool, r, c int, x []float32, ld int) {
	rows, cols := r, c
	if trans {
		rows, cols = c, r
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s = %d, want >= %d for %s", strings.ToLower(name), ld, max(1, cols), describe(name, trans, r, c)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: len(%s) = %d, want >= %d for %s with ld%[1]s = %d", strings.ToLower(name), len(x), need, describe(name, trans, r, c), ld))
	}
}

// describe names op(X) and its storage for panic messages.
func describe(name string, trans bool, r, c int) string {
	if trans {
		return fmt.Sprintf("op(%s) %d×%d (transposed, stored %d×%d)", name, r, c, c, r)
	}
	return fmt.Sprintf("op(%s) %d×%d", name, r, c)
}

// trivial finishes products that need no multiplication, C = beta·C when alpha or k is zero, and
// reports whether it did.
func (g *operands) trivial() bool {
	if g.m == 0 || g.n == 0 {
		return true
	}
	if g.alpha != 0 && g.k != 0 {
		return false
	}
	for i := range g.m {
		row := g.c[i*g.ldc:][:g.n]
		if g.beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= g.beta
		}
	}
	return true
}
