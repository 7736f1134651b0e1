package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// sgemmFunc is the signature shared by every way the package computes a product.
type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// implementation is one entry point driven by one kernel.
type implementation struct {
	name string
	kr   *kernel
	run  sgemmFunc
}

// implementations returns every kernel this machine runs, each through Sgemm and through Parallel
// on 1, 2 and 7 threads. The pools are closed when t ends.
func implementations(t testing.TB) []implementation {
	var impls []implementation
	for _, threads := range []int{1, 2, 7} {
		p := parallel.NewPool(threads)
		t.Cleanup(p.Close)
		for _, kr := range kernels {
			impls = append(impls, implementation{
				name: fmt.Sprintf("%s/Parallel%d", kr.name, threads),
				kr:   kr,
				run: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					Parallel(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				},
			})
		}
	}
	for _, kr := range kernels {
		impls = append(impls, implementation{name: kr.name + "/Sgemm", kr: kr, run: Sgemm})
	}
	return impls
}

// use makes kr the active kernel until t ends.
func use(t testing.TB, kr *kernel) {
	saved := active
	active = kr
	t.Cleanup(func() { active = saved })
}

// problem is one product with its operands laid out as a caller would pass them.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// sentinel fills the gaps between rows (stride padding); reading it would poison a product and
// writing it is caught by comparing C's gaps before and after.
var sentinel = float32(math.NaN())

