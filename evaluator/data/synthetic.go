package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The shape of the set that Open("synthetic") returns: MNIST's, so that configs written for MNIST
// run on it unchanged.
const (
	SyntheticTrain   = 6000
	SyntheticTest    = 1000
	SyntheticSide    = 28
	SyntheticClasses = 10
)

// Synthetic returns n images of c×h×w in classes balanced classes (image i has label i mod
// classes) that a small CNN learns quickly. Each class has a template made of a few Gaussian
// blobs per channel, fixed by seed; an image is its class's template shifted by up to h/8 and w/8
// pixels, scaled in contrast by ±20% and overlaid with Gaussian noise. Image i depends only on
// (seed, i), so Synthetic(n, ...) is the first n images of Synthetic(m, ...) for any m > n, which
// lets a training and a test set share templates. Synthetic panics unless every argument is
// positive.
func Synthetic(n, c, h, w, classes int, seed uint64) *Set {
	if n <= 0 || c <= 0 || h <= 0 || w <= 0 || classes <= 0 {
		panic(fmt.Sprintf("data: Synthetic(n=%d, c=%d, h=%d, w=%d, classes=%d) needs positive arguments", n, c, h, w, classes))
	}
	templates := syntheticTemplates(c, h, w, classes, seed)
	s := &Set{
		Name: "synthetic", C: c, H: h, W: w, Classes: classes,
		Pixels: make([]uint8, n*h*w*c), Labels: make([]int32, n),
	}
	dyMax, dxMax := h/8, w/8
	var pcg rand.PCG
	rng := rand.New(&pcg)
	for i := range n {
		pcg.Seed(seed, uint64(i))
		label := i % classes
		s.Labels[i] = int32(label)
		t := templates[label*h*w*c:]
		dy, dx := rng.IntN(2*dyMax+1)-dyMax, rng.IntN(2*dxMax+1)-dxMax
		contrast := 0.8 + 0.4*rng.Float64()
		img := s.Image(i)
		for y := range h {
			for x := range w {
				sy, sx := y-dy, x-dx
				for ch := range c {
					v := 0.0
					if sy >= 0 && sy < h && sx >= 0 && sx < w {
						v = t[(sy*w+sx)*c+ch]
					}
					v = 255 * (contrast*v + 0.1*rng.NormFloat64())
					img[(y*w+x)*c+ch] = uint8(math.Round(min(max(v, 0), 255)))
				}
			}
		}
	}
	return s
}

// syntheticTemplates returns classes templates of h×w×c values in [0, 1], each channel the
// maximum of three Gaussian blobs at random places with random widths.
func syntheticTemplates(c, h, w, classes int, seed uint64) []float64 {
	const blobs = 3
	rng := rand.New(rand.NewPCG(seed, math.MaxUint64))
	t := make([]float64, classes*h*w*c)
	for k := range classes {
		for ch := range c {
			for range blobs {
				cy, cx := rng.Float64()*float64(h), rng.Float64()*float64(w)
				sigma := (0.08 + 0.12*rng.Float64()) * float64(min(h, w))
				for y := range h {
					for x := range w {
						d2 := (float64(y)-cy)*(float64(y)-cy) + (float64(x)-cx)*(float64(x)-cx)
						i := ((k*h+y)*w+x)*c + ch
						t[i] = max(t[i], math.Exp(-d2/(2*sigma*sigma)))
					}
				}
			}
		}
	}
	return t
}
