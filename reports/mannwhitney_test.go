package reports

import (
	"math"
	"testing"
)

func TestMannWhitneyAgainstHandComputedCases(t *testing.T) {
	cases := []struct {
		name  string
		x, y  []float64
		u, p  float64
		exact bool
	}{
		// Of the C(6,3) = 20 splits of 1..6, only {4,5,6} gives U = 9.
		{"every x above every y", []float64{4, 5, 6}, []float64{1, 2, 3}, 9, 1.0 / 20, true},
		{"every x below every y", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 1, true},
		// 1/C(10,5): the one split of ten values that puts the five largest in x.
		{"five seeds against five, all above", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 25, 1.0 / 252, true},
		// x = {3,5}, y = {1,4}: pairs 3>1, 5>1, 5>4, so U = 3. The six splits of four values
		// give U = 0, 1, 2, 2, 3, 4: two of them reach 3.
		{"interleaved", []float64{3, 5}, []float64{1, 4}, 3, 2.0 / 6, true},
		// Pooled {1, 2, 2, 3} has mean ranks 1, 2.5, 2.5, 4; the six pairs of ranks give
		// U = 0.5, 0.5, 2, 2, 3.5, 3.5, and U = 3.5 was observed.
		{"a tie between the samples", []float64{2, 3}, []float64{1, 2}, 3.5, 2.0 / 6, true},
		// Enumerated in python3 over the 252 splits (itertools.combinations): 36 reach U = 18.
		{"ties within and between", []float64{0.3, 0.5, 0.5, 0.7, 0.9}, []float64{0.1, 0.5, 0.5, 0.6, 0.2}, 18, 36.0 / 252, true},
		// Normal approximation: x the even numbers 2..50, y the odd ones 1..49; U = 1+2+…+25 = 325,
		// mean 312.5, σ² = 625·51/12. p from python3's math: 0.5*erfc((325-312.5-0.5)/σ/√2).
		{"25 against 25, interleaved", seq(2, 2, 25), seq(1, 2, 25), 325, 0.40794507743037356, false},
		// Two groups of 21 equal values: σ² = 441/12·(43 − 2·(21³−21)/(42·41)); p as above.
		{"21 against 21 with every value tied in its group", fill(21, 1), fill(21, 0), 441, 8.370310392261741e-11, false},
		{"an empty sample says nothing", nil, []float64{1}, 0, 1, true},
		{"all values equal say nothing", []float64{1, 1}, []float64{1, 1}, 2, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MannWhitneyGreater(c.x, c.y)
			if got.U != c.u || math.Abs(got.P-c.p) > 1e-12*math.Max(1, c.p) || got.Exact != c.exact {
				t.Errorf("got %+v, want U %v, p %v, exact %v", got, c.u, c.p, c.exact)
			}
		})
	}
}

func TestMannWhitneyExactSumsToOneAcrossDirections(t *testing.T) {
	// Without ties U' = nm − U, so the two one-sided p values add up to 1 + P(U = u): just
	// above 1.
	x, y := []float64{1, 4, 6, 9}, []float64{2, 3, 5, 7, 8}
	a, b := MannWhitneyGreater(x, y), MannWhitneyGreater(y, x)
	if a.U+b.U != 20 {
		t.Fatalf("U %v + %v, want 4·5 = 20", a.U, b.U)
	}
	if s := a.P + b.P; s <= 1 || s > 1.2 {
		t.Errorf("p %v + %v = %v, want just above 1", a.P, b.P, s)
	}
}

func seq(start, step float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = start + step*float64(i)
	}
	return s
}

func fill(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}
