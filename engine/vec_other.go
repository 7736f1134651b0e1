//go:build !amd64 || purego

package engine

// vecAVX2 is false: this build has only the Go kernels, and the Vec functions do nothing.
var vecAVX2 = false

func bnStatsVec(xs []float32, c int, shift, acc []float32) int                      { return 0 }
func bnGradSumsVec(xs, dys []float32, c int, m, scale, shift, acc []float32) int    { return 0 }
func bnNormalizeVec(xs, ys []float32, c int, scale, shift []float32, relu bool) int { return 0 }
func bnInputGradVec(xs, dys, dxs []float32, c int, a, b, k, m, scale, shift []float32, accumulate bool) int {
	return 0
}
func bnResidualVec(xs, ys, rs []float32, c int, scale, shift []float32, s float32, relu bool) int {
	return 0
}
func maxPoolVec(x, y []float32, arg []int32, c int, taps []int32) int { return 0 }
func reluVec(x, y []float32) int                                      { return 0 }
func reluGradVec(y, dy, dx []float32, accumulate bool) int            { return 0 }
func addScaledVec(y, a, b []float32, s float32) int                   { return 0 }
func copyRowsVec(dst []float32, dstStride int, src []float32, srcStride int, n, rows int) bool {
	return false
}
func winogradInputVec(src []float32, line, c, tiles int, v []float32, ldv int) int      { return 0 }
func winogradOutputVec(m []float32, ldm, f, tiles int, y []float32, line int) int       { return 0 }
func winogradGradOutputVec(dy []float32, line, f, tiles int, m []float32, ldm int) int  { return 0 }
func winograd4InputVec(src []float32, line, c, tiles int, v []float32, ldv int) int     { return 0 }
func winograd4OutputVec(m []float32, ldm, f, tiles int, y []float32, line int) int      { return 0 }
func winograd4GradOutputVec(dy []float32, line, f, tiles int, m []float32, ldm int) int { return 0 }

func bnStatsPeriods(xs []float32, p int, shift, acc []float32) bool                   { return false }
func bnGradSumsPeriods(xs, dys []float32, p int, m, scale, shift, acc []float32) bool { return false }
func bnNormalizePeriods(xs, ys []float32, c int, scale, shift []float32, relu bool) int {
	return 0
}
func bnResidualPeriods(xs, ys, rs []float32, c int, scale, shift []float32, s float32, relu bool) int {
	return 0
}
func bnInputGradPeriods(xs, dys, dxs []float32, c int, a, b, k, m, scale, shift []float32, accumulate bool) int {
	return 0
}
