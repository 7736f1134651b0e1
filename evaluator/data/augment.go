package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augment says how a Loader varies each training image, drawn anew every epoch. The zero Augment
// changes nothing, which is what validation and test loaders use.
type Augment struct {
	// Pad > 0 turns on random cropping: the image is padded with Pad black (0) pixels on every
	// side and an H×W window at a uniformly random offset is kept, as in He et al. 2016.
	Pad int
	// Flip mirrors the image left to right with probability 1/2.
	Flip bool
	// Erase is the probability of random erasing (Zhong et al. 2020): a rectangle covering 2% to
	// 40% of the image, with aspect ratio between 0.3 and 1/0.3, gets random pixel values in
	// [0, 255]. Up to 10 rectangles are drawn until one fits; if none does the image is kept.
	Erase float64
}

// Random erasing's constants from Zhong et al.: area fraction in [sl, sh], aspect in [r1, 1/r1].
const (
	eraseMinArea  = 0.02
	eraseMaxArea  = 0.4
	eraseMinRatio = 0.3
	eraseAttempts = 10
)

// check panics when a holds values no caller should pass; recipes are validated before this.
func (a Augment) check() {
	if a.Pad < 0 || !(a.Erase >= 0 && a.Erase <= 1) {
		panic(fmt.Sprintf("data: invalid Augment %+v: Pad must be >= 0 and Erase in [0, 1]", a))
	}
}

// lut returns, for each channel c and pixel value p, the normalised value at lut[c*256+p].
func (n Norm) lut(channels int) []float32 {
	if n.Mean != nil && (len(n.Mean) != channels || len(n.Std) != channels) {
		panic(fmt.Sprintf("data: Norm has %d means and %d deviations for %d channels", len(n.Mean), len(n.Std), channels))
	}
	t := make([]float32, 256*channels)
	for c := range channels {
		mean, std := 0.0, 1.0
		if n.Mean != nil {
			mean, std = n.Mean[c], n.Std[c]
		}
		for p := range 256 {
			t[c*256+p] = float32((float64(p)/255 - mean) / std)
		}
	}
	return t
}

// writeImage writes img (h×w×c bytes) into dst normalised through lut and varied by a, drawing
// its random numbers from rng in a fixed order (crop, flip, erase) so that the result depends
// only on rng's seed.
func writeImage(dst []float32, img []uint8, h, w, c int, lut []float32, a Augment, rng *rand.Rand) {
	oy, ox := 0, 0
	if a.Pad > 0 {
		oy, ox = rng.IntN(2*a.Pad+1)-a.Pad, rng.IntN(2*a.Pad+1)-a.Pad
	}
	flip := a.Flip && rng.Uint64()&1 == 1
	for y := range h {
		sy := y + oy
		for x := range w {
			sx := x + ox
			if flip {
				sx = w - 1 - x + ox
			}
			d := dst[(y*w+x)*c : (y*w+x+1)*c]
			if sy < 0 || sy >= h || sx < 0 || sx >= w {
				for ch := range d {
					d[ch] = lut[ch*256]
				}
				continue
			}
			s := img[(sy*w+sx)*c:]
			for ch := range d {
				d[ch] = lut[ch*256+int(s[ch])]
			}
		}
	}
	if a.Erase > 0 && rng.Float64() < a.Erase {
		erase(dst, h, w, c, lut, rng)
	}
}

// erase draws rectangles as Zhong et al. do until one fits in h×w and fills it with random pixel
// values.
func erase(dst []float32, h, w, c int, lut []float32, rng *rand.Rand) {
	area := float64(h * w)
	for range eraseAttempts {
		target := area * (eraseMinArea + (eraseMaxArea-eraseMinArea)*rng.Float64())
		ratio := eraseMinRatio + (1/eraseMinRatio-eraseMinRatio)*rng.Float64()
		eh := int(math.Round(math.Sqrt(target * ratio)))
		ew := int(math.Round(math.Sqrt(target / ratio)))
		if eh < 1 || ew < 1 || eh > h || ew > w {
			continue
		}
		y0, x0 := rng.IntN(h-eh+1), rng.IntN(w-ew+1)
		for y := y0; y < y0+eh; y++ {
			d := dst[(y*w+x0)*c : (y*w+x0+ew)*c]
			for i := range d {
				d[i] = lut[(i%c)*256+rng.IntN(256)]
			}
		}
		return
	}
}
