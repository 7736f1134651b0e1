// Package pareto is the multi-objective arithmetic that search and reports share: Pareto
// dominance, fast non-dominated sorting, crowding distance and the two-dimensional hypervolume.
// Every objective is minimised, and no point may contain NaN (search gives a failed candidate
// +Inf in every objective instead).
package pareto

import (
	"fmt"
	"math"
	"sort"
)

// Dominates reports whether a Pareto-dominates b: a is no worse than b in every objective and
// strictly better in at least one. It panics if a and b have different lengths.
func Dominates(a, b []float64) bool {
	if len(a) != len(b) {
		panic(fmt.Sprintf("pareto: points of %d and %d objectives", len(a), len(b)))
	}
	better := false
	for i := range a {
		if a[i] > b[i] {
			return false
		}
		if a[i] < b[i] {
			better = true
		}
	}
	return better
}

// Fronts sorts points into non-domination fronts with the fast non-dominated sort of Deb et al.
// (2002): front 0 holds the points no other point dominates, front k the points dominated only by
// points of fronts before k. Each front lists indices into points in increasing order; together
// the fronts hold every index exactly once. It takes O(M·N²) time for N points of M objectives.
func Fronts(points [][]float64) [][]int {
	n := len(points)
	dominated := make([][]int, n) // dominated[i]: the points i dominates
	count := make([]int, n)       // count[i]: how many points dominate i
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case Dominates(points[i], points[j]):
				dominated[i] = append(dominated[i], j)
				count[j]++
			case Dominates(points[j], points[i]):
				dominated[j] = append(dominated[j], i)
				count[i]++
			}
		}
	}
	var fronts [][]int
	var front []int
	for i := range n {
		if count[i] == 0 {
			front = append(front, i)
		}
	}
	for len(front) > 0 {
		fronts = append(fronts, front)
		var next []int
		for _, i := range front {
			for _, j := range dominated[i] {
				count[j]--
				if count[j] == 0 {
					next = append(next, j)
				}
			}
		}
		sort.Ints(next)
		front = next
	}
	return fronts
}

// Crowding returns the crowding distance of Deb et al. (2002) of each member of front, in the
// order of front (indices into points): for every objective, a member's neighbours' difference
// divided by the front's range in that objective, summed over objectives. The extreme members of
// every objective get +Inf so that they are always kept. An objective whose range is zero or
// infinite adds nothing to the interior members, which keeps the result free of NaN.
func Crowding(points [][]float64, front []int) []float64 {
	d := make([]float64, len(front))
	if len(front) == 0 {
		return d
	}
	byValue := make([]int, len(front)) // positions in front
	for m := range points[front[0]] {
		for k := range byValue {
			byValue[k] = k
		}
		sort.SliceStable(byValue, func(a, b int) bool {
			return points[front[byValue[a]]][m] < points[front[byValue[b]]][m]
		})
		first, last := byValue[0], byValue[len(byValue)-1]
		d[first], d[last] = math.Inf(1), math.Inf(1)
		span := points[front[last]][m] - points[front[first]][m]
		if !(span > 0) || math.IsInf(span, 0) {
			continue
		}
		for k := 1; k < len(byValue)-1; k++ {
			lo, hi := points[front[byValue[k-1]]][m], points[front[byValue[k+1]]][m]
			d[byValue[k]] += (hi - lo) / span
		}
	}
	return d
}

// Hypervolume2D returns the area dominated by the two-objective points and bounded by the
// reference point ref: the measure of the set of (x, y) with x <= ref[0], y <= ref[1] that some
// point weakly dominates. Points not strictly better than ref in both objectives add nothing. It
// panics if a point does not have two objectives.
func Hypervolume2D(points [][]float64, ref [2]float64) float64 {
	var in [][]float64
	for _, p := range points {
		if len(p) != 2 {
			panic(fmt.Sprintf("pareto: Hypervolume2D of a point with %d objectives", len(p)))
		}
		if p[0] < ref[0] && p[1] < ref[1] {
			in = append(in, p)
		}
	}
	sort.Slice(in, func(a, b int) bool {
		if in[a][0] != in[b][0] {
			return in[a][0] < in[b][0]
		}
		return in[a][1] < in[b][1]
	})
	// Sweep in increasing x: each point that lowers the best y so far adds the slab between its
	// y and that best y, from its x to the reference.
	area, top := 0.0, ref[1]
	for _, p := range in {
		if p[1] < top {
			area += (ref[0] - p[0]) * (top - p[1])
			top = p[1]
		}
	}
	return area
}
