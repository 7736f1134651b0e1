package engine

import (
	"fmt"
	"math"
	"testing"
)

// withVec runs f once with the AVX2 kernels, where this machine and build have them, and once
// with the Go twins only.
func withVec(t *testing.T, f func(vec bool)) {
	t.Helper()
	saved := vecAVX2
	defer func() { vecAVX2 = saved }()
	vecAVX2 = false
	f(false)
	if !saved {
		t.Log("no AVX2 kernels in this build or on this CPU: only the Go twins were run")
		return
	}
	vecAVX2 = true
	f(true)
}

// specialValues are the inputs where max, comparisons and masks are easiest to get wrong.
var specialValues = []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(-math.NaN()),
	float32(math.Inf(1)), float32(math.Inf(-1)), 1e-45, -1e-45}

func randomValues(n int, seed uint64, special bool) []float32 {
	v := make([]float32, n)
	fillNormal(v, seed)
	if special {
		for i := 0; i < n; i += 7 {
			v[i] = specialValues[(i/7)%len(specialValues)]
		}
	}
	return v
}

// sameBits fails unless got and want hold the same float32 bits, or float64 values of the same
// bits.
func sameBits[T float32 | float64](t *testing.T, name string, got, want []T) {
	t.Helper()
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Fatalf("%s: element %d = %v, the Go twin gives %v", name, i, got[i], want[i])
		}
	}
}

func TestVectorKernelsMatchTheGoTwins(t *testing.T) {
	for _, c := range []int{1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 36, 64} {
		t.Run(fmt.Sprintf("%d channels", c), func(t *testing.T) {
			const rows = 37
			xs, dys := randomValues(rows*c, 1, false), randomValues(rows*c, 2, false)
			p := make([][]float32, 6)
			for i := range p {
				p[i] = randomValues(c, uint64(10+i), false)
			}
			type out struct {
				s1, s2, t1, t2   []float64
				y, yr, dx, dxSet []float32
				res, resr        []float32
			}
			var results []out
			withVec(t, func(bool) {
				o := out{make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c),
					make([]float32, rows*c), make([]float32, rows*c), randomValues(rows*c, 3, false), randomValues(rows*c, 5, false),
					make([]float32, rows*c), make([]float32, rows*c)}
				acc := make([]float32, bnAccLen(c))
				bnStats(xs, c, p[0], acc, o.s1, o.s2)
				bnGradSums(xs, dys, c, p[1], nil, nil, acc, o.t1, o.t2)
				bnNormalize(xs, o.y, c, p[2], p[3], false)
				bnNormalize(xs, o.yr, c, p[2], p[3], true)
				bnResidual(xs, o.res, dys, c, p[2], p[3], 0.2, false)
				bnResidual(xs, o.resr, dys, c, p[2], p[3], 1, true)
				bnInputGrad(xs, dys, o.dx, c, p[0], p[1], p[2], p[3], nil, nil, true)
				bnInputGrad(xs, dys, o.dxSet, c, p[0], p[1], p[2], p[3], nil, nil, false)
				results = append(results, o)
			})
			if len(results) < 2 {
				return
			}
			got, want := results[1], results[0]
			sameBits(t, "stats sum", got.s1, want.s1)
			sameBits(t, "stats squares", got.s2, want.s2)
			sameBits(t, "gradient sum", got.t1, want.t1)
			sameBits(t, "gradient products", got.t2, want.t2)
			sameBits(t, "normalize", got.y, want.y)
			sameBits(t, "normalize relu", got.yr, want.yr)
			sameBits(t, "residual", got.res, want.res)
			sameBits(t, "residual relu", got.resr, want.resr)
			sameBits(t, "input gradient", got.dx, want.dx)
			sameBits(t, "input gradient set", got.dxSet, want.dxSet)
		})
	}
}

