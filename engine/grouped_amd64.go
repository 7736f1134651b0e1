//go:build !purego

package engine

import "golang.org/x/sys/cpu"

// groupedFMA reports whether the CPU has the FMA instructions the grouped kernels use besides AVX2.
var groupedFMA = cpu.X86.HasFMA

// groupedConv4AVX2 is groupedConv4 with fused multiply-adds.
//
//go:noescape
func groupedConv4AVX2(dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool)

// groupedConv8AVX2 is groupedConv8 with fused multiply-adds.
//
//go:noescape
func groupedConv8AVX2(dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool)

// groupedGrad4AVX2 is groupedGrad4 with fused multiply-adds.
//
//go:noescape
func groupedGrad4AVX2(dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int)

// groupedGrad8AVX2 is groupedGrad8 with fused multiply-adds.
//
//go:noescape
func groupedGrad8AVX2(dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int)

// prefetchAVX2 prefetches the cache lines of x into all cache levels.
//
//go:noescape
func prefetchAVX2(x []float32)

// prefetch asks the CPU to bring x into its caches, without waiting for it.
func prefetch(x []float32) {
	if len(x) > 0 {
		prefetchAVX2(x)
	}
}

// tapReach returns the largest input and weight offsets of the taps.
func tapReach(taps []int) (in, w int) {
	for t := 0; t < len(taps); t += 2 {
		in, w = max(in, taps[t]), max(w, taps[t+1])
	}
	return in, w
}

// groupedConvVec runs groupedConv4 or groupedConv8 (gs) in assembly where the CPU has AVX2 and
// FMA, and reports whether it did.
func groupedConvVec(gs int, dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool) bool {
	if !vecAVX2 || !groupedFMA {
		return false
	}
	if n == 0 || nv == 0 {
		return true
	}
	// The last reads and writes, so that a bad call panics here rather than in assembly.
	_ = dst[(n-1)*ds+8*nv-1]
	if len(taps) > 0 {
		in, at := tapReach(taps)
		_, _ = src[(n-1)*ss+in+8*nv-1], w[(nv-1)*wv+at+8*gs-1]
	}
	if gs == 4 {
		groupedConv4AVX2(dst, ds, src, ss, n, taps, w, nv, wv, add)
	} else {
		groupedConv8AVX2(dst, ds, src, ss, n, taps, w, nv, wv, add)
	}
	return true
}

// groupedGradVec runs groupedGrad4 or groupedGrad8 (gs) in assembly where the CPU has AVX2 and
// FMA, and reports whether it did.
func groupedGradVec(gs int, dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int) bool {
	if !vecAVX2 || !groupedFMA {
		return false
	}
	if len(taps) == 0 || nv == 0 {
		return true
	}
	in, at := tapReach(taps)
	_ = dw[(nv-1)*wv+at+8*gs-1]
	if n > 0 {
		_, _ = src[(n-1)*ss+in+8*nv-1], dy[(n-1)*dys+8*nv-1]
	}
	if gs == 4 {
		groupedGrad4AVX2(dw, src, ss, dy, dys, n, taps, nv, wv)
	} else {
		groupedGrad8AVX2(dw, src, ss, dy, dys, n, taps, nv, wv)
	}
	return true
}
