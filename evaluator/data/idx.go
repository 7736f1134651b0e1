package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// maxBytes bounds what one file may claim to hold, so that a corrupt header is reported instead of
// attempting an absurd allocation.
const maxBytes = 1 << 32

// openMaybeGzip opens path and, when its content is gzip-compressed, decompresses it. Closing the
// returned reader closes the file.
func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := maybeGunzip(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return readCloser{r, f}, nil
}

// maybeGunzip returns a reader of r's content, decompressed when it starts with the gzip magic
// number; a file's name is never consulted.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bad gzip header: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// readExactly reads the n bytes that a header announced and checks that nothing follows them, so
// that both a truncated file and one whose header understates its size are errors. what describes
// the expected content for the message.
func readExactly(r io.Reader, n int64, what string) ([]byte, error) {
	if n > maxBytes {
		return nil, fmt.Errorf("header announces %s = %d bytes, more than the %d this reader accepts", what, n, int64(maxBytes))
	}
	// Trust the header only up to 64 MiB before seeing the data, so garbage cannot force a
	// large allocation; past that the buffer doubles as data arrives, never beyond n.
	buf := make([]byte, 0, min(n, 1<<26))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(cap(buf)))))
		}
		m, err := r.Read(buf[len(buf):int(min(int64(cap(buf)), n))])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if got := int64(len(buf)); got < n {
		return nil, fmt.Errorf("truncated: header announces %s = %d bytes, file has %d", what, n, got)
	}
	var one [1]byte
	switch extra, err := io.ReadFull(r, one[:]); {
	case extra > 0:
		return nil, fmt.Errorf("header announces %s = %d bytes, but more data follows", what, n)
	case !errors.Is(err, io.EOF):
		// Reading to the end is also what makes gzip verify its checksum.
		return nil, err
	}
	return buf, nil
}

// decodeIDX reads one IDX file of unsigned bytes (the format of MNIST and its drop-in
// replacements): magic 0x00 0x00 0x08 ndims, ndims big-endian uint32 sizes, then the data. It
// returns the sizes and the data.
func decodeIDX(r io.Reader) (dims []int, data []byte, err error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, nil, fmt.Errorf("truncated IDX header: %w", err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, nil, fmt.Errorf("not an IDX file: magic number %#08x does not start with two zero bytes", binary.BigEndian.Uint32(head[:]))
	}
	if head[2] != 0x08 {
		return nil, nil, fmt.Errorf("IDX element type %#02x is not supported; only 0x08 (unsigned byte) is", head[2])
	}
	nd := int(head[3])
	if nd == 0 {
		return nil, nil, errors.New("IDX header has zero dimensions")
	}
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("truncated IDX header: %d dimensions announced: %w", nd, err)
	}
	dims = make([]int, nd)
	total := int64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
		// Checked before multiplying: 2^32 × 2^32 would overflow int64.
		if dims[i] > 0 && total > maxBytes/int64(dims[i]) {
			return nil, nil, fmt.Errorf("IDX sizes %v announce more than %d bytes", dims[:i+1], int64(maxBytes))
		}
		total *= int64(dims[i])
	}
	data, err = readExactly(r, total, fmt.Sprintf("%v", dims))
	return dims, data, err
}

// readIDXFile decodes the IDX file at path, gzip-compressed or raw; errors name the file.
func readIDXFile(path string) (dims []int, data []byte, err error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	dims, data, err = decodeIDX(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return dims, data, nil
}

// LoadIDX reads an image file (IDX dimensions N×H×W, or N×H×W×C) and a label file (dimension N)
// into a Set named name with the given number of classes; classes <= 0 means one more than the
// largest label. Either file may be gzip-compressed or raw. A file that is truncated, corrupt or
// inconsistent with the other gives an error naming it.
func LoadIDX(name, imagesPath, labelsPath string, classes int) (*Set, error) {
	dims, pixels, err := readIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	s := &Set{Name: name, C: 1, Classes: classes, Pixels: pixels}
	switch len(dims) {
	case 4:
		s.C = dims[3]
		fallthrough
	case 3:
		s.H, s.W = dims[1], dims[2]
	default:
		return nil, fmt.Errorf("%s: IDX images have %d dimensions %v, want 3 (N×H×W) or 4 (N×H×W×C)", imagesPath, len(dims), dims)
	}
	ldims, labels, err := readIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(ldims) != 1 {
		return nil, fmt.Errorf("%s: IDX labels have %d dimensions %v, want 1", labelsPath, len(ldims), ldims)
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("%s has %d labels but %s has %d images", labelsPath, ldims[0], imagesPath, dims[0])
	}
	s.Labels = make([]int32, len(labels))
	for i, l := range labels {
		s.Labels[i] = int32(l)
		if classes <= 0 {
			s.Classes = max(s.Classes, int(l)+1)
		}
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s, %s: %w", imagesPath, labelsPath, err)
	}
	return s, nil
}
