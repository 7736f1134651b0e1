package reports

import (
	"math"
	"slices"
)

// MannWhitney is the one-sided Mann–Whitney U test of whether the values of one sample, x,
// tend to be larger than those of another, y.
type MannWhitney struct {
	// U counts the pairs (x[i], y[j]) with x[i] > y[j], ties counting one half.
	U float64 `json:"u"`
	// P is the probability of a U at least as large if both samples came from one distribution.
	P float64 `json:"p"`
	// Exact says that P is the exact permutation probability; otherwise it is the normal
	// approximation with the tie and continuity corrections.
	Exact bool `json:"exact"`
}

// exactLimit is the largest sample for which MannWhitneyGreater computes the exact distribution:
// it takes O(n·m·Σranks) time, a few million steps at 20 values a sample.
const exactLimit = 20

// MannWhitneyGreater tests whether x tends to be larger than y. With at most 20 values in each
// sample, P is the exact probability over the C(n+m, n) equally likely ways of splitting the
// pooled values (tied values keeping their mean rank), which holds with ties too. Beyond, it is
// 1 − Φ(z) with z = (U − nm/2 − ½) / σ and σ² = nm/12 · (n+m+1 − Σ(t³−t)/((n+m)(n+m−1))), t
// the sizes of the groups of tied values. An empty sample, or pooled values all equal, give
// P = 1: nothing says x is larger. It panics on NaN.
func MannWhitneyGreater(x, y []float64) MannWhitney {
	n, m := len(x), len(y)
	for _, v := range append(slices.Clone(x), y...) {
		if math.IsNaN(v) {
			panic("reports: MannWhitneyGreater of NaN")
		}
	}
	var u float64
	for _, a := range x {
		for _, b := range y {
			switch {
			case a > b:
				u++
			case a == b:
				u += 0.5
			}
		}
	}
	if n == 0 || m == 0 {
		return MannWhitney{U: u, P: 1, Exact: true}
	}
	pooled := append(slices.Clone(x), y...)
	slices.Sort(pooled)
	if pooled[0] == pooled[len(pooled)-1] {
		return MannWhitney{U: u, P: 1, Exact: true}
	}
	if n <= exactLimit && m <= exactLimit {
		return MannWhitney{U: u, P: exactGreater(pooled, n, u), Exact: true}
	}
	N := float64(n + m)
	var ties float64
	for lo := 0; lo < len(pooled); {
		hi := lo + 1
		for hi < len(pooled) && pooled[hi] == pooled[lo] {
			hi++
		}
		t := float64(hi - lo)
		ties += t*t*t - t
		lo = hi
	}
	nm := float64(n) * float64(m)
	sd := math.Sqrt(nm / 12 * (N + 1 - ties/(N*(N-1))))
	z := (u - nm/2 - 0.5) / sd
	return MannWhitney{U: u, P: 0.5 * math.Erfc(z/math.Sqrt2)}
}

// exactGreater returns the probability that n of the sorted pooled values, drawn at random
// without replacement, give a U of at least u. It counts the subsets of each size by the sum of
// their doubled mean ranks, which are integers.
func exactGreater(pooled []float64, n int, u float64) float64 {
	N := len(pooled)
	ranks := make([]int, N) // twice each value's mean rank
	for lo := 0; lo < N; {
		hi := lo + 1
		for hi < N && pooled[hi] == pooled[lo] {
			hi++
		}
		for i := lo; i < hi; i++ {
			ranks[i] = lo + 1 + hi // twice (lo+1 + hi)/2
		}
		lo = hi
	}
	maxSum := N * (N + 1)
	// count[k][s]: subsets of k of the values seen so far whose doubled ranks sum to s.
	count := make([][]float64, n+1)
	for k := range count {
		count[k] = make([]float64, maxSum+1)
	}
	count[0][0] = 1
	for _, r := range ranks {
		for k := n; k >= 1; k-- {
			for s := maxSum; s >= r; s-- {
				count[k][s] += count[k-1][s-r]
			}
		}
	}
	// U = R − n(n+1)/2, where R is the rank sum: 2U = S − n(n+1) for the doubled sum S.
	min2U := int(math.Round(2*u)) + n*(n+1)
	var at, total float64
	for s, c := range count[n] {
		total += c
		if s >= min2U {
			at += c
		}
	}
	return at / total
}
