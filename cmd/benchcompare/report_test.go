package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestTorchLabels(t *testing.T) {
	for _, c := range []struct{ name, kind, want string }{
		{"resnet20_mnist", "net", "best:resnet20_mnist"},
		{"micro_conv3x3_64to64_32x32_b64", "micro_conv", "best:micro_conv3x3_64to64_32x32_b64"},
		{"micro_mm_1024x1024x1024", "micro_mm", "micro_mm_1024x1024x1024"},
	} {
		if got := torchLabel(c.name, c.kind); got != c.want {
			t.Errorf("torchLabel(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestMarkdownMatchesGolden renders saved results of nas bench (paired by --from with a subset of
// the recorded PyTorch results) and of torch_reference.py.
func TestMarkdownMatchesGolden(t *testing.T) {
	torch, err := readTorch(filepath.Join("testdata", "torch.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := comparison{loadStart: "1.00 2.00 3.00", loadEnd: "0.50 0.60 0.70",
		started: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), elapsed: 95 * time.Second}
	for i, w := range []struct{ name, kind string }{{"micro_mm_1024x1024x1024", "micro_mm"}, {"resnet20_mnist", "net"}} {
		nas, err := readNAS(filepath.Join("testdata", "nas_"+w.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		c.workloads = append(c.workloads, &workload{name: w.name, kind: w.kind, nas: nas, torch: torch,
			nasRSS: int64(100+i) << 20, torchRSS: int64(400+i) << 20})
	}
	var out bytes.Buffer
	if err := c.markdown(&out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden.md")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("the table differs from %s (run go test -update to accept):\n%s", golden, out.String())
	}
}

func TestReadNASRejectsOtherFiles(t *testing.T) {
	if _, err := readNAS(filepath.Join("testdata", "torch.json")); err == nil {
		t.Error("torch_reference.py's JSON read as nas bench's")
	}
}
