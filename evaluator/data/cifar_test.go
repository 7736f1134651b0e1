package data

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// encodeCIFAR returns s (32×32×3) as CIFAR binary records: labelBytes bytes, the last of which is
// the label (the one before it, CIFAR-100's coarse label, is 99-label), then the planar image.
func encodeCIFAR(s *Set, labelBytes int) []byte {
	var b []byte
	for i := range s.Len() {
		if labelBytes == 2 {
			b = append(b, byte(99-s.Labels[i]))
		}
		b = append(b, byte(s.Labels[i]))
		img := s.Image(i)
		for ch := range 3 {
			for p := range 32 * 32 {
				b = append(b, img[3*p+ch])
			}
		}
	}
	return b
}

func TestLoadCIFAR10ReadsBatchesInOrderAsHWC(t *testing.T) {
	all := patternSet(13, 3, 32, 32, 10)
	dir := t.TempDir()
	// Two images per training batch, three in the test batch.
	for k, file := range cifar10Format.train {
		idx := []int{2 * k, 2*k + 1}
		writeFile(t, filepath.Join(dir, file), encodeCIFAR(all.subset("", idx), 1))
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), encodeCIFAR(all.subset("", []int{10, 11, 12}), 1))
	names := "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte(names))

	ds, err := LoadCIFAR("cifar10", dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	train := all.subset("", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	test := all.subset("", []int{10, 11, 12})
	for _, c := range []struct{ got, want *Set }{{ds.Train, train}, {ds.Test, test}} {
		if c.got.C != 3 || c.got.H != 32 || c.got.W != 32 || c.got.Classes != 10 {
			t.Errorf("%s: shape %dx%dx%d, %d classes; want 32x32x3, 10", c.got.Name, c.got.H, c.got.W, c.got.C, c.got.Classes)
		}
		if !bytes.Equal(c.got.Pixels, c.want.Pixels) || !slices.Equal(c.got.Labels, c.want.Labels) {
			t.Errorf("%s: pixels or labels differ from what was written", c.got.Name)
		}
	}
	if len(ds.Train.ClassNames) != 10 || ds.Train.ClassNames[9] != "truck" {
		t.Errorf("class names %q, want the ten of batches.meta.txt", ds.Train.ClassNames)
	}
}

func TestLoadCIFAR100UsesFineLabels(t *testing.T) {
	s := patternSet(5, 3, 32, 32, 100)
	s.Labels = []int32{0, 57, 99, 3, 42}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train.bin"), encodeCIFAR(s, 2))
	writeFile(t, filepath.Join(dir, "test.bin"), encodeCIFAR(s.subset("", []int{4}), 2))
	ds, err := LoadCIFAR("cifar100", dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Train.Labels, s.Labels) || !bytes.Equal(ds.Train.Pixels, s.Pixels) {
		t.Errorf("labels %v, want the fine labels %v and the written pixels", ds.Train.Labels, s.Labels)
	}
	if ds.Train.Classes != 100 || ds.Test.Len() != 1 || ds.Test.Labels[0] != 42 {
		t.Errorf("classes %d, test labels %v; want 100, [42]", ds.Train.Classes, ds.Test.Labels)
	}
}

func TestLoadCIFARRejectsBadFiles(t *testing.T) {
	rec := encodeCIFAR(patternSet(2, 3, 32, 32, 10), 1)
	for _, tc := range []struct {
		name string
		test []byte
		want string
	}{
		{"truncated record", rec[:len(rec)-5], "truncated: record 1 has 3068 of its 3073 bytes"},
		{"label out of range", append([]byte{10}, rec[1:]...), "label 10 is outside [0, 10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, file := range cifar10Format.train {
				writeFile(t, filepath.Join(dir, file), rec)
			}
			writeFile(t, filepath.Join(dir, "test_batch.bin"), tc.test)
			_, err := LoadCIFAR("cifar10", dir, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "test_batch.bin") {
				t.Fatalf("error %v, want one naming test_batch.bin and containing %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeCIFAR checks that no input makes the CIFAR reader panic and that what it accepts is
// whole records with labels in range.
func FuzzDecodeCIFAR(f *testing.F) {
	f.Add(encodeCIFAR(patternSet(1, 3, 32, 32, 10), 1), false)
	f.Add(encodeCIFAR(patternSet(2, 3, 32, 32, 100), 2), true)
	f.Add([]byte{200, 1, 2}, false)
	f.Fuzz(func(t *testing.T, b []byte, hundred bool) {
		format := cifar10Format
		if hundred {
			format = cifar100Format
		}
		s := &Set{Name: "fuzz", C: 3, H: 32, W: 32, Classes: format.classes}
		if err := decodeCIFAR(bytes.NewReader(b), format, s); err != nil {
			return
		}
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		if len(b) != s.Len()*(format.labelBytes+cifarImage) {
			t.Fatalf("%d bytes accepted as %d records", len(b), s.Len())
		}
	})
}
