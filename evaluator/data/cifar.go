package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR images are 32×32 RGB, stored planar (all red, then green, then blue) after the label
// bytes of each record.
const (
	cifarSide  = 32
	cifarImage = 3 * cifarSide * cifarSide
)

// cifarFormat describes one of the two binary layouts.
type cifarFormat struct {
	labelBytes int // bytes before the image; the label used is the last of them
	classes    int // 10, or 100 fine classes
	train      []string
	test       string
	names      string // file with one class name a line, read when present
}

var (
	cifar10Format = cifarFormat{
		labelBytes: 1, classes: 10,
		train: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:  "test_batch.bin", names: "batches.meta.txt",
	}
	// CIFAR-100 records start with the coarse label, then the fine label; the fine one is used.
	cifar100Format = cifarFormat{
		labelBytes: 2, classes: 100,
		train: []string{"train.bin"}, test: "test.bin", names: "fine_label_names.txt",
	}
)

// decodeCIFAR appends the records of one CIFAR binary file to s, converting the planar images to
// HWC.
func decodeCIFAR(r io.Reader, f cifarFormat, s *Set) error {
	rec := make([]byte, f.labelBytes+cifarImage)
	for n := 0; ; n++ {
		k, err := io.ReadFull(r, rec)
		if err == io.EOF {
			return nil
		}
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("truncated: record %d has %d of its %d bytes", n, k, len(rec))
		}
		if err != nil {
			return err
		}
		label := rec[f.labelBytes-1]
		if int(label) >= f.classes {
			return fmt.Errorf("record %d: label %d is outside [0, %d)", n, label, f.classes)
		}
		s.Labels = append(s.Labels, int32(label))
		img := rec[f.labelBytes:]
		for p := range cifarSide * cifarSide {
			s.Pixels = append(s.Pixels, img[p], img[p+cifarSide*cifarSide], img[p+2*cifarSide*cifarSide])
		}
	}
}

// loadCIFARSet reads the given files of dir into one Set.
func loadCIFARSet(name, dir string, f cifarFormat, files []string) (*Set, error) {
	s := &Set{Name: name, C: 3, H: cifarSide, W: cifarSide, Classes: f.classes}
	for _, file := range files {
		path := filepath.Join(dir, file)
		rc, err := openMaybeGzip(path)
		if err != nil {
			return nil, err
		}
		err = decodeCIFAR(rc, f, s)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, f.names)); err == nil {
		if names := strings.Fields(string(b)); len(names) == f.classes {
			s.ClassNames = names
		}
	}
	return s, nil
}

// LoadCIFAR reads the binary version of CIFAR-10 (classes 10: data_batch_1.bin to
// data_batch_5.bin and test_batch.bin) or CIFAR-100 (classes 100: train.bin and test.bin, fine
// labels) from dir. Class names come from batches.meta.txt or fine_label_names.txt when present.
// LoadCIFAR panics unless classes is 10 or 100.
func LoadCIFAR(name, dir string, classes int) (*Dataset, error) {
	var f cifarFormat
	switch classes {
	case 10:
		f = cifar10Format
	case 100:
		f = cifar100Format
	default:
		panic(fmt.Sprintf("data: CIFAR has 10 or 100 classes, not %d", classes))
	}
	train, err := loadCIFARSet(name+"/train", dir, f, f.train)
	if err != nil {
		return nil, err
	}
	test, err := loadCIFARSet(name+"/test", dir, f, []string{f.test})
	if err != nil {
		return nil, err
	}
	return &Dataset{Name: name, Train: train, Test: test}, nil
}
