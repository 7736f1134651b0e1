package gemm

// kernel is a register microkernel and the cache blocking tuned for it.
//
// fn(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta) sets, for i < mr and j < nr,
//
//	c[i*ldc+j] = alpha·acc(i, j) + beta·c[i*ldc+j],  acc(i, j) = Σ_{p<k} a[i*rsA+p*csA]·b[p*rsB+j]
//
// with acc summed from zero in increasing p, and reads c only when beta != 0. The strides let the
// kernel read packed slivers (rsA = 1, csA = mr; rsB = nr) and operands in place (rsA = lda, csA = 1
// for a row-major op(A), rsA = 1, csA = lda for a transposed one; rsB = ldb). The assembly kernels
// rely on their callers for the slices' lengths.
type kernel struct {
	name   string
	mr, nr int
	// Cache blocking: k is cut into blocks of at most kc, op(A) into blocks of mc rows and op(B)
	// into blocks of nc columns; mc is a multiple of mr and nc of nr.
	kc, mc, nc int
	fn         kernelFunc
	// rows is fn for csA = 1, when the kernel reads the rows of a row-major op(A) in place; it
	// prefetches them, which fn cannot do for strides it does not know.
	rows kernelFunc
	// masked and maskedRows, if not nil, are fn and rows for a microtile cut by C's right edge:
	// they take one more argument, cols < nr, and read and write only C's first cols columns.
	masked, maskedRows maskedFunc
	// short, if not nil, is the same kernel with fewer rows, for products whose height it fits
	// better (see forRows); narrow, if not nil, a kernel with fewer columns, for products as wide
	// as it (see forShape).
	short, narrow *kernel
}

// forShape returns the kernel for products of m rows and n columns: kr.narrow if n is its width
// (narrower products are left to kr's masked forms, which compute a microtile cut by C's edge in
// place where kr.narrow, without them, would stage it), else forRows(m). All kernels sum every
// element of C in the same order, so the choice does not change the result.
func (kr *kernel) forShape(m, n int) *kernel {
	if kr.narrow != nil && n == kr.narrow.nr {
		return kr.narrow
	}
	return kr.forRows(m)
}

// forRows returns the kernel for products of m rows: kr, or kr.short if m is at most one block of
// rows and kr.short's microtiles cut fewer rows past m than kr's. A microtile cut by the edge of
// C is computed in full from a packed sliver and copied out, so that a 16-row op(A) (a weight
// gradient over 16 channels) costs a 24-row kernel 1.5 times its multiply-adds and a copy of A.
// Both kernels sum every element of C in the same order, so the choice does not change the result.
func (kr *kernel) forRows(m int) *kernel {
	if s := kr.short; s != nil && m <= kr.mc && roundUp(m, s.mr) < roundUp(m, kr.mr) {
		return s
	}
	return kr
}

// maskedFunc is the signature of the microkernels that stop at column cols.
type maskedFunc func(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, cols int)

// kernelFunc is the signature of the microkernels.
type kernelFunc func(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32)

// generic is the pure-Go kernel, for machines and builds without assembly.
var generic = &kernel{name: "generic", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, fn: kernelGeneric, rows: kernelGeneric}

// kernels lists the kernels this machine can run, preferred first; active is the one Sgemm and
// Parallel use. Tests set active to each in turn so that every kernel is tested on every machine
// that can run it.
var (
	kernels = available()
	active  = kernels[0]
)
