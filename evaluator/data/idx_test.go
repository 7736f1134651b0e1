package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// encodeIDX returns an IDX file of unsigned bytes with the given sizes and data.
func encodeIDX(dims []int, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// patternSet returns n images of h×w×c whose pixel values encode their image, row, column and
// channel, with labels i mod classes, so that any misplaced byte shows.
func patternSet(n, c, h, w, classes int) *Set {
	s := &Set{Name: "pattern", C: c, H: h, W: w, Classes: classes}
	for i := range n {
		for y := range h {
			for x := range w {
				for ch := range c {
					s.Pixels = append(s.Pixels, uint8(i*31+y*7+x*3+ch*101))
				}
			}
		}
		s.Labels = append(s.Labels, int32(i%classes))
	}
	return s
}

// writeMNISTLike writes s as the IDX pair prefix-images-idx3-ubyte and prefix-labels-idx1-ubyte
// in dir, gzip-compressed when gz, with suffix appended to both names.
func writeMNISTLike(t testing.TB, dir, prefix string, s *Set, gz bool, suffix string) {
	t.Helper()
	images := encodeIDX([]int{s.Len(), s.H, s.W}, s.Pixels)
	labels := make([]byte, s.Len())
	for i, l := range s.Labels {
		labels[i] = byte(l)
	}
	lab := encodeIDX([]int{s.Len()}, labels)
	if gz {
		images, lab = gzipBytes(t, images), gzipBytes(t, lab)
	}
	writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"+suffix), images)
	writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte"+suffix), lab)
}

func TestLoadIDXReadsGzipAndRawAlike(t *testing.T) {
	want := patternSet(7, 1, 5, 4, 3)
	for _, tc := range []struct {
		name   string
		gz     bool
		suffix string
	}{
		{"raw", false, ""},
		{"gzip named .gz", true, ".gz"},
		{"gzip without .gz", true, ""},
		{"raw named .gz", false, ".gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeMNISTLike(t, dir, "train", want, tc.gz, tc.suffix)
			got, err := LoadIDX("x", filepath.Join(dir, "train-images-idx3-ubyte"+tc.suffix),
				filepath.Join(dir, "train-labels-idx1-ubyte"+tc.suffix), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.C != 1 || got.H != 5 || got.W != 4 || got.Classes != 3 {
				t.Errorf("shape C=%d H=%d W=%d classes=%d, want 1, 5, 4, 3", got.C, got.H, got.W, got.Classes)
			}
			if !bytes.Equal(got.Pixels, want.Pixels) || !slices.Equal(got.Labels, want.Labels) {
				t.Error("pixels or labels differ from what was written")
			}
		})
	}
}

func TestLoadIDXReadsChannelsFromAFourthDimension(t *testing.T) {
	want := patternSet(3, 2, 4, 5, 2)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "i"), encodeIDX([]int{3, 4, 5, 2}, want.Pixels))
	writeFile(t, filepath.Join(dir, "l"), encodeIDX([]int{3}, []byte{0, 1, 0}))
	got, err := LoadIDX("x", filepath.Join(dir, "i"), filepath.Join(dir, "l"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.C != 2 || got.H != 4 || got.W != 5 || !bytes.Equal(got.Pixels, want.Pixels) {
		t.Errorf("got C=%d H=%d W=%d, want 2, 4, 5 and the written pixels", got.C, got.H, got.W)
	}
}

func TestLoadIDXRejectsBadFiles(t *testing.T) {
	pixels := patternSet(4, 1, 3, 3, 2).Pixels
	good := encodeIDX([]int{4, 3, 3}, pixels)
	labels := encodeIDX([]int{4}, []byte{0, 1, 0, 1})
	badCRC := gzipBytes(t, good)
	badCRC[len(badCRC)-6] ^= 0xff // inside the CRC-32 trailer
	for _, tc := range []struct {
		name           string
		images, labels []byte
		classes        int
		want           string
	}{
		{"empty file", nil, labels, 0, "truncated IDX header"},
		{"truncated pixels", good[:len(good)-1], labels, 0, "truncated"},
		{"truncated gzip", gzipBytes(t, good)[:40], labels, 0, "unexpected EOF"},
		{"bad gzip checksum", badCRC, labels, 0, "checksum"},
		{"trailing bytes", append(slices.Clone(good), 9), labels, 0, "more data follows"},
		{"not IDX", []byte("P5\n3 3\n255\n"), labels, 0, "not an IDX file"},
		{"int32 elements", append([]byte{0, 0, 0x0c, 1, 0, 0, 0, 1}, 1, 2, 3, 4), labels, 0, "only 0x08"},
		{"two-dimensional images", encodeIDX([]int{4, 9}, pixels), labels, 0, "want 3"},
		{"huge sizes", encodeIDX([]int{1 << 30, 1 << 30, 1 << 30}, nil), labels, 0, "more than"},
		{"fewer labels", good, encodeIDX([]int{3}, []byte{0, 1, 0}), 0, "has 3 labels but"},
		{"label out of range", good, encodeIDX([]int{4}, []byte{0, 1, 7, 1}), 2, "label 7 of image 2"},
		{"zero-sized images", encodeIDX([]int{4, 0, 3}, nil), labels, 0, "zero or negative side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "img"), tc.images)
			writeFile(t, filepath.Join(dir, "lab"), tc.labels)
			_, err := LoadIDX("x", filepath.Join(dir, "img"), filepath.Join(dir, "lab"), tc.classes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// FuzzDecodeIDX checks that no input, compressed or not, makes the IDX reader panic, and that
// what it accepts agrees with its header.
func FuzzDecodeIDX(f *testing.F) {
	f.Add(encodeIDX([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(encodeIDX([]int{3}, []byte{0, 1, 2}))
	f.Add(gzipBytes(f, encodeIDX([]int{1, 1}, []byte{42})))
	f.Add([]byte{0, 0, 8, 3, 255, 255, 255, 255})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := maybeGunzip(bytes.NewReader(b))
		if err != nil {
			return
		}
		dims, data, err := decodeIDX(r)
		if err != nil {
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if len(data) != n {
			t.Fatalf("dims %v but %d bytes of data", dims, len(data))
		}
	})
}
