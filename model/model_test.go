package model

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const tinyArch = `
name: tiny
input: [2, 6, 6]
classes: 3
stem:
  - {op: conv, filters: 4, kernel: 3, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 1, width: 4}
`

func parseArch(t testing.TB, src string) *space.Arch {
	t.Helper()
	a, err := space.Parse([]byte(src), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tinyFile is a model file of tinyArch with the weights that seed 1 initialises and every
// metadata field set.
func tinyFile(t testing.TB) *File {
	t.Helper()
	arch := parseArch(t, tinyArch)
	net, err := arch.Expand()
	if err != nil {
		t.Fatal(err)
	}
	m, err := evaluator.Build(net, 1, parallel.NewPool(1), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := arch.Hash()
	if err != nil {
		t.Fatal(err)
	}
	r := evaluator.DefaultRecipe()
	r.Epochs = 2
	return &File{Tensors: m.Weights(), Meta: Meta{
		Arch: arch, ArchHash: hash, Recipe: &r, Seed: 1, Dataset: "synthetic",
		Norm:    data.Norm{Mean: []float64{0.25, 0.5}, Std: []float64{0.125, 1.5}},
		Classes: []string{"cat", "dog", "bird"}, ValAcc: 0.75, TestAcc: 0.625, Tested: true, Version: "test",
	}}
}

// sameFile compares two files with the tensors in any order.
func sameFile(t *testing.T, got, want *File) {
	t.Helper()
	byName := func(ts []evaluator.Tensor) []evaluator.Tensor {
		return slices.SortedFunc(slices.Values(ts), func(a, b evaluator.Tensor) int { return strings.Compare(a.Name, b.Name) })
	}
	if !reflect.DeepEqual(byName(got.Tensors), byName(want.Tensors)) {
		t.Error("tensors differ")
	}
	if !reflect.DeepEqual(got.Meta, want.Meta) {
		t.Errorf("meta\n%+v\nwant\n%+v", got.Meta, want.Meta)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	want := tinyFile(t)
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, got, want)

	// Untrained weights: no recipe, data set, classes, scores or normalisation.
	want.Meta = Meta{Arch: want.Meta.Arch, ArchHash: want.Meta.ArchHash, Seed: 7, Version: "test"}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err = Load(path); err != nil {
		t.Fatal(err)
	}
	sameFile(t, got, want)
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the model (no temporary file left)", len(entries))
	}
}

func TestBuildGivesTheSavedModel(t *testing.T) {
	f := tinyFile(t)
	for i := range f.Tensors {
		for j := range f.Tensors[i].Data {
			f.Tensors[i].Data[j] += 0.01 * float32(j%7)
		}
	}
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loaded.Build(2, parallel.NewPool(1))
	if err != nil {
		t.Fatal(err)
	}
	got := m.Weights()
	if !reflect.DeepEqual(got, f.Tensors) {
		t.Error("the built model's weights differ from the file's")
	}
}

func TestGoldenFile(t *testing.T) {
	f := tinyFile(t)
	// Small round values, so that the golden file shows the layout rather than an initialisation.
	for i := range f.Tensors {
		for j := range f.Tensors[i].Data {
			f.Tensors[i].Data[j] = float32(i) + float32(j)/4
		}
	}
	got, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "tiny.safetensors")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Encode differs from %s (run go test -update to accept)", path)
	}
	// The layout of the format, independently of the safetensors package: an 8-byte
	// little-endian header length, the JSON header padded with spaces to a multiple of 8, then
	// the float32s, little-endian, of the tensors in the order of their offsets.
	n := binary.LittleEndian.Uint64(want)
	header := string(want[8 : 8+n])
	if n%8 != 0 || !strings.HasPrefix(header, `{"__metadata__":{"nas.arch":"`) {
		t.Errorf("header of %d bytes: %.80s", n, header)
	}
	if !strings.Contains(header, `"stem.bn1.running_var":{"dtype":"F32","shape":[4],"data_offsets":[`) {
		t.Errorf("header lacks the running variance as an F32 tensor of shape [4]: %s", header)
	}
	loaded, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, loaded, f)
}

