package engine

import "testing"

// The micro convolutions of /work/shared/bench/README.md §5A, batch 64, no bias, on the default
// pool. FLOPs count 2 per multiply-add forward and three times that for forward and backward
// (input and weight gradients), as the PyTorch reference does.

func BenchmarkConv3x3_64to64_32x32_b64(b *testing.B) {
	benchConv(b, Shape{32, 32, 64}, ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1})
}

func BenchmarkConv1x1_256to64_16x16_b64(b *testing.B) {
	benchConv(b, Shape{16, 16, 256}, ConvSpec{Filters: 64, KH: 1, KW: 1, Stride: 1})
}

func BenchmarkGConv3x3_128to128_g32_16x16_b64(b *testing.B) {
	benchConv(b, Shape{16, 16, 128}, ConvSpec{Filters: 128, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 32})
}

func benchConv(b *testing.B, in Shape, s ConvSpec) {
	b.Run("Fwd", func(b *testing.B) { runConvBench(b, in, s, false) })
	b.Run("FwdBwd", func(b *testing.B) { runConvBench(b, in, s, true) })
}

func runConvBench(b *testing.B, in Shape, s ConvSpec, backward bool) {
	const batch = 64
	g := New(Config{Batch: batch, Seed: 1})
	defer g.Pool().Close()
	x := g.Input("x", in)
	fillNormal(x.Value, 1)
	y := g.Conv2D(x, s)
	flop := 2 * float64(batch*y.Shape.Size()*in.C/max(s.Groups, 1)*s.KH*s.KW)
	var dy []float32
	if backward {
		flop *= 3
		x.Grad = make([]float32, len(x.Value)) // PyTorch's fwd_bwd computes dX too
		g.Build()
		dy = make([]float32, len(y.Value))
		fillNormal(dy, 2)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Forward(backward)
		if backward {
			g.BackwardFrom(y, dy)
		}
	}
	b.ReportMetric(flop*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}
