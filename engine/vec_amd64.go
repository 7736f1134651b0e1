//go:build !purego

package engine

import "golang.org/x/sys/cpu"

// vecAVX2 selects the AVX2 kernels of vec_amd64.s; tests turn it off to check the Go twins.
var vecAVX2 = cpu.X86.HasAVX2

// bnStatsAVX2 is bnStats for the channels below c8, a multiple of 8, summing into acc[:c8] and
// acc[c:c+c8].
//
//go:noescape
func bnStatsAVX2(xs []float32, c, c8 int, shift, acc []float32)

// bnGradSumsAVX2 is bnGradSums for the channels below c8, a multiple of 8, summing into acc[:c8]
// and acc[c:c+c8], with the ReLU's mask from scale and shift when relu is set.
//
//go:noescape
func bnGradSumsAVX2(xs, dys []float32, c, c8 int, m, acc, scale, shift []float32, relu bool)

// bnNormalizeAVX2 is bnNormalize for the channels below c8, a multiple of 8.
//
//go:noescape
func bnNormalizeAVX2(xs, ys []float32, c, c8 int, scale, shift []float32, relu bool)

// bnInputGradAVX2 is bnInputGrad for the channels below c8, a multiple of 8, with the ReLU's mask
// from scale and shift when relu is set.
//
//go:noescape
func bnInputGradAVX2(xs, dys, dxs []float32, c, c8 int, a, b, k, m, scale, shift []float32, accumulate, relu bool)

// bnResidualAVX2 is bnResidual for the channels below c8, a multiple of 8.
//
//go:noescape
func bnResidualAVX2(xs, ys, rs []float32, c, c8 int, scale, shift []float32, s float32, relu bool)

// maxPoolAVX2 is maxPool for the channels below c8, a multiple of 8.
//
//go:noescape
func maxPoolAVX2(x, y []float32, arg []int32, c, c8 int, taps []int32)

// reluAVX2 is relu for the first len(x)/8·8 elements.
//
//go:noescape
func reluAVX2(x, y []float32)

// reluGradAVX2 is reluGrad for the first len(y)/8·8 elements.
//
//go:noescape
func reluGradAVX2(y, dy, dx []float32, accumulate bool)

// addScaledAVX2 is addScaled for the first len(y)/8·8 elements.
//
//go:noescape
func addScaledAVX2(y, a, b []float32, s float32)

// copyRowsAVX2 is copyRows.
//
//go:noescape
func copyRowsAVX2(dst []float32, dstStride int, src []float32, srcStride int, n, rows int)

// winoInputAVX2 is winogradInput for the channels below c8, a multiple of 8.
//
//go:noescape
func winoInputAVX2(src []float32, line, c, c8, tiles int, v []float32, ldv int)

// winoOutputAVX2 is winogradOutput for the filters below f8, a multiple of 8.
//
//go:noescape
func winoOutputAVX2(m []float32, ldm, f, f8, tiles int, y []float32, line int)

// winoGradOutAVX2 is winogradGradOutput for the filters below f8, a multiple of 8.
//
//go:noescape
func winoGradOutAVX2(dy []float32, line, f, f8, tiles int, m []float32, ldm int)

// The Vec functions run the AVX2 kernels where the CPU has them and report how far they got
// (channels for BatchNorm and Winograd, elements otherwise), leaving the rest to the Go code that
// calls them. The channel kernels take channels in groups of eight; from eight channels on, a
// tail of fewer than eight is taken by running the kernel once more on the last eight channels,
// [c−8, c). The channels both runs cover get the same values twice, which holds for a kernel that
// sets its outputs (or sums from zero) from inputs it does not write; an in-place or accumulating
// call leaves its tail to the Go code.

func bnStatsVec(xs []float32, c int, shift, acc []float32) int {
	if !vecAVX2 || c < 8 {
		return 0
	}
	_ = acc[2*c-1]
	return byEights(c, func(c8, off int) { bnStatsAVX2(xs[off:], c, c8, shift[off:], acc[off:]) })
}

func bnGradSumsVec(xs, dys []float32, c int, m, scale, shift, acc []float32) int {
	if !vecAVX2 || c < 8 {
		return 0
	}
	_ = acc[2*c-1]
	dys = dys[:len(xs)]
	relu := scale != nil
	if relu {
		scale, shift = scale[:c], shift[:c]
	}
	return byEights(c, func(c8, off int) {
		bnGradSumsAVX2(xs[off:], dys[off:], c, c8, m[off:], acc[off:], tail(scale, off), tail(shift, off), relu)
	})
}

// tail returns s[off:], or nil for a nil s.
func tail(s []float32, off int) []float32 {
	if s == nil {
		return nil
	}
	return s[off:]
}

