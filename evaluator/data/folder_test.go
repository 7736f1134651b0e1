package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// grayImage returns a w×h gray image whose pixel (x, y) is base+x+w*y.
func grayImage(w, h int, base uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = base + uint8(i)
	}
	return img
}

func TestLoadFolderFlatGrayscale(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "b-ring", "1.png"), encodePNG(t, grayImage(3, 2, 100)))
	writeFile(t, filepath.Join(root, "a-cat", "x.PNG"), encodePNG(t, grayImage(3, 2, 10)))
	writeFile(t, filepath.Join(root, "a-cat", "notes.txt"), []byte("not an image"))
	ds, err := LoadFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Train
	if s.C != 1 || s.H != 2 || s.W != 3 || s.Classes != 2 || !slices.Equal(s.ClassNames, []string{"a-cat", "b-ring"}) {
		t.Fatalf("got C=%d H=%d W=%d classes %q, want 1, 2, 3, [a-cat b-ring]", s.C, s.H, s.W, s.ClassNames)
	}
	want := append(grayImage(3, 2, 10).Pix, grayImage(3, 2, 100).Pix...)
	if !bytes.Equal(s.Pixels, want) || !slices.Equal(s.Labels, []int32{0, 1}) {
		t.Errorf("pixels %v labels %v, want %v [0 1]", s.Pixels, s.Labels, want)
	}
	if ds.Test.Len() != 0 || ds.Test.C != 1 || ds.Test.Classes != 2 {
		t.Errorf("test set has %d images, C=%d, %d classes; want an empty set of the same shape", ds.Test.Len(), ds.Test.C, ds.Test.Classes)
	}
}

func TestLoadFolderTrainAndTestInColour(t *testing.T) {
	root := t.TempDir()
	red := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(red.Pix); i += 4 {
		copy(red.Pix[i:], []uint8{200, 20, 10, 255})
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, red, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "train", "red", "a.png"), encodePNG(t, red))
	writeFile(t, filepath.Join(root, "train", "red", "b.jpg"), jpg.Bytes())
	writeFile(t, filepath.Join(root, "train", "zero", "c.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8))))
	writeFile(t, filepath.Join(root, "test", "zero", "d.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8))))
	ds, err := LoadFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.C != 3 || ds.Train.Len() != 3 || !slices.Equal(ds.Train.Labels, []int32{0, 0, 1}) {
		t.Fatalf("train C=%d len=%d labels %v, want 3, 3, [0 0 1]", ds.Train.C, ds.Train.Len(), ds.Train.Labels)
	}
	for i := range 2 { // the PNG exactly, the JPEG within its loss
		p := ds.Train.Image(i)[3*27:][:3]
		if absDiff(p[0], 200) > 4 || absDiff(p[1], 20) > 4 || absDiff(p[2], 10) > 4 {
			t.Errorf("image %d pixel (3,3) = %v, want about [200 20 10]", i, p)
		}
	}
	// The gray test image is widened to the training set's three channels.
	if ds.Test.C != 3 || ds.Test.Len() != 1 || ds.Test.Labels[0] != 1 || len(ds.Test.Pixels) != 8*8*3 {
		t.Errorf("test C=%d len=%d labels %v, want 3, 1, [1]", ds.Test.C, ds.Test.Len(), ds.Test.Labels)
	}
}

func absDiff(a, b uint8) int {
	return max(int(a)-int(b), int(b)-int(a))
}

func TestLoadFolderRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"an empty folder", map[string][]byte{}, "no class subfolders"},
		{"classes without images", map[string][]byte{"a/readme.md": []byte("hi"), "b/readme.md": []byte("hi")}, "a holds no PNG or JPEG images"},
		{"one class", map[string][]byte{"a/1.png": encodePNG(t, grayImage(4, 4, 0))}, "has one class subfolder (a); a classifier needs at least two"},
		{"an empty class folder", map[string][]byte{"a/1.png": encodePNG(t, grayImage(4, 4, 0)), "b/readme.md": []byte("hi")}, "b holds no PNG or JPEG images"},
		{"an empty test class folder", map[string][]byte{
			"train/a/1.png": encodePNG(t, grayImage(2, 2, 0)),
			"train/b/1.png": encodePNG(t, grayImage(2, 2, 0)),
			"test/a/1.png":  encodePNG(t, grayImage(2, 2, 0)),
			"test/b/x.txt":  []byte("hi"),
		}, "test/b holds no PNG or JPEG images"},
		{"images of two sizes", map[string][]byte{
			"a/1.png": encodePNG(t, grayImage(4, 4, 0)),
			"a/2.png": encodePNG(t, grayImage(4, 5, 0)),
			"b/1.png": encodePNG(t, grayImage(4, 4, 0)),
		}, "2.png is 4x5 but the images before it are 4x4"},
		{"a corrupt image", map[string][]byte{"a/1.png": []byte("\x89PNG\r\n\x1a\nbroken"), "b/1.png": encodePNG(t, grayImage(4, 4, 0))}, "1.png: unexpected EOF"},
		{"an image whose header announces 100000x100000 pixels", map[string][]byte{"a/1.png": hugePNGHeader(t), "b/1.png": encodePNG(t, grayImage(4, 4, 0))}, "1.png is 100000x100000; an image may have at most 16777216 pixels"},
		{"a file that is no image", map[string][]byte{"a/1.jpg": []byte("hello"), "b/1.png": encodePNG(t, grayImage(4, 4, 0))}, "1.jpg: not a PNG or JPEG image"},
		{"a test class unknown to training", map[string][]byte{
			"train/a/1.png": encodePNG(t, grayImage(2, 2, 0)),
			"train/b/1.png": encodePNG(t, grayImage(2, 2, 0)),
			"test/c/1.png":  encodePNG(t, grayImage(2, 2, 0)),
		}, `class "c" is not among the training classes [a b]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, b := range tc.files {
				writeFile(t, filepath.Join(root, name), b)
			}
			_, err := LoadFolder(root)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// hugePNGHeader returns the signature and IHDR chunk of a 100000×100000 gray PNG, and no data.
func hugePNGHeader(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, grayImage(1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	h := b.Bytes()[:8+8+13+4]
	binary.BigEndian.PutUint32(h[16:], 100000)
	binary.BigEndian.PutUint32(h[20:], 100000)
	binary.BigEndian.PutUint32(h[29:], crc32.ChecksumIEEE(h[12:29]))
	return h
}
