package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

func TestGroupedWidth(t *testing.T) {
	for _, c := range []struct {
		in   Shape
		s    ConvSpec
		want int
	}{
		{Shape{28, 28, 32}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, Groups: 8}, 4},
		{Shape{28, 28, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 2, Groups: 8}, 8},
		{Shape{16, 16, 128}, ConvSpec{Filters: 128, KH: 3, KW: 3, Stride: 1, Groups: 32}, 4},
		{Shape{14, 14, 128}, ConvSpec{Filters: 128, KH: 3, KW: 3, Stride: 2, Groups: 8}, 0}, // groups of 16
		{Shape{8, 8, 12}, ConvSpec{Filters: 12, KH: 3, KW: 3, Stride: 1, Groups: 3}, 0},     // 3 groups of 4 do not pair
		{Shape{8, 8, 16}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, Groups: 4}, 0},     // 4 in, 8 out
		{Shape{8, 8, 8}, ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 1, Groups: 1}, 0},       // one group
		{Shape{8, 8, 24}, ConvSpec{Filters: 24, KH: 1, KW: 1, Stride: 1, Groups: 3}, 8},     // 1×1
		{Shape{8, 8, 16}, ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, Groups: 16}, 0},    // depthwise
		{Shape{8, 8, 16}, ConvSpec{Filters: 16, KH: 5, KW: 2, Stride: 3, Groups: 4}, 4},     // any kernel
		{Shape{8, 8, 40}, ConvSpec{Filters: 40, KH: 3, KW: 3, Stride: 1, Groups: 10}, 4},    // 10 groups of 4
		{Shape{8, 8, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, Groups: 8, Bias: true}, 8},
	} {
		if got := groupedWidth(c.s, c.in); got != c.want {
			t.Errorf("groupedWidth(%+v, %v) = %d, want %d", c.s, c.in, got, c.want)
		}
	}
}

// TestGroupedKernelsMatchTwins runs the assembly kernels and their Go twins on the same random
// inputs, over pixel counts around the assembly's blocks (two pixels, eight, and the last eight
// again), tap lists of every length a 3×3 kernel's phases have, and several vectors. The twins
// round each product where the assembly fuses it, so the two agree to float32 rounding.
func TestGroupedKernelsMatchTwins(t *testing.T) {
	if !vecAVX2 || !groupedFMA {
		t.Skip("no AVX2 and FMA kernels in this build or on this CPU")
	}
	for _, gs := range []int{4, 8} {
		for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 14, 17} {
			for _, nt := range []int{0, 1, 2, 4, 9} {
				for _, add := range []bool{false, true} {
					t.Run(fmt.Sprintf("gs %d, %d pixels, %d taps, add %v", gs, n, nt, add), func(t *testing.T) {
						checkGroupedKernels(t, gs, n, nt, add)
					})
				}
			}
		}
	}
}

// checkGroupedKernels compares the kernels of groups of gs with their twins on n pixels of nine
// vectors (eight taken together where a pixel is alone, then one), with nt taps and, for the
// gather, add.
func checkGroupedKernels(t *testing.T, gs, n, nt int, add bool) {
	const nv = 9
	// Pixels 2·72+8 apart in the source and 72+8 in the destination, whose gaps must stay as they
	// are; taps anywhere in a window of 3×3 pixels of rows 9 pixels apart, in any order.
	ss, ds, wv := 152, 80, 9*gs*8+8
	taps := make([]int, 0, 2*nt)
	for k := range nt {
		tap := k * 5 % 9
		taps = append(taps, (tap/3*9+tap%3)*ss, tap*gs*8)
	}
	pixels := max(n, 1)
	src := randomValues(pixels*ss+30*ss, 1, false)
	w := randomValues(nv*wv, 2, false)
	dy := randomValues(pixels*ds, 3, false)
	run := func(vec bool) (out, dw []float32) {
		saved := vecAVX2
		defer func() { vecAVX2 = saved }()
		vecAVX2 = vec
		o := &grouped{gs: gs, taps: 9, fwd: gather{src: Shape{C: nv * 8}}}
		out, dw = randomValues(pixels*ds, 4, false), randomValues(nv*wv, 5, false)
		o.conv(out, ds, src, ss, n, taps, w, add)
		o.grad(dw, src, ss, dy, ds, n, taps)
		return out, dw
	}
	out, dw := run(true)
	wantOut, wantDW := run(false)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"gather", out, wantOut}, {"weight gradient", dw, wantDW}} {
		for i, v := range c.want {
			if d := math.Abs(float64(c.got[i] - v)); d > 1e-5*(1+math.Abs(float64(v))) || math.IsNaN(d) {
				t.Fatalf("%s: element %d = %v, the Go twin gives %v", c.name, i, c.got[i], v)
			}
		}
	}
}