// TestReLUMaskedBatchNormGradients checks the backward kernels of a BatchNorm that applies its ReLU:
// with the forward's scale and shift they must give, bit for bit, what they give without them on
// the gradient that ReLU's backward passes on from the forward's output; and the AVX2 forms the
// Go twins' bits. Inputs include zeros of both signs, NaNs and infinities.
func TestReLUMaskedBatchNormGradients(t *testing.T) {
	for _, c := range []int{2, 3, 5, 7, 8, 12, 16, 20, 64} {
		t.Run(fmt.Sprintf("%d channels", c), func(t *testing.T) {
			const rows = 29
			xs, dys := randomValues(rows*c, 1, true), randomValues(rows*c, 2, false)
			p := make([][]float32, 6)
			for i := range p {
				p[i] = randomValues(c, uint64(10+i), false)
			}
			scale, shift := p[4], p[5]
			shift[0] = 0 // x·scale + shift is ±0 for the zeros of x in channel 0
			var results [][]float64
			withVec(t, func(bool) {
				// The ReLU's gradient from the forward's output, as a separate pass would take it.
				z, passed := make([]float32, rows*c), make([]float32, rows*c)
				bnNormalize(xs, z, c, scale, shift, true)
				reluGrad(z, dys, passed, false)
				acc := make([]float32, bnAccLen(c))
				var r [][]float64
				for _, masked := range []bool{false, true} {
					s1, s2 := make([]float64, c), make([]float64, c)
					dx, dxAdd := make([]float32, rows*c), randomValues(rows*c, 3, false)
					if masked {
						bnGradSums(xs, dys, c, p[1], scale, shift, acc, s1, s2)
						bnInputGrad(xs, dys, dx, c, p[0], p[1], p[2], p[3], scale, shift, false)
						bnInputGrad(xs, dys, dxAdd, c, p[0], p[1], p[2], p[3], scale, shift, true)
					} else {
						bnGradSums(xs, passed, c, p[1], nil, nil, acc, s1, s2)
						bnInputGrad(xs, passed, dx, c, p[0], p[1], p[2], p[3], nil, nil, false)
						bnInputGrad(xs, passed, dxAdd, c, p[0], p[1], p[2], p[3], nil, nil, true)
					}
					r = append(r, s1, s2, widened(dx), widened(dxAdd))
				}
				for i := range 4 {
					sameBits(t, fmt.Sprintf("masked result %d", i), r[4+i], r[i])
				}
				results = append(results, r[4:]...)
			})
			for i := 4; i < len(results); i++ {
				sameBits(t, fmt.Sprintf("AVX2 result %d", i-4), results[i], results[i-4])
			}
		})
	}
}

// widened returns v as float64s.
func widened(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

func TestElementwiseKernelsMatchTheGoTwins(t *testing.T) {
	for _, n := range []int{0, 5, 8, 61} {
		x, dy, b := randomValues(n, 1, true), randomValues(n, 2, false), randomValues(n, 3, true)
		var results [][][]float32
		withVec(t, func(bool) {
			y, set, add, sum := make([]float32, n), make([]float32, n), randomValues(n, 4, false), make([]float32, n)
			relu(x, y)
			reluGrad(x, dy, set, false)
			reluGrad(x, dy, add, true)
			addScaled(sum, x, b, 0.3)
			results = append(results, [][]float32{y, set, add, sum})
		})
		for i, want := range results[0] {
			// The Go twins against the definitions.
			for j := range want {
				var w float32
				switch i {
				case 0:
					w = x[j]
					if x[j] < 0 {
						w = 0
					}
				case 1:
					if x[j] > 0 {
						w = dy[j]
					}
				case 2:
					w = randomValues(n, 4, false)[j]
					if x[j] > 0 {
						w += dy[j]
					}
				case 3:
					w = x[j] + 0.3*b[j]
				}
				sameBits(t, fmt.Sprintf("kernel %d, %d elements, Go", i, n), want[j:j+1], []float32{w})
			}
			if len(results) == 2 {
				sameBits(t, fmt.Sprintf("kernel %d, %d elements, AVX2", i, n), results[1][i], want)
			}
		}
	}
}

func TestCopyRows(t *testing.T) {
	for _, c := range []struct{ n, rows, dstStride, srcStride int }{
		{1, 1, 1, 1}, {3, 5, 7, 4}, {8, 3, 8, 8}, {13, 4, 20, 13}, {48, 26, 144, 16}, {0, 3, 2, 2}, {5, 0, 5, 5},
	} {
		src := randomValues(max(1, c.rows*c.srcStride+c.n), 1, true)
		withVec(t, func(vec bool) {
			dst := randomValues(max(1, c.rows*c.dstStride+c.n), 2, false)
			want := append([]float32(nil), dst...)
			for r := range c.rows {
				for i := range c.n {
					want[r*c.dstStride+i] = src[r*c.srcStride+i]
				}
			}
			copyRows(dst, c.dstStride, src, c.srcStride, c.n, c.rows)
			sameBits(t, fmt.Sprintf("%+v, AVX2 %v", c, vec), dst, want)
		})
	}
}

func TestMaxPoolKernelMatchesTheGoTwin(t *testing.T) {
	for _, c := range []int{3, 8, 12, 16, 35} {
		const pixels = 9
		x := randomValues(pixels*c, 7, true)
		// Windows of a few taps, as pooling makes them: in increasing order, sometimes one.
		windows := [][]int32{{0}, {0, 1, 2}, {0, 2, 3, 5, 6, 8}, {1, 2, 4, 5, 7, 8}}
		var results [][]float32
		var args [][]int32
		withVec(t, func(bool) {
			y, arg := make([]float32, len(windows)*c), make([]int32, len(windows)*c)
			for i, win := range windows {
				taps := make([]int32, len(win))
				for j, p := range win {
					taps[j] = p * int32(c)
				}
				maxPool(x, y[i*c:(i+1)*c], arg[i*c:(i+1)*c], c, taps)
			}
			results, args = append(results, y), append(args, arg)
		})
		if len(results) < 2 {
			continue
		}
		sameBits(t, fmt.Sprintf("max pool of %d channels", c), results[1], results[0])
		for i := range args[0] {
			if args[1][i] != args[0][i] {
				t.Fatalf("%d channels: argmax %d = %d, the Go twin gives %d", c, i, args[1][i], args[0][i])
			}
		}
	}
}
