package data

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// augmentOnce runs writeImage on image 0 of s with the stream seeded by seed.
func augmentOnce(s *Set, lut []float32, a Augment, seed uint64) []float32 {
	dst := make([]float32, s.ImageSize())
	writeImage(dst, s.Image(0), s.H, s.W, s.C, lut, a, rand.New(rand.NewPCG(seed, 0)))
	return dst
}

// shifted returns image 0 of s normalised through lut, moved by (oy, ox) and optionally
// mirrored, with black where the shift leaves no pixel: the reference for crop and flip.
func shifted(s *Set, lut []float32, oy, ox int, flip bool) []float32 {
	out := make([]float32, 0, s.ImageSize())
	img := s.Image(0)
	for y := range s.H {
		for x := range s.W {
			sx := x
			if flip {
				sx = s.W - 1 - x
			}
			sy, sx := y+oy, sx+ox
			for c := range s.C {
				p := uint8(0)
				if sy >= 0 && sy < s.H && sx >= 0 && sx < s.W {
					p = img[(sy*s.W+sx)*s.C+c]
				}
				out = append(out, lut[c*256+int(p)])
			}
		}
	}
	return out
}

func testLUT(s *Set) []float32 {
	return Norm{Mean: []float64{0.3, 0.5}, Std: []float64{0.2, 0.4}}.lut(s.C)
}

func TestNoAugmentIsPlainNormalisation(t *testing.T) {
	s := patternSet(1, 2, 5, 6, 1)
	lut := testLUT(s)
	got := augmentOnce(s, lut, Augment{}, 1)
	for i, p := range s.Pixels {
		c := i % 2
		want := float32((float64(p)/255 - []float64{0.3, 0.5}[c]) / []float64{0.2, 0.4}[c])
		if got[i] != want {
			t.Fatalf("value %d = %v, want %v", i, got[i], want)
		}
	}
}

func TestCropShiftsWithinThePadding(t *testing.T) {
	s := patternSet(1, 2, 6, 7, 1)
	lut := testLUT(s)
	const pad = 2
	seen := map[[2]int]bool{}
	for seed := range uint64(200) {
		got := augmentOnce(s, lut, Augment{Pad: pad}, seed)
		found := false
		for oy := -pad; oy <= pad && !found; oy++ {
			for ox := -pad; ox <= pad && !found; ox++ {
				if slices.Equal(got, shifted(s, lut, oy, ox, false)) {
					seen[[2]int{oy, ox}], found = true, true
				}
			}
		}
		if !found {
			t.Fatalf("seed %d: the crop is no shift of the image by at most %d pixels", seed, pad)
		}
	}
	if len(seen) != (2*pad+1)*(2*pad+1) {
		t.Errorf("200 crops used %d of the %d offsets", len(seen), (2*pad+1)*(2*pad+1))
	}
}

func TestFlipMirrorsHalfTheTime(t *testing.T) {
	s := patternSet(1, 2, 4, 5, 1)
	lut := testLUT(s)
	plain, mirror := shifted(s, lut, 0, 0, false), shifted(s, lut, 0, 0, true)
	flips := 0
	for seed := range uint64(400) {
		switch got := augmentOnce(s, lut, Augment{Flip: true}, seed); {
		case slices.Equal(got, mirror):
			flips++
		case !slices.Equal(got, plain):
			t.Fatalf("seed %d: neither the image nor its mirror", seed)
		}
	}
	if flips < 160 || flips > 240 {
		t.Errorf("%d of 400 images flipped, want about 200", flips)
	}
}

func TestEraseReplacesOneRectangle(t *testing.T) {
	s := &Set{Name: "flat", C: 2, H: 32, W: 32, Classes: 1, Pixels: make([]uint8, 32*32*2), Labels: []int32{0}}
	lut := testLUT(s)
	plain := augmentOnce(s, lut, Augment{}, 0)
	for seed := range uint64(100) {
		got := augmentOnce(s, lut, Augment{Erase: 1}, seed)
		y0, x0, y1, x1, changed := 32, 32, -1, -1, 0
		for i := range got {
			if got[i] == plain[i] {
				continue
			}
			changed++
			y, x := i/2/32, i/2%32
			y0, x0, y1, x1 = min(y0, y), min(x0, x), max(y1, y), max(x1, x)
			if c := i % 2; got[i] < lut[c*256] || got[i] > lut[c*256+255] {
				t.Fatalf("seed %d: erased value %v is no pixel value of channel %d", seed, got[i], c)
			}
		}
		area := (y1 - y0 + 1) * (x1 - x0 + 1)
		// Random values equal to the original pixel (0) leave a few pixels unchanged.
		if changed < area*2*9/10 {
			t.Fatalf("seed %d: %d values changed in a %d-pixel box: not one filled rectangle", seed, changed, area)
		}
		if area < 15 || area > 450 { // 2% and 40% of 1024 pixels, with rounding of the sides
			t.Errorf("seed %d: erased %d pixels, want 2%% to 40%% of 1024", seed, area)
		}
	}
}

func TestEraseProbability(t *testing.T) {
	s := patternSet(1, 1, 16, 16, 1)
	lut := Norm{}.lut(1)
	plain := augmentOnce(s, lut, Augment{}, 0)
	erased := 0
	for seed := range uint64(400) {
		if !slices.Equal(augmentOnce(s, lut, Augment{Erase: 0.25}, seed), plain) {
			erased++
		}
	}
	if erased < 70 || erased > 130 {
		t.Errorf("%d of 400 images erased, want about 100", erased)
	}
}

func TestAugmentDependsOnlyOnTheStream(t *testing.T) {
	s := patternSet(1, 3, 8, 8, 1)
	lut := Norm{}.lut(3)
	a := Augment{Pad: 2, Flip: true, Erase: 0.5}
	differs := false
	for seed := range uint64(20) {
		x, y := augmentOnce(s, lut, a, seed), augmentOnce(s, lut, a, seed)
		if len(x) != s.ImageSize() || !slices.Equal(x, y) {
			t.Fatalf("seed %d: two runs differ or change the image's size", seed)
		}
		differs = differs || !slices.Equal(x, augmentOnce(s, lut, a, seed+1))
	}
	if !differs {
		t.Error("every seed gave the same augmentation")
	}
}