// newProblem draws operands with row strides padded by pad. With beta == 0, C starts as NaN, which
// must not reach the result.
func newProblem(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *problem {
	pr := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	pr.a, pr.lda = matrix(rng, ar, ac, pad, false)
	pr.b, pr.ldb = matrix(rng, br, bc, pad, false)
	pr.c, pr.ldc = matrix(rng, m, n, pad, beta == 0)
	return pr
}

// matrix returns an r×c matrix with row stride c+pad, exactly as long as it must be, holding
// values in [-1, 1) (NaN when nan is set) and sentinel in the padding.
func matrix(rng *rand.Rand, r, c, pad int, nan bool) ([]float32, int) {
	ld := max(1, c+pad)
	if r == 0 || c == 0 {
		return nil, ld
	}
	x := make([]float32, (r-1)*ld+c)
	for i := range x {
		switch {
		case i%ld >= c:
			x[i] = sentinel
		case nan:
			x[i] = float32(math.NaN())
		default:
			x[i] = 2*rng.Float32() - 1
		}
	}
	return x, ld
}

func (pr *problem) opA(i, p int) float64 {
	if pr.transA {
		return float64(pr.a[p*pr.lda+i])
	}
	return float64(pr.a[i*pr.lda+p])
}

func (pr *problem) opB(p, j int) float64 {
	if pr.transB {
		return float64(pr.b[j*pr.ldb+p])
	}
	return float64(pr.b[p*pr.ldb+j])
}

// reference returns C as the naive float64 triple loop computes it and, per element, the bound
// on the rounding error of a float32 computation: (k+2)·2⁻²³ times the sum of the magnitudes of
// the terms.
func (pr *problem) reference() (want, tol []float64) {
	want = make([]float64, pr.m*pr.n)
	tol = make([]float64, pr.m*pr.n)
	for i := range pr.m {
		for j := range pr.n {
			var sum, mag float64
			for p := range pr.k {
				t := pr.opA(i, p) * pr.opB(p, j)
				sum += t
				mag += math.Abs(t)
			}
			v := float64(pr.alpha) * sum
			mag *= math.Abs(float64(pr.alpha))
			if pr.beta != 0 {
				cij := float64(pr.c[i*pr.ldc+j])
				v += float64(pr.beta) * cij
				mag += math.Abs(float64(pr.beta) * cij)
			}
			want[i*pr.n+j] = v
			tol[i*pr.n+j] = float64(pr.k+2) * 0x1p-23 * mag
		}
	}
	return want, tol
}

func (pr *problem) solve(run sgemmFunc) []float32 {
	c := append([]float32(nil), pr.c...)
	run(pr.transA, pr.transB, pr.m, pr.n, pr.k, pr.alpha, pr.a, pr.lda, pr.b, pr.ldb, pr.beta, c, pr.ldc)
	return c
}

func (pr *problem) String() string {
	return fmt.Sprintf("%dx%dx%d/transA=%t/transB=%t/alpha=%g/beta=%g/ld=%d,%d,%d",
		pr.m, pr.n, pr.k, pr.transA, pr.transB, pr.alpha, pr.beta, pr.lda, pr.ldb, pr.ldc)
}

// shape is an m×n×k product size.
type shape struct{ m, n, k int }

// conformanceShapes returns odd sizes and sizes on each side of every block edge of every kernel,
// of the choice between packing and reading in place, and of Parallel's tiles.
func conformanceShapes() []shape {
	shapes := []shape{
		{1, 1, 1}, {7, 17, 5}, {150, 70, 513}, {2, 3, 1}, {1, 40, 33}, {33, 1, 40}, {40, 33, 1},
		{0, 5, 3}, {5, 0, 3}, {5, 3, 0}, // empty C, and k = 0 which leaves beta·C
		{97, tileNMax + 1, 31}, {600, 300, 200}, {200, 20, 20000}, {200, 1100, 301}, // Parallel splits these
	}
	for _, kr := range kernels {
		for _, m := range []int{kr.mr - 1, kr.mr, kr.mr + 1, kr.mc - 1, kr.mc + 1} {
			shapes = append(shapes, shape{m, 2*kr.nr + 3, 37})
		}
		wide := inPlaceSlivers * kr.nr // the widest op(B) that the kernel reads in place
		for _, n := range []int{kr.nr - 1, kr.nr, kr.nr + 1, wide, wide + 1, kr.nc - 1, kr.nc + 1} {
			shapes = append(shapes, shape{kr.mr + 3, n, 29})
		}
		for _, k := range []int{kr.kc - 1, kr.kc, kr.kc + 1, 2*kr.kc + 1} {
			shapes = append(shapes, shape{2*kr.mr + 1, kr.nr + 5, k})
		}
	}
	return shapes
}

// scalars are the (alpha, beta) pairs the suite cycles through; beta == 0 starts C as NaN.
var scalars = [][2]float32{{1, 0}, {1, 1}, {-0.5, 2.5}, {2, -1}, {0, 0.5}, {0.75, 0}, {0, 0}}

// TestConformance runs every implementation against a float64 reference on every shape, transpose
// combination and stride padding, cycling through alpha and beta.
func TestConformance(t *testing.T) {
	impls := implementations(t)
	use(t, active)
	for _, pr := range conformanceProblems() {
		want, tol := pr.reference()
		for _, im := range impls {
			active = im.kr
			got := pr.solve(im.run)
			if err := pr.check(got, want, tol); err != nil {
				t.Errorf("%s %v: %v", im.name, pr, err)
			}
		}
	}
}

// conformanceProblems returns each conformance shape with all four transpose combinations, and
// products that take each way of reading the operands: op(A) whose rows fall on few L1 sets
// (row stride a multiple of 1 KiB), op(B) read in place with a padded stride, and a Parallel split
// that shares one packed op(B) between its tiles.
func conformanceProblems() []*problem {
	rng := rand.New(rand.NewPCG(1, 2))
	var prs []*problem
	for i, s := range conformanceShapes() {
		for j, trans := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			n := 4*i + j
			ab := scalars[n%len(scalars)]
			prs = append(prs, newProblem(rng, trans[0], trans[1], s.m, s.n, s.k, ab[0], ab[1], n%3))
		}
	}
	return append(prs,
		overlapping(newProblem(rng, false, false, 100, 16, 48, 1, 0, 0), rng, 16),
		overlapping(newProblem(rng, false, false, 50, 70, 30, 1, 1, 0), rng, 7),
		overlapping(newProblem(rng, true, false, 48, 16, 200, 1, 0.5, 0), rng, 16),
		overlapping(newProblem(rng, true, true, 30, 90, 40, -1, 0, 0), rng, 1),
		newProblem(rng, false, false, 50, 40, 256, 1, 0, 0),
		newProblem(rng, false, true, 50, 40, 512, 1, 0.5, 0),
		newProblem(rng, false, false, 50, 40, 30, -1, 1, 5),
		newProblem(rng, true, true, 700, 300, 90, 1, 0, 1),
	)
}

