package data

import (
	"bytes"
	"testing"
)

func TestSyntheticIsDeterministicAndExtendable(t *testing.T) {
	a := Synthetic(50, 3, 12, 10, 4, 7)
	b := Synthetic(80, 3, 12, 10, 4, 7)
	if a.Len() != 50 || a.C != 3 || a.H != 12 || a.W != 10 || a.Classes != 4 || len(a.Pixels) != 50*360 {
		t.Fatalf("got %d images of %dx%dx%d in %d classes", a.Len(), a.H, a.W, a.C, a.Classes)
	}
	if err := a.validate(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Pixels, b.Pixels[:len(a.Pixels)]) {
		t.Error("the first 50 of 80 images differ from the 50 generated alone")
	}
	for i, l := range a.Labels {
		if int(l) != i%4 {
			t.Fatalf("image %d has label %d, want %d", i, l, i%4)
		}
	}
	if bytes.Equal(a.Image(0), a.Image(4)) {
		t.Error("two images of class 0 are identical: no noise or shift")
	}
	if bytes.Equal(a.Pixels, Synthetic(50, 3, 12, 10, 4, 8).Pixels) {
		t.Error("seeds 7 and 8 gave the same images")
	}
}

// A nearest-class-mean classifier, far weaker than a CNN, must already separate the classes of
// held-out images; that is what makes the set learnable to >95% in a few epochs.
func TestSyntheticClassesAreSeparable(t *testing.T) {
	for _, shape := range [][3]int{{1, 28, 28}, {3, 16, 16}} {
		c, h, w := shape[0], shape[1], shape[2]
		all := Synthetic(1200, c, h, w, 10, 3)
		size := all.ImageSize()
		means := make([][]float64, 10)
		counts := make([]int, 10)
		for i := range 1000 {
			l := all.Labels[i]
			if means[l] == nil {
				means[l] = make([]float64, size)
			}
			for k, p := range all.Image(i) {
				means[l][k] += float64(p)
			}
			counts[l]++
		}
		for l := range means {
			for k := range means[l] {
				means[l][k] /= float64(counts[l])
			}
		}
		correct := 0
		for i := 1000; i < 1200; i++ {
			best, bestD := -1, 0.0
			for l, m := range means {
				d := 0.0
				for k, p := range all.Image(i) {
					d += (float64(p) - m[k]) * (float64(p) - m[k])
				}
				if best < 0 || d < bestD {
					best, bestD = l, d
				}
			}
			if int32(best) == all.Labels[i] {
				correct++
			}
		}
		if acc := float64(correct) / 200; acc < 0.95 {
			t.Errorf("%dx%dx%d: nearest class mean classifies %.1f%% of held-out images, want > 95%%", h, w, c, 100*acc)
		}
	}
}

func TestSyntheticPanicsOnNonPositiveArguments(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Synthetic with 0 classes did not panic")
		}
	}()
	Synthetic(10, 1, 4, 4, 0, 1)
}
