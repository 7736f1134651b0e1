//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

var (
	avx512 = &kernel{name: "avx512", mr: 24, nr: 16, kc: 384, mc: 240, nc: 1024, fn: kernelAVX512, rows: kernelAVX512Rows,
		masked: kernelAVX512Cols, maskedRows: kernelAVX512RowsCols, short: avx512m16, narrow: avx2n8}
	avx512m16 = &kernel{name: "avx512m16", mr: 16, nr: 16, kc: 384, mc: 240, nc: 1024, fn: kernelAVX512M16, rows: kernelAVX512M16Rows,
		masked: kernelAVX512M16Cols, maskedRows: kernelAVX512M16RowsCols}
	avx2 = &kernel{name: "avx2", mr: 6, nr: 16, kc: 384, mc: 240, nc: 1024, fn: kernelAVX2, rows: kernelAVX2Rows, narrow: avx2n8}
	// avx2n8 is for products 8 columns wide (layers of 8 filters or 8 channels): a 16-column
	// microtile would leave half its lanes idle, and on a CPU that runs an AVX-512 instruction as
	// two 256-bit halves (AMD's Zen 4) that costs twice the time of 8-wide AVX2 ones. Alone,
	// 192×8×72 ran 48 → 70 GFLOP/s, 72×8×1536 with op(A) transposed 49 → 82, 8×8×96 7 → 41.
	avx2n8 = &kernel{name: "avx2n8", mr: 8, nr: 8, kc: 384, mc: 240, nc: 1024, fn: kernelAVX2N8, rows: kernelAVX2N8Rows}
)

// packSlivers packs the first slivers whole slivers of pack's block with AVX2 when w allows it,
// and reports whether it did. Transposing works on 8×8 blocks, so the last pn%8 columns are left
// to packGeneric.
func packSlivers(dst, x []float32, ld int, oMajor bool, o0, slivers, p0, pn, w int) bool {
	if !cpu.X86.HasAVX2 || w%8 != 0 {
		return false
	}
	on := slivers * w
	if !oMajor {
		_ = x[(p0+pn-1)*ld+o0+on-1] // the last element read, so that a bad call panics here
		packCopyAVX2(pn, x[p0*ld+o0:], ld, dst, w, slivers)
		return true
	}
	whole := pn / 8 * 8
	for q := 0; q < on; q += w {
		sliver := dst[q*pn : (q+w)*pn]
		if whole > 0 {
			_ = x[(o0+q+w-1)*ld+p0+whole-1]
			packTransposeAVX2(whole, x[(o0+q)*ld+p0:], ld, sliver, w)
		}
		if whole < pn {
			packGeneric(sliver[whole*w:], x, ld, true, o0+q, w, p0+whole, pn-whole, w)
		}
	}
	return true
}

// available returns the assembly kernels this CPU supports, widest first, then the generic one.
func available() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F && cpu.X86.HasBMI2 { // the masked forms make their masks with BZHI
		ks = append(ks, avx512, avx512m16)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2, avx2n8)
	} else {
		avx512.narrow = nil
	}
	return append(ks, generic)
}
