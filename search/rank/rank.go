// Package rank measures how well two scorings of the same items agree in order: Kendall's τ-b
// and Spearman's ρ, both exact and both correct for ties. Reports use them to say whether a
// search's cheap fidelity ranks networks as their final training does.
package rank

import (
	"fmt"
	"math"
	"sort"
)

// KendallTau returns Kendall's τ-b of the pairs (x[i], y[i]):
//
//	τ-b = (C − D) / √((n₀ − n₁)(n₀ − n₂))
//
// where C and D count the concordant and discordant pairs, n₀ = n(n−1)/2, and n₁ and n₂ count
// the pairs tied in x and in y. It is NaN when either sample is constant (or has fewer than two
// items), since no order can be compared then. It takes O(n²) time, which is exact and plenty
// for the tens of networks a report compares. It panics if the lengths differ or a value is NaN.
func KendallTau(x, y []float64) float64 {
	check(x, y)
	n := len(x)
	var c, d, tx, ty float64
	for i := range n {
		for j := i + 1; j < n; j++ {
			sx, sy := sign(x[i]-x[j]), sign(y[i]-y[j])
			switch {
			case sx == 0 && sy == 0:
				tx++
				ty++
			case sx == 0:
				tx++
			case sy == 0:
				ty++
			case sx == sy:
				c++
			default:
				d++
			}
		}
	}
	n0 := float64(n) * float64(n-1) / 2
	den := math.Sqrt((n0 - tx) * (n0 - ty))
	if den == 0 {
		return math.NaN()
	}
	return (c - d) / den
}

// Spearman returns Spearman's ρ of the pairs (x[i], y[i]): Pearson's correlation of their
// ranks, tied values taking the mean of the ranks they span. It is NaN when either sample is
// constant (or has fewer than two items). It panics if the lengths differ or a value is NaN.
func Spearman(x, y []float64) float64 {
	check(x, y)
	rx, ry := Ranks(x), Ranks(y)
	n := float64(len(x))
	mx, my := (n+1)/2, (n+1)/2 // the mean rank, ties or not
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Ranks returns the rank of each value of x, from 1 for the least; equal values share the mean
// of the ranks they span (fractional ranking).
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && x[idx[hi]] == x[idx[lo]] {
			hi++
		}
		mean := float64(lo+1+hi) / 2 // the mean of ranks lo+1 .. hi
		for _, i := range idx[lo:hi] {
			r[i] = mean
		}
		lo = hi
	}
	return r
}

func check(x, y []float64) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("rank: samples of %d and %d values", len(x), len(y)))
	}
	for i := range x {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) {
			panic(fmt.Sprintf("rank: pair %d is (%v, %v); NaN has no rank", i, x[i], y[i]))
		}
	}
}

func sign(v float64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
