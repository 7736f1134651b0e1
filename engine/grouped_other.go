//go:build !amd64 || purego

package engine

// groupedFMA is false: this build has no assembly kernels.
var groupedFMA = false

// groupedConvVec reports false: without the assembly kernels the Go ones run.
func groupedConvVec(gs int, dst []float32, ds int, src []float32, ss, n int, taps []int, w []float32, nv, wv int, add bool) bool {
	return false
}

// groupedGradVec reports false: without the assembly kernels the Go ones run.
func groupedGradVec(gs int, dw, src []float32, ss int, dy []float32, dys, n int, taps []int, nv, wv int) bool {
	return false
}

// prefetch does nothing: Go has no prefetch instruction.
func prefetch(x []float32) {}
