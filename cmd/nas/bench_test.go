package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const torchSample = "testdata/torch_reference_sample.json"

func TestBenchSelectsWorkloads(t *testing.T) {
	for _, c := range []struct {
		list string
		want int
	}{
		{"all", len(benchWorkloads)},
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

func TestBenchListsWorkloads(t *testing.T) {
	code, out, stderr := runNAS(t, "bench", "--list", "--workload", "micro_mm_1024x1024x1024,resnet20_mnist")
	if want := "micro_mm_1024x1024x1024 micro_mm\nresnet20_mnist net\n"; code != 0 || out != want {
		t.Errorf("nas bench --list: exit %d, %q (%s); want %q", code, out, stderr, want)
	}
}

func TestBenchParsesThreads(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	list := fmt.Sprintf("1, 1,%d", cores)
	if ts, err := parseThreads(list); err != nil || len(ts) != 3 || ts[2] != cores {
		t.Errorf("parseThreads(%q) = %v, %v", list, ts, err)
	}
	for _, bad := range []string{"0", "1,x", "", "-2", fmt.Sprint(cores + 1)} {
		if _, err := parseThreads(bad); err == nil {
			t.Errorf("parseThreads(%q) gave no error", bad)
		}
	}
}

// TestBenchComparesWithPyTorch checks the pairing with torch_reference.py's results: the fastest
// configuration but mkldnn_off, oneDNN's product for the GEMM, and the targets.
func TestBenchComparesWithPyTorch(t *testing.T) {
	ref, err := loadTorchReference(torchSample)
	if err != nil {
		t.Fatal(err)
	}
	work := map[string]benchWorkload{}
	for _, w := range benchWorkloads {
		work[w.name] = w
	}
	for _, c := range []struct {
		workload, mode string
		threads        int
		value          float64 // ours, in the mode's unit
		torch          float64
		variant        string
		targetMin      float64 // 0: no target
	}{
		// 2 threads: channels_last+tuned_malloc (868.5) beats default, channels_last and
		// tuned_malloc; mkldnn_off is never a reference.
		{"resnet20_mnist", "train", 2, 434.25, 868.5, bestVariant, 1.25 * 868.5},
		{"resnet20_mnist", "train", 1, 466, 466, bestVariant, 466},
		// jit_freeze_optimize is the fastest inference.
		{"resnet20_mnist", "infer", 2, 3191.7, 3191.7, "jit_freeze_optimize", 1.25 * 3191.7},
		{"micro_conv1x1_256to64_16x16_b64", "fwd", 2, 97.6, 195.23, bestVariant, 0},
		{"micro_mm_1024x1024x1024", "sgemm", 2, 184, 208.42, "mm_onednn", gemmPeakTarget * 2 * fmaPeakPerCore},
	} {
		r := &benchResult{ImgPerS: c.value, GFLOPs: c.value}
		r.compare(ref, work[c.workload], c.threads, c.mode)
		name := c.workload + "/" + c.mode
		if r.PyTorch == nil || r.PyTorch.Variant != c.variant || !closeEnough(r.PyTorch.Value, c.torch) ||
			!closeEnough(r.PyTorch.Ratio, c.value/c.torch) {
			t.Errorf("%s on %d threads: PyTorch %+v, want %s at %v", name, c.threads, r.PyTorch, c.variant, c.torch)
		}
		switch {
		case c.targetMin == 0 && r.Target != nil:
			t.Errorf("%s: target %+v, want none", name, r.Target)
		case c.targetMin != 0 && (r.Target == nil || !closeEnough(r.Target.Min, c.targetMin) || r.Target.Met != (c.value >= c.targetMin)):
			t.Errorf("%s on %d threads: target %+v, want min %v", name, c.threads, r.Target, c.targetMin)
		}
	}
	// Without a reference only the GEMM has a target, the machine's peak.
	r := &benchResult{GFLOPs: 100}
	r.compare(nil, work["micro_mm_1024x1024x1024"], 1, "sgemm")
	if r.PyTorch != nil || r.Target == nil || !r.Target.Met {
		t.Errorf("GEMM without a reference: %+v %+v", r.PyTorch, r.Target)
	}
}

func closeEnough(a, b float64) bool { return a-b < 1e-6*b && b-a < 1e-6*b }

// TestBenchRunsEveryKind runs a micro convolution, the GEMM and a net, briefly, and checks the
// JSON a comparison script reads.
func TestBenchRunsEveryKind(t *testing.T) {
	if testing.Short() {
		t.Skip("times real work")
	}
	code, out, stderr := runNAS(t, "bench", "--workload", "micro_conv1x1_256to64_16x16_b64,micro_mm_1024x1024x1024,resnet20_mnist",
		"--threads", "1", "--batch", "4", "--quick", "--reps", "1", "--json",
		"--configs", baselineDir+"small", "--reference", torchSample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.Meta.Batch != 4 || len(rep.Workloads) != 3 || rep.Meta.Reference != torchSample {
		t.Fatalf("meta %+v with %d workloads", rep.Meta, len(rep.Workloads))
	}
	wantModes := map[string][]string{kindConv: {"fwd", "fwd_bwd"}, kindMM: {"sgemm"}, kindNet: {"train", "infer"}}
	for _, w := range rep.Workloads {
		if w.MACs <= 0 {
			t.Errorf("%s: %d MACs", w.Name, w.MACs)
		}
		for _, mode := range wantModes[w.Kind] {
			r := w.Results["1"][mode]
			if r == nil || r.Ms <= 0 || r.GFLOPs <= 0 || r.StepsPerRep < 1 || r.Reps != 1 || r.PyTorch == nil {
				t.Errorf("%s %s: %+v", w.Name, mode, r)
				continue
			}
			if w.Kind == kindNet && (r.ImgPerS <= 0 || r.Target == nil) {
				t.Errorf("%s %s: %v img/s, target %+v", w.Name, mode, r.ImgPerS, r.Target)
			}
		}
	}
	if rep.Workloads[2].Params != 272186 {
		t.Errorf("resnet20_mnist has %d params, want 272186", rep.Workloads[2].Params)
	}
}

// TestBenchPairsASavedReport checks --from: a report saved without a reference, compared
// afterwards.
func TestBenchTimesOnlyTheModesAsked(t *testing.T) {
	code, out, stderr := runNAS(t, "bench", "--workload", "resnet20_mnist", "--modes", "infer", "--threads", "1",
		"--batch", "2", "--quick", "--reps", "1", "--json", "--configs", baselineDir+"small", "--reference", "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if modes := rep.Workloads[0].Results["1"]; len(modes) != 1 || modes["infer"] == nil {
		t.Errorf("--modes infer timed %v", modes)
	}
}

func TestBenchPairsASavedReport(t *testing.T) {
	saved := filepath.Join(t.TempDir(), "nas.json")
	rep := benchReport{Meta: benchMeta{Threads: []int{2}}, Workloads: []*benchWorkResult{{Name: "resnet20_mnist", Kind: kindNet,
		Results: map[string]map[string]*benchResult{"2": {"train": {ImgPerS: 1000}}}}}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runNAS(t, "bench", "--from", saved, "--reference", torchSample, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got benchReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	r := got.Workloads[0].Results["2"]["train"]
	if r.PyTorch == nil || !closeEnough(r.PyTorch.Value, 868.5) || r.Target == nil || r.Target.Met || got.Meta.Reference != torchSample {
		t.Errorf("paired %+v, %+v, reference %q", r.PyTorch, r.Target, got.Meta.Reference)
	}
}

func TestBenchRejectsBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--workload", "nope"}, "unknown workload"},
		{[]string{"--threads", "0"}, "--threads"},
		{[]string{"--modes", "train,backward"}, "--modes"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--reference", "testdata/missing.json"}, "--reference"},
		{[]string{"--workload", "resnet20_mnist", "--configs", "testdata"}, "--configs"},
		{[]string{"extra"}, "no arguments"},
		{[]string{"--from", "testdata/bench_table.golden"}, "not nas bench's JSON"},
	} {
		code, _, stderr := runNAS(t, append([]string{"bench", "--quick", "--reps", "1"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("nas bench %v: exit %d, %q; want 2 and a message with %q", c.args, code, stderr, c.want)
		}
	}
}

func TestBenchTableMatchesGolden(t *testing.T) {
	load := 0.25
	rep := &benchReport{
		Meta: benchMeta{Threads: []int{1, 2}, Reference: torchSample, LoadStart: []float64{1.5, 2, 2.5},
			LoadEnd: []float64{1, 1, 1}, PeakRSS: 300 << 20},
		Workloads: []*benchWorkResult{
			{Name: "micro_mm_1024x1024x1024", Kind: kindMM, Results: map[string]map[string]*benchResult{
				"1": {"sgemm": {GFLOPs: 99.5, PyTorch: &benchPyTorch{Variant: "mm_onednn", Value: 105.2, Ratio: 99.5 / 105.2},
					Target: &benchTarget{Rule: ">= 80% of FMA peak 115", Min: 92, Met: true}}},
			}},
			{Name: "resnet20_mnist", Kind: kindNet, Results: map[string]map[string]*benchResult{
				"1": {"train": {ImgPerS: 400, GFLOPs: 74.5, OtherCPULoad: &load,
					PyTorch: &benchPyTorch{Variant: bestVariant, Value: 466, Ratio: 400.0 / 466},
					Target:  &benchTarget{Rule: ">= 1.00x PyTorch", Min: 466}},
					"infer": {ImgPerS: 2000, AllocsPerStep: 0.5}},
				"2": {"train": {ImgPerS: 1100, PyTorch: &benchPyTorch{Variant: bestVariant, Value: 868.5, Ratio: 1100 / 868.5},
					Target: &benchTarget{Rule: ">= 1.25x PyTorch", Min: 1085.6, Met: true}}},
			}},
		},
	}
	var out bytes.Buffer
	if err := printBench(&out, rep); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bench_table.golden", out.String())
}