func TestLoadErrors(t *testing.T) {
	good, err := Encode(tinyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(edit func(h string) string) []byte {
		n := binary.LittleEndian.Uint64(good)
		h := edit(string(good[8 : 8+n]))
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), good[8+n:]...)
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"an empty file", nil, "not a safetensors file: 0 bytes"},
		{"a YAML file", []byte("name: tiny\ninput: [1, 28, 28]\n"), "not a safetensors file: the first 8 bytes"},
		{"a header that is not JSON", withHeader(func(h string) string { return "[" + h[1:] }), "not a safetensors file: the header is not a JSON object"},
		{"a file cut in the header", good[:100], "truncated: the header needs"},
		{"a file cut in the tensors", good[:len(good)-4], "truncated: the tensors need"},
		{"a file with bytes after the tensors", append(slices.Clone(good), 0, 0, 0, 0), "not a valid safetensors file"},
		{"int32 tensors", withHeader(func(h string) string { return strings.ReplaceAll(h, `"F32"`, `"I32"`) }), "nas models hold F32 tensors only"},
		{"no architecture", withHeader(func(h string) string { return strings.Replace(h, `"nas.arch"`, `"nas.archx"`, 1) }), `no metadata "nas.arch": not a nas model file`},
		{"no metadata at all", []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "), `no metadata "nas.format"`},
		{"a wrong hash", withHeader(func(h string) string { return strings.Replace(h, `"nas.arch_hash":"`, `"nas.arch_hash":"0`, 1) }), "but the architecture hashes to"},
		{"a negative deviation", withHeader(func(h string) string { return strings.Replace(h, `\"std\":[0.125`, `\"std\":[-0.125`, 1) }), "positive standard deviations"},
		{"two class names for three classes", withHeader(func(h string) string { return strings.Replace(h, `\"cat\",`, ``, 1) }), "a JSON list of 3 class names"},
		{"an accuracy above 1", withHeader(func(h string) string { return strings.Replace(h, `"nas.test_acc":"0.625"`, `"nas.test_acc":"62.5"`, 1) }), `"nas.test_acc" is "62.5"`},
		{"a bad recipe", withHeader(func(h string) string { return strings.Replace(h, `epochs: 2`, `epochs: -2`, 1) }), `metadata "nas.recipe"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error %v, want one starting with the path and containing %q", err, c.want)
			}
		})
	}
}

func TestSaveKeepsTheOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	f := tinyFile(t)
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := tinyFile(t)
	bad.Tensors = append(bad.Tensors, bad.Tensors[0])
	if err := Save(path, bad); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("error %v, want one about a repeated tensor", err)
	}
	bad.Tensors = f.Tensors
	bad.Tensors[0].Data = bad.Tensors[0].Data[1:]
	if err := Save(path, bad); err == nil || !strings.Contains(err.Error(), "values") {
		t.Fatalf("error %v, want one about the values of a tensor", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed Save changed the existing file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d files after failed saves, want 1", len(entries))
	}
}

func FuzzDecode(f *testing.F) {
	good, err := os.ReadFile(filepath.Join("testdata", "tiny.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes again to a file that decodes to the same.
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode of a decoded file: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode of a re-encoded file: %v", err)
		}
		if len(m2.Tensors) != len(m.Tensors) {
			t.Fatalf("%d tensors, then %d", len(m.Tensors), len(m2.Tensors))
		}
		for i := range m.Tensors {
			a, b := m.Tensors[i], m2.Tensors[i]
			if a.Name != b.Name || !slices.Equal(a.Shape, b.Shape) || !slices.EqualFunc(a.Data, b.Data, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
				t.Fatalf("tensor %s changed in a round trip", a.Name)
			}
		}
	})
}