func bnNormalizeVec(xs, ys []float32, c int, scale, shift []float32, relu bool) int {
	if !vecAVX2 || c < 8 {
		return 0
	}
	ys = ys[:len(xs)]
	bnNormalizeAVX2(xs, ys, c, c&^7, scale, shift, relu)
	if c%8 == 0 || len(xs) == 0 || &xs[0] == &ys[0] {
		return c &^ 7
	}
	bnNormalizeAVX2(xs[c-8:], ys[c-8:], c, 8, scale[c-8:], shift[c-8:], relu)
	return c
}

func bnInputGradVec(xs, dys, dxs []float32, c int, a, b, k, m, scale, shift []float32, accumulate bool) int {
	if !vecAVX2 || c < 8 {
		return 0
	}
	dys, dxs = dys[:len(xs)], dxs[:len(xs)]
	relu := scale != nil
	if relu {
		scale, shift = scale[:c], shift[:c]
	}
	bnInputGradAVX2(xs, dys, dxs, c, c&^7, a, b, k, m, scale, shift, accumulate, relu)
	if c%8 == 0 || accumulate || len(xs) == 0 {
		return c &^ 7
	}
	bnInputGradAVX2(xs[c-8:], dys[c-8:], dxs[c-8:], c, 8, a[c-8:], b[c-8:], k[c-8:], m[c-8:],
		tail(scale, c-8), tail(shift, c-8), false, relu)
	return c
}

func bnResidualVec(xs, ys, rs []float32, c int, scale, shift []float32, s float32, relu bool) int {
	if !vecAVX2 || c < 8 {
		return 0
	}
	ys, rs = ys[:len(xs)], rs[:len(xs)]
	bnResidualAVX2(xs, ys, rs, c, c&^7, scale, shift, s, relu)
	if c%8 == 0 || len(xs) == 0 || &xs[0] == &ys[0] || &rs[0] == &ys[0] {
		return c &^ 7
	}
	bnResidualAVX2(xs[c-8:], ys[c-8:], rs[c-8:], c, 8, scale[c-8:], shift[c-8:], s, relu)
	return c
}

func maxPoolVec(x, y []float32, arg []int32, c int, taps []int32) int {
	if !vecAVX2 || c < 8 || len(taps) == 0 {
		return 0
	}
	// The last reads and writes (taps are in increasing order).
	_, _, _ = x[int(taps[len(taps)-1])+c&^7-1], y[c&^7-1], arg[c&^7-1]
	maxPoolAVX2(x, y, arg, c, c&^7, taps)
	return c &^ 7
}

func reluVec(x, y []float32) int {
	if !vecAVX2 {
		return 0
	}
	reluAVX2(x, y[:len(x)])
	return len(x) &^ 7
}

func reluGradVec(y, dy, dx []float32, accumulate bool) int {
	if !vecAVX2 {
		return 0
	}
	reluGradAVX2(y, dy[:len(y)], dx[:len(y)], accumulate)
	return len(y) &^ 7
}

func addScaledVec(y, a, b []float32, s float32) int {
	if !vecAVX2 {
		return 0
	}
	addScaledAVX2(y, a[:len(y)], b[:len(y)], s)
	return len(y) &^ 7
}

func copyRowsVec(dst []float32, dstStride int, src []float32, srcStride int, n, rows int) bool {
	if !vecAVX2 {
		return false
	}
	copyRowsAVX2(dst, dstStride, src, srcStride, n, rows)
	return true
}

func winogradInputVec(src []float32, line, c, tiles int, v []float32, ldv int) int {
	if !vecAVX2 || c < 8 || tiles == 0 {
		return 0
	}
	// The last reads and writes, so that a bad call panics here rather than in assembly.
	_, _ = src[3*line+2*(tiles-1)*c+4*c-1], v[15*ldv+tiles*c-1]
	return byEights(c, func(c8, off int) { winoInputAVX2(src[off:], line, c, c8, tiles, v[off:], ldv) })
}

func winogradOutputVec(m []float32, ldm, f, tiles int, y []float32, line int) int {
	if !vecAVX2 || f < 8 || tiles == 0 {
		return 0
	}
	_, _ = m[15*ldm+tiles*f-1], y[line+2*tiles*f-1]
	return byEights(f, func(f8, off int) { winoOutputAVX2(m[off:], ldm, f, f8, tiles, y[off:], line) })
}

func winogradGradOutputVec(dy []float32, line, f, tiles int, m []float32, ldm int) int {
	if !vecAVX2 || f < 8 || tiles == 0 {
		return 0
	}
	_, _ = dy[line+2*tiles*f-1], m[15*ldm+tiles*f-1]
	return byEights(f, func(f8, off int) { winoGradOutAVX2(dy[off:], line, f, f8, tiles, m[off:], ldm) })
}