// overlapping replaces pr's A with one whose rows, ld apart, overlap, as a convolution's windows
// of its input do.
func overlapping(pr *problem, rng *rand.Rand, ld int) *problem {
	rows, cols := pr.m, pr.k
	if pr.transA {
		rows, cols = cols, rows
	}
	pr.a, pr.lda = make([]float32, (rows-1)*ld+cols), ld
	for i := range pr.a {
		pr.a[i] = 2*rng.Float32() - 1
	}
	return pr
}

// check compares C as computed with the reference and verifies that C's row padding is untouched.
func (pr *problem) check(got []float32, want, tol []float64) error {
	for idx, v := range got {
		i, j := idx/pr.ldc, idx%pr.ldc
		if j >= pr.n {
			if math.Float32bits(v) != math.Float32bits(pr.c[idx]) {
				return fmt.Errorf("padding C[%d][%d] changed to %g", i, j, v)
			}
			continue
		}
		w, e := want[i*pr.n+j], tol[i*pr.n+j]
		if d := math.Abs(float64(v) - w); !(d <= e) {
			return fmt.Errorf("C[%d][%d] = %g, want %g ± %.3g", i, j, v, w, e)
		}
	}
	return nil
}

// TestDeterministic checks that Parallel on 1, 2 and 7 threads and Sgemm give bitwise-identical
// results, on shapes that Parallel cuts into several tiles.
func TestDeterministic(t *testing.T) {
	pools := map[int]*parallel.Pool{}
	for _, threads := range []int{1, 2, 7} {
		pools[threads] = parallel.NewPool(threads)
		defer pools[threads].Close()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kr := range kernels {
		use(t, kr)
		for _, s := range []shape{{600, 300, 200}, {200, 20, 20000}, {20000, 16, 144}, {333, 600, 64}} {
			tm, tn := tileShape(kr, s.m, s.n, s.k)
			if tiles := parallel.Chunks(s.m, tm) * parallel.Chunks(s.n, tn); tiles < 3 {
				t.Fatalf("%s: %v splits into %d tiles, too few to test the split", kr.name, s, tiles)
			}
			for _, trans := range [][2]bool{{false, false}, {true, true}} {
				pr := newProblem(rng, trans[0], trans[1], s.m, s.n, s.k, 1.5, 0.5, 1)
				want := pr.solve(Sgemm)
				for threads, p := range pools {
					got := pr.solve(func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
						Parallel(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					})
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Errorf("%s %v: Parallel on %d threads differs from Sgemm at %d: %g vs %g", kr.name, pr, threads, i, got[i], want[i])
							break
						}
					}
				}
			}
		}
	}
}

// TestNoAllocs checks that repeated products allocate nothing once the pack buffers exist.
func TestNoAllocs(t *testing.T) {
	p := parallel.NewPool(2)
	defer p.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	pr := newProblem(rng, false, true, 300, 70, 90, 1, 0.5, 0)
	c := append([]float32(nil), pr.c...)
	for _, kr := range kernels {
		use(t, kr)
		sgemm := func() { Sgemm(false, true, 300, 70, 90, 1, pr.a, pr.lda, pr.b, pr.ldb, 0.5, c, pr.ldc) }
		par := func() { Parallel(p, false, true, 300, 70, 90, 1, pr.a, pr.lda, pr.b, pr.ldb, 0.5, c, pr.ldc) }
		sgemm()
		par()
		if n := testing.AllocsPerRun(20, sgemm); n != 0 {
			t.Errorf("%s: Sgemm allocates %v times per call", kr.name, n)
		}
		if n := testing.AllocsPerRun(20, par); n != 0 {
			t.Errorf("%s: Parallel allocates %v times per call", kr.name, n)
		}
	}
}

