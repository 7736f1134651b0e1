package rank

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The expected values are worked out by hand in the comments (and agree with SciPy's
// kendalltau, whose default is τ-b, and spearmanr).
func TestHandComputedCases(t *testing.T) {
	cases := []struct {
		name     string
		x, y     []float64
		tau, rho float64
	}{
		{"the same order gives one", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1, 1},
		{"the reverse order gives minus one", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1, -1},
		// Of the 10 pairs, 7 are concordant and 3 discordant: τ = 4/10. The rank differences
		// are −2, 1, 1, −1, 1: ρ = 1 − 6·8/(5·24) = 0.6.
		{"a partial agreement", []float64{1, 2, 3, 4, 5}, []float64{3, 1, 2, 5, 4}, 0.4, 0.6},
		// 5 concordant pairs, one tied in x, 6 pairs in all: τ-b = 5/√(5·6). Ranks of x are
		// 1, 2.5, 2.5, 4: ρ = 4.5/√(4.5·5) = √0.9.
		{"a tie in x", []float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}, 5 / math.Sqrt(30), math.Sqrt(0.9)},
		// Ties in both samples at the same pair count in neither n₁ nor n₂ alone but in both:
		// pairs: (1,2) tied in both, the other 5 concordant; τ-b = 5/√(5·5) = 1.
		{"a tie in both at the same pair", []float64{1, 1, 2, 3}, []float64{5, 5, 6, 7}, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KendallTau(c.x, c.y); math.Abs(got-c.tau) > 1e-12 {
				t.Errorf("KendallTau = %v, want %v", got, c.tau)
			}
			if got := Spearman(c.x, c.y); math.Abs(got-c.rho) > 1e-12 {
				t.Errorf("Spearman = %v, want %v", got, c.rho)
			}
		})
	}
}

func TestConstantSampleHasNoCorrelation(t *testing.T) {
	for _, xy := range [][2][]float64{
		{{1, 2, 3}, {5, 5, 5}},
		{{7, 7}, {1, 2}},
		{{1}, {2}},
		{nil, nil},
	} {
		if tau, rho := KendallTau(xy[0], xy[1]), Spearman(xy[0], xy[1]); !math.IsNaN(tau) || !math.IsNaN(rho) {
			t.Errorf("%v vs %v: τ %v, ρ %v, want NaN for both", xy[0], xy[1], tau, rho)
		}
	}
}

func TestRanksAverageTies(t *testing.T) {
	got := Ranks([]float64{10, 20, 10, 30, 20, 20})
	want := []float64{1.5, 4, 1.5, 6, 4, 4} // the three 20s share ranks 3, 4 and 5
	if !slices.Equal(got, want) {
		t.Errorf("Ranks = %v, want %v", got, want)
	}
}

// Both coefficients depend on the orders alone: a strictly increasing map of either sample
// leaves them unchanged, a decreasing one negates them, and swapping the samples changes nothing.
func TestOrderInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		n := 2 + rng.IntN(20)
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i], y[i] = float64(rng.IntN(6)), float64(rng.IntN(6)) // many ties
		}
		mx, neg := make([]float64, n), make([]float64, n)
		for i := range x {
			mx[i] = math.Exp(x[i]) + 3
			neg[i] = -y[i]
		}
		for _, f := range []func(a, b []float64) float64{KendallTau, Spearman} {
			v := f(x, y)
			same := func(a, b float64) bool {
				return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-12
			}
			if !same(f(mx, y), v) || !same(f(y, x), v) || !same(f(x, neg), -v) {
				t.Fatalf("x %v y %v: %v, monotone map %v, swapped %v, negated %v", x, y, v, f(mx, y), f(y, x), f(x, neg))
			}
		}
	}
}

func TestPanicsOnNaNAndLengths(t *testing.T) {
	for _, xy := range [][2][]float64{{{1, 2}, {1}}, {{1, math.NaN()}, {1, 2}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KendallTau(%v, %v) did not panic", xy[0], xy[1])
				}
			}()
			KendallTau(xy[0], xy[1])
		}()
	}
}