func winograd4InputVec(src []float32, line, c, tiles int, v []float32, ldv int) int {
	if !vecAVX2 || c < 8 || tiles == 0 {
		return 0
	}
	_, _ = src[5*line+4*(tiles-1)*c+6*c-1], v[35*ldv+tiles*c-1]
	return byEights(c, func(c8, off int) { winoInput4AVX2(src[off:], line, c, c8, tiles, v[off:], ldv) })
}

func winograd4OutputVec(m []float32, ldm, f, tiles int, y []float32, line int) int {
	if !vecAVX2 || f < 8 || tiles == 0 {
		return 0
	}
	_, _ = m[35*ldm+tiles*f-1], y[3*line+4*tiles*f-1]
	return byEights(f, func(f8, off int) { winoOutput4AVX2(m[off:], ldm, f, f8, tiles, y[off:], line) })
}

func winograd4GradOutputVec(dy []float32, line, f, tiles int, m []float32, ldm int) int {
	if !vecAVX2 || f < 8 || tiles == 0 {
		return 0
	}
	_, _ = dy[3*line+4*tiles*f-1], m[35*ldm+tiles*f-1]
	return byEights(f, func(f8, off int) { winoGradOut4AVX2(dy[off:], line, f, f8, tiles, m[off:], ldm) })
}

// byEights runs kernel on channels [0, c&^7) with c8 = c&^7 and off = 0, then, if c is not a
// multiple of 8, on the last eight channels (c8 = 8, off = c−8), which sets channels the first
// call set already to the same values. It returns c, the channels done.
func byEights(c int, kernel func(c8, off int)) int {
	kernel(c&^7, 0)
	if c%8 != 0 {
		kernel(8, c-8)
	}
	return c
}

// The Periods forms run the AVX2 kernels on rows of c < 8 channels, a period of narrowPeriod(c)
// floats at a time as if rows of that many channels, with the constants repeated over it (see
// the comment above narrowPeriod). The elementwise ones return how many floats they did, the whole
// periods at the start; the summing ones report whether they summed, into acc's lanes.

func bnStatsPeriods(xs []float32, p int, shift, acc []float32) bool {
	if !vecAVX2 || len(xs) == 0 {
		return false
	}
	bnStatsAVX2(xs, p, p, shift, acc[:2*p])
	return true
}

func bnGradSumsPeriods(xs, dys []float32, p int, m, scale, shift, acc []float32) bool {
	if !vecAVX2 || len(xs) == 0 {
		return false
	}
	bnGradSumsAVX2(xs, dys[:len(xs)], p, p, m, acc[:2*p], scale, shift, scale != nil)
	return true
}

// wholePeriods returns the period of rows of c < 8 channels and the floats of the whole periods in
// n floats, or n = 0 without the AVX2 kernels.
func wholePeriods(n, c int) (p, whole int) {
	p = narrowPeriod(c)
	if !vecAVX2 {
		return p, 0
	}
	return p, n / p * p
}

func bnNormalizePeriods(xs, ys []float32, c int, scale, shift []float32, relu bool) int {
	p, n := wholePeriods(len(xs), c)
	if n == 0 {
		return 0
	}
	var sc, sh [maxNarrowPeriod]float32
	bnNormalizeAVX2(xs[:n], ys[:n], p, p, repeat(&sc, scale, c, p), repeat(&sh, shift, c, p), relu)
	return n
}

func bnResidualPeriods(xs, ys, rs []float32, c int, scale, shift []float32, s float32, relu bool) int {
	p, n := wholePeriods(len(xs), c)
	if n == 0 {
		return 0
	}
	var sc, sh [maxNarrowPeriod]float32
	bnResidualAVX2(xs[:n], ys[:n], rs[:n], p, p, repeat(&sc, scale, c, p), repeat(&sh, shift, c, p), s, relu)
	return n
}

func bnInputGradPeriods(xs, dys, dxs []float32, c int, a, b, k, m, scale, shift []float32, accumulate bool) int {
	p, n := wholePeriods(len(xs), c)
	if n == 0 {
		return 0
	}
	var ar, br, kr, mr, sr, hr [maxNarrowPeriod]float32
	bnInputGradAVX2(xs[:n], dys[:n], dxs[:n], p, p, repeat(&ar, a, c, p), repeat(&br, b, c, p),
		repeat(&kr, k, c, p), repeat(&mr, m, c, p), repeat(&sr, scale, c, p), repeat(&hr, shift, c, p),
		accumulate, scale != nil)
	return n
}
