package data

import (
	"math"
	"slices"
	"testing"
)

// countByLabel returns how many images of s each class has.
func countByLabel(s *Set) map[int32]int {
	m := map[int32]int{}
	for _, l := range s.Labels {
		m[l]++
	}
	return m
}

// indexSet returns n one-pixel images of two bytes holding the image's index, so that every
// image of a split can be traced back to its origin.
func indexSet(n, classes int) *Set {
	s := &Set{Name: "index", C: 2, H: 1, W: 1, Classes: classes}
	for i := range n {
		s.Pixels = append(s.Pixels, uint8(i>>8), uint8(i))
		s.Labels = append(s.Labels, int32((i*7)%classes))
	}
	return s
}

// origins returns the index in indexSet of each image of s.
func origins(s *Set) []int {
	var ids []int
	for i := range s.Len() {
		img := s.Image(i)
		ids = append(ids, int(img[0])<<8|int(img[1]))
	}
	return ids
}

func TestSplitIsAStratifiedPartition(t *testing.T) {
	s := indexSet(1003, 10)
	for _, frac := range []float64{0, 0.1, 0.25, 1} {
		train, val := s.Split(frac, 42)
		wantVal := int(math.Round(frac * 1003))
		if val.Len() != wantVal || train.Len() != 1003-wantVal {
			t.Fatalf("frac %v: %d train + %d val, want %d + %d", frac, train.Len(), val.Len(), 1003-wantVal, wantVal)
		}
		all := append(origins(train), origins(val)...)
		slices.Sort(all)
		for i, id := range all {
			if id != i {
				t.Fatalf("frac %v: the two parts are not a partition of the set (image %d missing or doubled)", frac, i)
			}
		}
		for _, part := range []*Set{train, val} {
			if !slices.IsSorted(origins(part)) {
				t.Errorf("frac %v: %s does not keep the set's order", frac, part.Name)
			}
			for i, id := range origins(part) {
				if part.Labels[i] != s.Labels[id] {
					t.Fatalf("frac %v: image %d lost its label", frac, id)
				}
			}
		}
		total := countByLabel(s)
		for label, n := range countByLabel(val) {
			if want := frac * float64(total[label]); math.Abs(float64(n)-want) > 1 {
				t.Errorf("frac %v: class %d has %d validation images, want %.1f±1", frac, label, n, want)
			}
		}
	}
}

func TestSplitDependsOnlyOnTheSeed(t *testing.T) {
	s := indexSet(500, 5)
	_, a := s.Split(0.2, 7)
	_, b := s.Split(0.2, 7)
	_, c := s.Split(0.2, 8)
	if !slices.Equal(origins(a), origins(b)) {
		t.Error("the same seed chose different validation images")
	}
	if slices.Equal(origins(a), origins(c)) {
		t.Error("seeds 7 and 8 chose the same validation images")
	}
}

func TestSubsetIsStratifiedAndSeeded(t *testing.T) {
	s := indexSet(1000, 10)
	a, b := s.Subset(0.05, 3), s.Subset(0.05, 3)
	if a.Len() != 50 || !slices.Equal(origins(a), origins(b)) {
		t.Fatalf("subset of %d images, want 50 chosen the same way twice", a.Len())
	}
	for label, n := range countByLabel(a) {
		if n != 5 {
			t.Errorf("class %d has %d images in the subset, want 5", label, n)
		}
	}
	if slices.Equal(origins(a), origins(s.Subset(0.05, 4))) {
		t.Error("seeds 3 and 4 chose the same subset")
	}
}

func TestSplitPanicsOnAFractionOutsideZeroToOne(t *testing.T) {
	for _, frac := range []float64{-0.1, 1.5, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(%v) did not panic", frac)
				}
			}()
			indexSet(10, 2).Split(frac, 1)
		}()
	}
}

func TestNormIsPerChannelMeanAndPopulationDeviation(t *testing.T) {
	s := &Set{Name: "n", C: 3, H: 1, W: 2, Classes: 1,
		// channel 0: 0, 255; channel 1: 51, 51; channel 2: 0, 0 (constant)
		Pixels: []uint8{0, 51, 0, 255, 51, 0, 0, 51, 0, 255, 51, 0},
		Labels: []int32{0, 0},
	}
	n := s.Norm()
	want := Norm{Mean: []float64{0.5, 0.2, 0}, Std: []float64{0.5, 1, 1}}
	for c := range 3 {
		if math.Abs(n.Mean[c]-want.Mean[c]) > 1e-12 || math.Abs(n.Std[c]-want.Std[c]) > 1e-12 {
			t.Errorf("channel %d: mean %v std %v, want %v %v", c, n.Mean[c], n.Std[c], want.Mean[c], want.Std[c])
		}
	}
}
