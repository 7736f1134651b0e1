package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// benchProduct times one product per iteration and reports its rate in GFLOP/s (2·m·n·k per product).
func benchProduct(b *testing.B, p *parallel.Pool, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(7, 8))
	pr := newProblem(rng, transA, transB, m, n, k, 1, 0, 0)
	run := func() {
		if p == nil {
			Sgemm(transA, transB, m, n, k, 1, pr.a, pr.lda, pr.b, pr.ldb, 0, pr.c, pr.ldc)
			return
		}
		Parallel(p, transA, transB, m, n, k, 1, pr.a, pr.lda, pr.b, pr.ldb, 0, pr.c, pr.ldc)
	}
	run() // pack buffers and page faults are not part of the steady state
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}

// BenchmarkGEMM1024 is the 1024³ product on a pool of GOMAXPROCS threads with the preferred kernel.
func BenchmarkGEMM1024(b *testing.B) {
	p := parallel.NewPool(0)
	defer p.Close()
	benchProduct(b, p, false, false, 1024, 1024, 1024)
}

// BenchmarkGEMM1024Serial is the 1024³ product by Sgemm on one thread, with each kernel.
func BenchmarkGEMM1024Serial(b *testing.B) {
	for _, kr := range kernels {
		b.Run(kr.name, func(b *testing.B) {
			use(b, kr)
			benchProduct(b, nil, false, false, 1024, 1024, 1024)
		})
	}
}

// BenchmarkConv times the products a 3×3 convolution with Cin = Cout = c lowers to, for a batch of
// M = 256·16·16 output pixels (NHWC, K = 9·c), on a pool of GOMAXPROCS threads with each kernel:
//
//	forward: Y[M,c] = col[M,K]·W[K,c]
//	dX:      dcol[M,K] = dY[M,c]·W[K,c]ᵀ
//	dW:      dW[K,c] = col[M,K]ᵀ·dY[M,c]
func BenchmarkConv(b *testing.B) {
	p := parallel.NewPool(0)
	defer p.Close()
	const m = 256 * 16 * 16
	for _, kr := range kernels {
		for _, c := range []int{16, 32, 64} {
			k := 9 * c
			for _, pass := range []struct {
				name           string
				transA, transB bool
				m, n, k        int
			}{
				{"forward", false, false, m, c, k},
				{"dX", false, true, m, k, c},
				{"dW", true, false, k, c, m},
			} {
				b.Run(fmt.Sprintf("%s/%s/M=%d,K=%d,C=%d", kr.name, pass.name, m, k, c), func(b *testing.B) {
					use(b, kr)
					benchProduct(b, p, pass.transA, pass.transB, pass.m, pass.n, pass.k)
				})
			}
		}
	}
}

// BenchmarkLayout compares the products a 3×3 convolution's forward pass lowers to in the two
// layouts the engine could use, for ResNet-20's first and last stage at batch 128 (the decision
// behind the engine's NHWC layout):
//
//	NHWC: one product over the whole batch, Y[N·H·W, C] = col[N·H·W, 9C]·W[9C, C], split into tiles
//	NCHW: one product per image, Y[C, H·W] = W[C, 9C]·col[9C, H·W], images spread over the threads
func BenchmarkLayout(b *testing.B) {
	p := parallel.NewPool(0)
	defer p.Close()
	const batch = 128
	for _, s := range []struct{ hw, c int }{{28, 16}, {7, 64}} {
		pixels, k := s.hw*s.hw, 9*s.c
		b.Run(fmt.Sprintf("NHWC/%dx%dx%d", s.hw, s.hw, s.c), func(b *testing.B) {
			benchProduct(b, p, false, false, batch*pixels, s.c, k)
		})
		b.Run(fmt.Sprintf("NCHW/%dx%dx%d", s.hw, s.hw, s.c), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			w := newProblem(rng, false, false, s.c, pixels, k, 1, 0, 0)
			cols := make([][]float32, batch)
			ys := make([][]float32, batch)
			for i := range cols {
				cols[i] = make([]float32, k*pixels)
				ys[i] = make([]float32, s.c*pixels)
				for j := range cols[i] {
					cols[i][j] = rng.Float32()
				}
			}
			perImage := func(_, i int) {
				Sgemm(false, false, s.c, pixels, k, 1, w.a, w.lda, cols[i], pixels, 0, ys[i], pixels)
			}
			p.For(batch, perImage)
			b.ResetTimer()
			for b.Loop() {
				p.For(batch, perImage)
			}
			b.ReportMetric(2*float64(batch*pixels)*float64(s.c)*float64(k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
		})
	}
}
