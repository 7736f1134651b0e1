package pareto

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// bruteFronts peels fronts by the definition: front k is the set of points that no remaining
// point dominates once fronts 0..k-1 are removed.
func bruteFronts(points [][]float64) [][]int {
	left := make([]bool, len(points))
	for i := range left {
		left[i] = true
	}
	var fronts [][]int
	for remaining := len(points); remaining > 0; {
		var front []int
		for i := range points {
			if !left[i] {
				continue
			}
			dominated := false
			for j := range points {
				if left[j] && Dominates(points[j], points[i]) {
					dominated = true
					break
				}
			}
			if !dominated {
				front = append(front, i)
			}
		}
		for _, i := range front {
			left[i] = false
		}
		remaining -= len(front)
		fronts = append(fronts, front)
	}
	return fronts
}

func randomPoints(rng *rand.Rand, n, m, levels int) [][]float64 {
	points := make([][]float64, n)
	for i := range points {
		points[i] = make([]float64, m)
		for k := range points[i] {
			// Few distinct levels make ties and duplicate points common.
			points[i][k] = float64(rng.Intn(levels))
		}
	}
	return points
}

func TestFrontsMatchTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		points := randomPoints(rng, rng.Intn(40), 1+rng.Intn(3), 2+rng.Intn(6))
		got, want := Fronts(points), bruteFronts(points)
		if len(got) != len(want) {
			t.Fatalf("points %v: %d fronts, want %d", points, len(got), len(want))
		}
		for k := range got {
			if !slices.Equal(got[k], want[k]) {
				t.Fatalf("points %v: front %d = %v, want %v", points, k, got[k], want[k])
			}
		}
	}
}

func TestDominates(t *testing.T) {
	cases := []struct {
		a, b []float64
		want bool
	}{
		{[]float64{1, 2}, []float64{2, 2}, true},
		{[]float64{1, 2}, []float64{1, 2}, false},
		{[]float64{1, 3}, []float64{2, 2}, false},
		{[]float64{1, 2}, []float64{math.Inf(1), math.Inf(1)}, true},
		{[]float64{math.Inf(1), math.Inf(1)}, []float64{math.Inf(1), math.Inf(1)}, false},
	}
	for _, c := range cases {
		if got := Dominates(c.a, c.b); got != c.want {
			t.Errorf("Dominates(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestDominatesPanicsOnShapeMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for points of different lengths")
		}
	}()
	Dominates([]float64{1}, []float64{1, 2})
}

func TestCrowdingOfAKnownFront(t *testing.T) {
	// Four points on the line x + y = 3; the range is 3 in both objectives.
	points := [][]float64{{0, 3}, {1, 2}, {2.5, 0.5}, {3, 0}}
	got := Crowding(points, []int{0, 1, 2, 3})
	inf := math.Inf(1)
	// Point 1: (2.5-0)/3 + (3-0.5)/3; point 2: (3-1)/3 + (2-0)/3.
	want := []float64{inf, 5.0 / 3, 4.0 / 3, inf}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 && got[i] != want[i] {
			t.Fatalf("crowding = %v, want %v", got, want)
		}
	}
}

func TestCrowdingStaysFinitePastInfiniteObjectives(t *testing.T) {
	inf := math.Inf(1)
	points := [][]float64{{inf, inf}, {inf, inf}, {inf, inf}, {inf, inf}}
	for _, d := range Crowding(points, []int{0, 1, 2, 3}) {
		if math.IsNaN(d) {
			t.Fatalf("crowding of failed points contains NaN")
		}
	}
	// A subset of a larger set: indices need not be contiguous.
	points = [][]float64{{9, 9}, {0, 2}, {9, 9}, {1, 1}, {2, 0}}
	got := Crowding(points, []int{1, 3, 4})
	if !math.IsInf(got[0], 1) || !math.IsInf(got[2], 1) || math.Abs(got[1]-2) > 1e-12 {
		t.Fatalf("crowding of a subset = %v, want [+Inf 2 +Inf]", got)
	}
}

func TestHypervolume2DOfKnownSets(t *testing.T) {
	cases := []struct {
		name   string
		points [][]float64
		want   float64
	}{
		{"empty set", nil, 0},
		{"one point", [][]float64{{1, 1}}, 4},
		{"staircase", [][]float64{{0, 2}, {1, 1}, {2, 0}}, 1*1 + 2*1 + 3*1},
		{"dominated points add nothing", [][]float64{{1, 1}, {2, 2}, {1, 2}}, 4},
		{"points beyond the reference add nothing", [][]float64{{1, 1}, {4, 0}, {0, 3}}, 4},
		{"duplicates add nothing", [][]float64{{1, 1}, {1, 1}}, 4},
	}
	for _, c := range cases {
		if got := Hypervolume2D(c.points, [2]float64{3, 3}); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: hypervolume = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHypervolume2DMatchesAGridCount(t *testing.T) {
	// On integer points the dominated region is a union of unit cells, which can be counted.
	rng := rand.New(rand.NewSource(2))
	const size = 12
	for trial := 0; trial < 50; trial++ {
		points := randomPoints(rng, 1+rng.Intn(15), 2, size+2)
		cells := 0
		for x := 0; x < size; x++ {
			for y := 0; y < size; y++ {
				for _, p := range points {
					if p[0] <= float64(x) && p[1] <= float64(y) {
						cells++
						break
					}
				}
			}
		}
		if got := Hypervolume2D(points, [2]float64{size, size}); got != float64(cells) {
			t.Fatalf("points %v: hypervolume %v, want %d cells", points, got, cells)
		}
	}
}

func FuzzFronts(f *testing.F) {
	f.Add([]byte{1, 2, 2, 1, 0, 0, 3, 3}, uint8(2))
	f.Add([]byte{5, 5, 5, 5, 5, 5}, uint8(3))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		dims := int(m%4) + 1
		var points [][]float64
		for len(data) >= dims && len(points) < 64 { // bruteFronts is cubic in the point count
			p := make([]float64, dims)
			for k := range p {
				p[k] = float64(data[k] % 16)
			}
			points = append(points, p)
			data = data[dims:]
		}
		got, want := Fronts(points), bruteFronts(points)
		if len(got) != len(want) {
			t.Fatalf("%d fronts, want %d", len(got), len(want))
		}
		for k := range got {
			if !slices.Equal(got[k], want[k]) {
				t.Fatalf("front %d = %v, want %v", k, got[k], want[k])
			}
			for _, d := range Crowding(points, got[k]) {
				if math.IsNaN(d) || d < 0 {
					t.Fatalf("crowding %v in front %v", d, got[k])
				}
			}
		}
	})
}
