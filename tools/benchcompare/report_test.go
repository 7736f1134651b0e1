package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/internal/benchmark"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const torchSample = "testdata/torch.json"

func TestTorchLabels(t *testing.T) {
	for _, c := range []struct{ name, kind, want string }{
		{"resnet20_mnist", kindNet, "best:resnet20_mnist"},
		{"micro_conv3x3_64to64_32x32_b64", kindConv, "best:micro_conv3x3_64to64_32x32_b64"},
		{"micro_mm_1024x1024x1024", kindMM, "micro_mm_1024x1024x1024"},
	} {
		if got := torchLabel(workload{name: c.name, kind: c.kind}); got != c.want {
			t.Errorf("torchLabel(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSelectsWorkloads(t *testing.T) {
	for _, c := range []struct {
		list string
		want int
	}{
		{"all", len(workloads)},
		{"micro", 4},
		{"nets", 9},
		{"resnet20_mnist, micro,resnet20_mnist", 5},
		{"micro_mm_1024x1024x1024", 1},
	} {
		ws, err := selectWorkloads(c.list)
		if err != nil || len(ws) != c.want {
			t.Errorf("selectWorkloads(%q) = %d workloads, %v; want %d", c.list, len(ws), err, c.want)
		}
	}
	if _, err := selectWorkloads("resnet21"); err == nil || !strings.Contains(err.Error(), "resnet20_mnist") {
		t.Errorf("an unknown workload gives %v, want an error listing the valid ones", err)
	}
}

// TestReferenceIsPyTorchsFastest checks the pairing with torch_reference.py's results: the
// fastest configuration but mkldnn_off, and oneDNN's product for the GEMM.
func TestReferenceIsPyTorchsFastest(t *testing.T) {
	torch, err := readTorch(torchSample)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		workload, kind, mode, threads string
		torch                         float64
		variant                       string
	}{
		// 2 threads: channels_last+tuned_malloc (868.5) beats default, channels_last and
		// tuned_malloc; mkldnn_off is never a reference.
		{"resnet20_mnist", kindNet, "train", "2", 868.5, "channels_last+tuned_malloc"},
		{"resnet20_mnist", kindNet, "train", "1", 466, "channels_last+tuned_malloc"},
		// jit_freeze_optimize is the fastest inference.
		{"resnet20_mnist", kindNet, "infer", "2", 3191.7, "jit_freeze_optimize"},
		{"micro_conv1x1_256to64_16x16_b64", kindConv, "fwd", "2", 195.23, "channels_last+tuned_malloc"},
		{"micro_mm_1024x1024x1024", kindMM, "sgemm", "2", 208.42, "mm_onednn"},
	} {
		cmp := &compared{name: c.workload, kind: c.kind, torch: torch}
		ref, ok := cmp.reference(c.threads, c.mode)
		if !ok || ref.variant != c.variant || math.Abs(ref.value-c.torch) > 1e-9*c.torch {
			t.Errorf("%s %s on %s threads: %+v, %v; want %s at %v", c.workload, c.mode, c.threads, ref, ok, c.variant, c.torch)
		}
	}
	if _, ok := (&compared{name: "vgg_small_mnist", kind: kindNet, torch: torch}).reference("1", "train"); ok {
		t.Error("a workload the reference lacks has a reference")
	}
}

// TestMarkdownMatchesGolden renders saved results of the engine and of torch_reference.py.
func TestMarkdownMatchesGolden(t *testing.T) {
	torch, err := readTorch(torchSample)
	if err != nil {
		t.Fatal(err)
	}
	c := comparison{source: "torch_reference.py", loadStart: "1.00 2.00 3.00", loadEnd: "0.50 0.60 0.70",
		started: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), elapsed: 95 * time.Second}
	for i, w := range []struct{ name, kind string }{{"micro_mm_1024x1024x1024", kindMM}, {"resnet20_mnist", kindNet}} {
		nas, err := readNAS(filepath.Join("testdata", "nas_"+w.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		c.workloads = append(c.workloads, &compared{name: w.name, kind: w.kind, nas: nas, torch: torch,
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

// TestMeasureTimesEveryKind runs the engine's side of a comparison on a micro convolution, the
// GEMM and a net, briefly, and checks the JSON the comparison reads.
func TestMeasureTimesEveryKind(t *testing.T) {
	if testing.Short() {
		t.Skip("times real work")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-measure", "micro_conv1x1_256to64_16x16_b64,micro_mm_1024x1024x1024,resnet20_mnist",
		"-threads", "1", "-batch", "4", "-configs", "../../configs/baselines/small"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchmark.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	wantModes := map[string][]string{kindConv: {"fwd", "fwd_bwd"}, kindMM: {"sgemm"}, kindNet: {"train", "infer"}}
	if len(rep.Workloads) != 3 {
		t.Fatalf("%d workloads", len(rep.Workloads))
	}
	for _, w := range rep.Workloads {
		if w.MACs <= 0 {
			t.Errorf("%s: %d MACs", w.Name, w.MACs)
		}
		for _, mode := range wantModes[w.Kind] {
			if r := w.Results["1"][mode]; r == nil || r.Ms <= 0 || r.GFLOPs <= 0 {
				t.Errorf("%s %s: %+v", w.Name, mode, r)
			}
		}
	}
}

func TestComparisonNeedsTheReferenceScript(t *testing.T) {
	t.Setenv("NAS_TORCH_REFERENCE", "")
	err := run(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-torch") {
		t.Errorf("without -torch: %v, want an error naming -torch", err)
	}
}

// TestPairedCandidatesMatchGolden pairs a nas bench --space report with torch_candidates.py's
// report of the same networks (both real runs, at batch 4 on a busy machine): every cand_I of
// nas meets PyTorch's cand_I and no other.
func TestPairedCandidatesMatchGolden(t *testing.T) {
	c, err := pairReports("testdata/nas_candidates.json", "testdata/torch_candidates.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.workloads) != 3 {
		t.Fatalf("%d workloads, want 3", len(c.workloads))
	}
	for _, wl := range c.workloads {
		ref, ok := wl.reference("1", "train")
		var want float64
		for _, e := range wl.torch {
			if e.Net == wl.name {
				want = e.Results["1"]["train"].ImgPerS
			}
		}
		if !ok || ref.value != want || ref.variant != "channels_last+tuned_malloc" {
			t.Errorf("%s: reference %+v, %v; want PyTorch's %s at %v", wl.name, ref, ok, wl.name, want)
		}
	}
	var out bytes.Buffer
	if err := c.markdown(&out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "candidates.golden.md")
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
	if _, err := pairReports("testdata/torch_candidates.json", "testdata/nas_candidates.json"); err == nil {
		t.Error("reports given the wrong way round were paired")
	}
}