// TestGradGroupedConvAfterConv checks grouped convolutions whose input is another op's output, so
// that their input gradient sets that output's gradient rather than adding to it (see overwrite).
func TestGradGroupedConvAfterConv(t *testing.T) {
	for _, c := range []struct {
		name string
		s    ConvSpec
	}{
		{"groups of 4, stride 2", ConvSpec{Filters: 8, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 2}},
		{"groups of 8", ConvSpec{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2}},
	} {
		checkGradients(t, gradCase{
			name: c.name, batch: 2, inputs: []Shape{{5, 6, 3}},
			build: func(g *Graph, xs []*Node) *Node {
				y := g.Conv2D(xs[0], ConvSpec{Filters: c.s.Filters, KH: 1, KW: 1, Stride: 1})
				return g.Conv2D(y, c.s)
			},
		})
	}
}

// TestGroupedConvSetsInputGradient runs two identical training steps through a convolution and a
// grouped one after it, which sets its input's gradient in a buffer that Backward does not clear
// and that still holds the last step's: the steps must give the same gradients.
func TestGroupedConvSetsInputGradient(t *testing.T) {
	for _, s := range []ConvSpec{
		{Filters: 8, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 2},
		{Filters: 16, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 2},
	} {
		g := New(Config{Batch: 2, Pool: parallel.NewPool(2), Seed: 1})
		defer g.Pool().Close()
		x := g.Input("x", Shape{5, 6, 3})
		fillNormal(x.Value, 1)
		y := g.Conv2D(g.Conv2D(x, ConvSpec{Filters: s.Filters, KH: 1, KW: 1, Stride: 1}), s)
		g.SoftmaxCrossEntropy(g.Linear(g.GlobalAvgPool(y), 3, false), 0)
		g.Build()
		var grads [2][]float32
		for i := range grads {
			g.Forward(true)
			g.Backward()
			grads[i] = append([]float32(nil), g.Params()[0].Grad...)
		}
		sameBits(t, fmt.Sprintf("%+v: the first convolution's weight gradient", s), grads[1], grads[0])
	}
}

// TestConvGoKernels runs the convolution tests with the Go kernels only, where the others run the
// assembly ones.
func TestConvGoKernels(t *testing.T) {
	saved := vecAVX2
	defer func() { vecAVX2 = saved }()
	vecAVX2 = false
	TestConv2DForwardMatchesDefinition(t)
	TestGradConv2D(t)
	TestConvBackwardIsTheAdjoint(t)
	TestConv2DIdenticalOnAnyThreadCount(t)
	TestGradGroupedConvAfterConv(t)
	TestGroupedConvSetsInputGradient(t)
}

// BenchmarkGroupedConv times the grouped 3×3 convolutions of ResNeXt-20 8x4d with groups of 4
// and 8 (see benchConv).
func BenchmarkGroupedConv(b *testing.B) {
	for _, c := range []struct {
		in Shape
		s  ConvSpec
	}{
		{Shape{28, 28, 32}, ConvSpec{Filters: 32, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 8}},
		{Shape{28, 28, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Groups: 8}},
		{Shape{14, 14, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 8}},
	} {
		b.Run(fmt.Sprintf("%dx%dx%d_s%d_g%d", c.in.H, c.in.W, c.in.C, c.s.Stride, c.s.Groups), func(b *testing.B) {
			benchConv(b, c.in, c.s)
		})
	}
}

// BenchmarkGroupedKernels times each kernel alone, on data in the L1 cache: 16 pixels of 64
// channels, a 3×3 kernel's taps, pixels one apart in the source (two for the stride-2 gather).
func BenchmarkGroupedKernels(b *testing.B) {
	for _, c := range []struct {
		name     string
		gs, s    int
		gradient bool
	}{
		{"Gather4", 4, 1, false}, {"Gather8", 8, 1, false}, {"Gather8Stride2", 8, 2, false},
		{"Grad4", 4, 1, true}, {"Grad8", 8, 1, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			const n, nv, c8 = 16, 8, 64
			ss, wb := c.s*c8, c.s*n+2
			o := &grouped{gs: c.gs, taps: 9, fwd: gather{src: Shape{C: c8}}}
			var taps []int
			for k := range 9 {
				taps = append(taps, (k/3*wb+k%3)*c8, k*c.gs*8)
			}
			src := randomValues(3*wb*c8, 1, false)
			w := randomValues(nv*9*c.gs*8, 2, false)
			dst := randomValues(n*c8, 3, false)
			for b.Loop() {
				if c.gradient {
					o.grad(w, src, ss, dst, c8, n, taps)
				} else {
					o.conv(dst, c8, src, ss, n, taps, w, false)
				}
			}
			b.ReportMetric(2*float64(n*c8*9*c.gs)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
		})
	}
}
