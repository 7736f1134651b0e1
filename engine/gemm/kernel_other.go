//go:build !amd64 || purego

package gemm

// available returns the kernels of this build: without assembly, only the generic one.
func available() []*kernel { return []*kernel{generic} }

// packSlivers reports that there is no faster way to pack than packGeneric.
func packSlivers(dst, x []float32, ld int, oMajor bool, o0, slivers, p0, pn, w int) bool {
	return false
}
