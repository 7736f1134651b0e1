package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Set is a labelled set of images of one shape. Pixels holds Len() images of H×W×C bytes each,
// row-major with the channel innermost (NHWC), exactly as stored on disk; label i belongs to the
// image at Pixels[i*H*W*C:].
type Set struct {
	Name       string   // which set and split this is, e.g. "fashion-mnist/train"
	C, H, W    int      // channels, height and width of every image
	Classes    int      // labels are in [0, Classes)
	ClassNames []string // one name per class when the source provides them, else nil
	Pixels     []uint8
	Labels     []int32
}

// Dataset is a training set and the test set that goes with it. Test has no images when the
// source has no test split (an image folder without a test/ subfolder).
type Dataset struct {
	Name        string
	Train, Test *Set
}

// Len returns the number of images in s.
func (s *Set) Len() int { return len(s.Labels) }

// ImageSize returns the number of bytes of one image, H*W*C.
func (s *Set) ImageSize() int { return s.H * s.W * s.C }

// Image returns the H×W×C bytes of image i, sharing memory with s.Pixels.
func (s *Set) Image(i int) []uint8 {
	n := s.ImageSize()
	return s.Pixels[i*n : (i+1)*n : (i+1)*n]
}

// validate checks that the slices agree with the shape and every label is in range; readers call
// it on what they decoded, so the error explains a corrupt file rather than a later panic.
func (s *Set) validate() error {
	if s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return fmt.Errorf("%s: image shape %dx%dx%d (HxWxC) has a zero or negative side", s.Name, s.H, s.W, s.C)
	}
	if len(s.Pixels) != len(s.Labels)*s.ImageSize() {
		return fmt.Errorf("%s: %d labels but %d bytes of pixels, want %d (%d images of %dx%dx%d)",
			s.Name, len(s.Labels), len(s.Pixels), len(s.Labels)*s.ImageSize(), len(s.Labels), s.H, s.W, s.C)
	}
	for i, l := range s.Labels {
		if l < 0 || int(l) >= s.Classes {
			return fmt.Errorf("%s: label %d of image %d is outside [0, %d)", s.Name, l, i, s.Classes)
		}
	}
	return nil
}

// DefaultValidation is the share of the training set that a search holds out for validation
// unless a recipe says otherwise.
const DefaultValidation = 0.1

// Split divides s into a training part and a validation part holding round(frac*Len()) images,
// chosen by seed and stratified: every class gives the validation part its share of that class's
// images, to within one image. frac 0 gives an empty validation part. The images are copied, and
// both parts keep the order they had in s. Split panics unless 0 <= frac <= 1.
func (s *Set) Split(frac float64, seed uint64) (train, val *Set) {
	rest, picked := s.pick(frac, seed)
	return s.subset(s.Name+"/train", rest), s.subset(s.Name+"/val", picked)
}

// Subset returns round(frac*Len()) images of s chosen by seed, stratified as in Split; it is the
// training data of a low-fidelity evaluation. Subset panics unless 0 <= frac <= 1.
func (s *Set) Subset(frac float64, seed uint64) *Set {
	_, picked := s.pick(frac, seed)
	return s.subset(fmt.Sprintf("%s/subset%g", s.Name, frac), picked)
}

// pick returns the indices not chosen and the round(frac*Len()) indices chosen, both ascending.
//
// The images are ordered by class and, within a class, at random; taking every image whose
// position j satisfies floor((j+1)k/n) > floor(jk/n) then takes exactly k images, spread evenly
// over the classes (systematic sampling), which is what makes the choice stratified.
func (s *Set) pick(frac float64, seed uint64) (rest, picked []int) {
	if !(frac >= 0 && frac <= 1) {
		panic(fmt.Sprintf("data: fraction %v is outside [0, 1]", frac))
	}
	n := s.Len()
	k := int(math.Round(frac * float64(n)))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed5917))
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	slices.SortStableFunc(order, func(a, b int) int { return int(s.Labels[a] - s.Labels[b]) })
	rest = make([]int, 0, n-k)
	picked = make([]int, 0, k)
	for j, i := range order {
		if (j+1)*k/n > j*k/n {
			picked = append(picked, i)
		} else {
			rest = append(rest, i)
		}
	}
	slices.Sort(rest)
	slices.Sort(picked)
	return rest, picked
}

// subset returns a copy of the images at idx under a new name.
func (s *Set) subset(name string, idx []int) *Set {
	out := &Set{
		Name: name, C: s.C, H: s.H, W: s.W, Classes: s.Classes, ClassNames: s.ClassNames,
		Pixels: make([]uint8, 0, len(idx)*s.ImageSize()),
		Labels: make([]int32, 0, len(idx)),
	}
	for _, i := range idx {
		out.Pixels = append(out.Pixels, s.Image(i)...)
		out.Labels = append(out.Labels, s.Labels[i])
	}
	return out
}

// Norm is a per-channel affine normalisation: a pixel p of channel c becomes
// (p/255 - Mean[c]) / Std[c]. The zero Norm leaves pixels at p/255.
type Norm struct {
	Mean, Std []float64
}

// Norm returns the per-channel mean and population standard deviation of s's pixels scaled to
// [0, 1], accumulated in float64; a channel whose deviation is 0 gets Std 1 so that normalising
// never divides by zero. Compute it on the training split only, so that no validation or test
// image leaks into training.
func (s *Set) Norm() Norm {
	// Counting pixel values first keeps the sums exact and the pass over 47 MB cheap.
	hist := make([][256]int64, s.C)
	for i, p := range s.Pixels {
		hist[i%s.C][p]++
	}
	nm := Norm{Mean: make([]float64, s.C), Std: make([]float64, s.C)}
	for c := range hist {
		var n, sum, sumSq float64
		for v, k := range hist[c] {
			x := float64(v) / 255
			n += float64(k)
			sum += float64(k) * x
			sumSq += float64(k) * x * x
		}
		nm.Std[c] = 1
		if n == 0 {
			continue
		}
		mean := sum / n
		nm.Mean[c] = mean
		if v := sumSq/n - mean*mean; v > 0 {
			nm.Std[c] = math.Sqrt(v)
		}
	}
	return nm
}
