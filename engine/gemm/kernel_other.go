//go:build !amd64 || purego

package gemm

// available returns the kernels of this build: without assembly, only the generic one.
func available() []*kernel { return []*kernel{generic} }
