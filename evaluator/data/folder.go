package data

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the file extensions LoadFolder reads; other files (READMEs, .DS_Store) are ignored.
var imageExts = []string{".png", ".jpg", ".jpeg"}

// LoadFolder reads a data set laid out as one subfolder per class holding PNG or JPEG images:
// either root/train/<class>/ and root/test/<class>/, or root/<class>/ alone, which becomes the
// training set and leaves the test set empty. Classes are the subfolder names of the training
// part in sorted order; a test class must be one of them. Every image must have the same size.
// The images have one channel when all are grayscale and three (RGB, alpha composited over black)
// otherwise.
func LoadFolder(root string) (*Dataset, error) {
	name := "folder:" + root
	trainDir, testDir := filepath.Join(root, "train"), filepath.Join(root, "test")
	if fi, err := os.Stat(trainDir); err != nil || !fi.IsDir() {
		trainDir, testDir = root, ""
	}
	classes, err := classFolders(trainDir)
	if err != nil {
		return nil, err
	}
	if len(classes) < 2 {
		return nil, fmt.Errorf("%s has one class subfolder (%s); a classifier needs at least two, one folder of PNG/JPEG images per class", trainDir, classes[0])
	}
	train, err := loadFolderSet(name+"/train", trainDir, classes)
	if err != nil {
		return nil, err
	}
	test := &Set{Name: name + "/test", C: train.C, H: train.H, W: train.W, Classes: train.Classes, ClassNames: classes}
	if testDir != "" {
		if test, err = loadFolderSet(name+"/test", testDir, classes); err != nil {
			return nil, err
		}
		if test.H != train.H || test.W != train.W {
			return nil, fmt.Errorf("%s: test images are %dx%d but training images are %dx%d", root, test.W, test.H, train.W, train.H)
		}
		// A grayscale test set of an RGB training set is still usable: widen it.
		if test.C != train.C {
			if test.C == 1 {
				test.Pixels = grayToRGB(test.Pixels)
				test.C = 3
			} else {
				train.Pixels = grayToRGB(train.Pixels)
				train.C = 3
			}
		}
	}
	return &Dataset{Name: name, Train: train, Test: test}, nil
}

// classFolders returns the sorted names of the subfolders of dir.
func classFolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no class subfolders; want one folder of PNG/JPEG images per class", dir)
	}
	return names, nil // ReadDir sorts by name
}

// loadFolderSet reads dir/<class>/* for the class subfolders present in dir, which must all be
// among classes; label i is classes[i].
func loadFolderSet(name, dir string, classes []string) (*Set, error) {
	present, err := classFolders(dir)
	if err != nil {
		return nil, err
	}
	s := &Set{Name: name, Classes: len(classes), ClassNames: classes}
	var gray []bool // per image, whether it was stored as grayscale
	for _, class := range present {
		label := slices.Index(classes, class)
		if label < 0 {
			return nil, fmt.Errorf("%s: class %q is not among the training classes %v", dir, class, classes)
		}
		before := s.Len()
		err := filepath.WalkDir(filepath.Join(dir, class), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(path))) {
				return err
			}
			img, err := decodeImage(path)
			if err != nil {
				return err
			}
			b := img.Bounds()
			if s.Len() == 0 {
				s.H, s.W = b.Dy(), b.Dx()
			} else if b.Dy() != s.H || b.Dx() != s.W {
				return fmt.Errorf("%s is %dx%d but the images before it are %dx%d; all images must have one size", path, b.Dx(), b.Dy(), s.W, s.H)
			}
			// Keep RGB for every image until the end, then drop to one channel if all were gray.
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r, g, bl, _ := img.At(x, y).RGBA()
					s.Pixels = append(s.Pixels, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
				}
			}
			s.Labels = append(s.Labels, int32(label))
			gray = append(gray, img.ColorModel() == color.GrayModel || img.ColorModel() == color.Gray16Model)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if s.Len() == before {
			return nil, fmt.Errorf("class folder %s holds no PNG or JPEG images; remove it or add its images", filepath.Join(dir, class))
		}
	}
	if s.Len() == 0 {
		return nil, fmt.Errorf("%s: no PNG or JPEG images in its class subfolders", dir)
	}
	s.C = 3
	if !slices.Contains(gray, false) {
		s.Pixels = rgbToGray(s.Pixels)
		s.C = 1
	}
	return s, nil
}

// maxImagePixels bounds the size of one image (4096×4096), read from its header before it is
// decoded: a crafted header must not make the decoder allocate gigabytes.
const maxImagePixels = 1 << 24

// decodeImage decodes one PNG or JPEG file.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err == nil && int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("%s is %dx%d; an image may have at most %d pixels", path, cfg.Width, cfg.Height, maxImagePixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("%s: not a PNG or JPEG image", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// rgbToGray keeps the first channel of each RGB pixel; it is used only on images that were gray,
// whose three channels are equal.
func rgbToGray(rgb []uint8) []uint8 {
	g := make([]uint8, len(rgb)/3)
	for i := range g {
		g[i] = rgb[3*i]
	}
	return g
}

// grayToRGB repeats each gray pixel in three channels.
func grayToRGB(gray []uint8) []uint8 {
	rgb := make([]uint8, 0, 3*len(gray))
	for _, v := range gray {
		rgb = append(rgb, v, v, v)
	}
	return rgb
}
