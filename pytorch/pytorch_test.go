package pytorch

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// tinyArch has a grouped convolution, squeeze-and-excitation, an option-A shortcut, a pool with
// ceil_mode and a flattened linear head: most of the forms Write writes.
const tinyArch = `
name: tiny
input: [3, 9, 9]
classes: 4
stem:
  - {op: conv, filters: 8, kernel: 3, padding: 1, groups: 1, bn: true, relu: true}
  - {op: maxpool, kernel: 2, stride: 2, ceil: true}
stages:
  - {family: basic, blocks: 1, width: 8, se: {ratio: 4}}
  - {family: basic, blocks: 1, width: 16, stride: 2, shortcut: A}
head:
  - {op: flatten}
  - {op: dropout, p: 0.5}
  - {op: linear}
`

func tinyFile(t *testing.T) *model.File {
	t.Helper()
	a, err := space.Parse([]byte(tinyArch), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := a.Hash()
	return &model.File{Meta: model.Meta{Arch: a, ArchHash: hash, Seed: 1, Version: "test",
		Norm: data.Norm{Mean: []float64{0.5, 0.25, 0.125}, Std: []float64{0.2, 0.3, 0.4}}, Classes: []string{"a", "b", "c", "d"}}}
}

func TestWriteMatchesGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, tinyFile(t)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "tiny.py.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("Write differs from %s (run go test -update to accept)", path)
	}
	for _, s := range []string{
		`MEAN = [0.5, 0.25, 0.125]`, `CLASSES = ["a", "b", "c", "d"]`,
		`F.max_pool2d(x3, (2, 2), 2, (0, 0), ceil_mode=True)`,
		`_zero_pad(`, `[:, :, None, None]`, `F.dropout(`, `torch.flatten(`,
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("the module lacks %s", s)
		}
	}
}