// TestPanics checks that inconsistent arguments panic with a message naming the culprit.
func TestPanics(t *testing.T) {
	x := make([]float32, 12)
	for _, tc := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a              []float32
		lda            int
		b              []float32
		ldb            int
		c              []float32
		ldc            int
		want           string
	}{
		{"negative m", false, false, -1, 2, 2, x, 2, x, 2, x, 2, "negative dimension m=-1"},
		{"lda zero", false, false, 3, 4, 4, x, 0, x, 4, x, 4, "lda = 0, want >= 1 for op(A) 3×4"},
		{"lda zero when transposed", true, false, 3, 2, 2, x, 0, x, 2, x, 2, "lda = 0, want >= 1 for op(A) 3×2 (transposed, stored 2×3)"},
		{"short a", false, false, 4, 2, 4, x, 4, x, 2, x, 2, "len(a) = 12, want >= 16"},
		{"ldb below k when transposed", false, true, 2, 2, 3, x, 3, x, 2, x, 2, "ldb = 2, want >= 3"},
		{"short b", false, false, 2, 6, 3, x, 3, x, 6, x, 6, "len(b) = 12, want >= 18"},
		{"ldc below n", false, false, 2, 3, 2, x, 2, x, 3, x, 2, "ldc = 2, want >= 3"},
		{"short c", false, false, 5, 3, 1, x, 1, x, 3, x, 3, "len(c) = 12, want >= 15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("panic %q, want it to contain %q", msg, tc.want)
				}
			}()
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.ldc)
		})
	}
}

// TestPack checks that pack, with whatever faster routine this machine has, lays out slivers as
// packGeneric does, including sliver widths and lengths that the fast routines do only in part.
func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, w := range []int{4, 6, 8, 16, 24} {
		for _, oMajor := range []bool{false, true} {
			for _, pn := range []int{1, 7, 8, 9, 33} {
				on, o0, p0 := 2*w+3, 2, 1
				rows, cols := p0+pn, o0+on
				if oMajor {
					rows, cols = cols, rows
				}
				x, ld := matrix(rng, rows, cols, 3, false)
				got := make([]float32, roundUp(on, w)*pn)
				want := make([]float32, len(got))
				pack(got, x, ld, oMajor, o0, on, p0, pn, w)
				for q := 0; q < on; q += w {
					packGeneric(want[q*pn:], x, ld, oMajor, o0+q, min(w, on-q), p0, pn, w)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("w=%d oMajor=%t pn=%d: element %d = %g, want %g", w, oMajor, pn, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestAssemblyKernelsAgree checks that the assembly kernels give bitwise-identical products: they
// share the k blocking and each C element goes through the same chain of FMAs, so a result does not
// depend on whether the machine has AVX-512.
func TestAssemblyKernelsAgree(t *testing.T) {
	var asm []*kernel
	for _, kr := range kernels {
		if kr != generic {
			asm = append(asm, kr)
		}
	}
	if len(asm) < 2 {
		t.Skip("this machine runs fewer than two assembly kernels")
	}
	use(t, active)
	rng := rand.New(rand.NewPCG(11, 12))
	// 16 and 32 rows: the 24-row AVX-512 kernel hands those to its 16-row form.
	for _, s := range []shape{{150, 70, 513}, {1000, 16, 144}, {300, 600, 64}, {577, 64, 3000}, {16, 40, 200}, {32, 16, 77}} {
		for _, trans := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			pr := newProblem(rng, trans[0], trans[1], s.m, s.n, s.k, 1.5, 0.5, 1)
			active = asm[0]
			want := pr.solve(Sgemm)
			for _, kr := range asm[1:] {
				active = kr
				got := pr.solve(Sgemm)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Errorf("%v: %s and %s differ at %d: %g vs %g", pr, kr.name, asm[0].name, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// TestForRows checks which kernel products of a few heights take: the short form only where its
// microtiles cut fewer rows and the product is at most one block of rows high.
func TestForRows(t *testing.T) {
	short := &kernel{name: "short", mr: 16}
	kr := &kernel{name: "tall", mr: 24, mc: 240, short: short}
	for _, c := range []struct {
		m    int
		want *kernel
	}{{16, short}, {32, short}, {64, short}, {8, short}, {24, kr}, {40, kr}, {48, kr}, {192, kr}, {256, kr}, {1000, kr}} {
		if got := kr.forRows(c.m); got != c.want {
			t.Errorf("%d rows: %s kernel, want %s", c.m, got.name, c.want.name)
		}
	}
	if got := short.forRows(16); got != short {
		t.Errorf("a kernel without a short form gave %s", got.name)
	}
}
