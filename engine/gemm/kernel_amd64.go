//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

var (
	avx512 = &kernel{name: "avx512", mr: 24, nr: 16, kc: 256, mc: 240, nc: 1024, fn: kernelAVX512}
	avx2   = &kernel{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 120, nc: 1024, fn: kernelAVX2}
)

// available returns the assembly kernels this CPU supports, widest first, then the generic one.
func available() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2)
	}
	return append(ks, generic)
}
