package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/internal/benchmark"
	"github.com/gonas/nas/pytorch"
	"github.com/gonas/nas/space"
)

// TestBenchTimesAnArchitecture runs nas bench briefly on a baseline and checks its JSON.
func TestBenchTimesAnArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("times real work")
	}
	code, out, stderr := runNAS(t, "bench", baselineDir+"small/resnet20_mnist.yaml",
		"--threads", "1", "--batch", "4", "--quick", "--reps", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchmark.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.Meta.Batch != 4 || len(rep.Workloads) != 1 {
		t.Fatalf("meta %+v with %d workloads", rep.Meta, len(rep.Workloads))
	}
	w := rep.Workloads[0]
	if w.Name != "resnet20_mnist" || w.Params != 272186 || w.MACs <= 0 {
		t.Errorf("workload %s: %d params, %d MACs; want resnet20_mnist, 272186 params", w.Name, w.Params, w.MACs)
	}
	for _, mode := range benchmark.NetModes {
		r := w.Results["1"][mode]
		if r == nil || r.Ms <= 0 || r.GFLOPs <= 0 || r.ImgPerS <= 0 || r.StepsPerRep < 1 || r.Reps != 1 {
			t.Errorf("%s: %+v", mode, r)
		}
	}
}

func TestBenchTimesOnlyTheModesAsked(t *testing.T) {
	code, out, stderr := runNAS(t, "bench", baselineDir+"small/resnet20_mnist.yaml", "--modes", "infer", "--threads", "1",
		"--batch", "2", "--quick", "--reps", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchmark.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if modes := rep.Workloads[0].Results["1"]; len(modes) != 1 || modes["infer"] == nil {
		t.Errorf("--modes infer timed %v", modes)
	}
}

func TestBenchRejectsBadInput(t *testing.T) {
	arch := baselineDir + "small/resnet20_mnist.yaml"
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "at least one architecture"},
		{[]string{arch, "--space", "../../configs/spaces/fashion_small.yaml"}, "not both"},
		{[]string{"--space", "../../configs/spaces/fashion_small.yaml", "--sample", "0"}, "--sample"},
		{[]string{"--space", "testdata/missing.yaml"}, "missing.yaml"},
		{[]string{"--space", "../../configs/spaces/fashion_small.yaml", "--max-params", "-1"}, "--max-params"},
		{[]string{"--space", "../../configs/spaces/fashion_small.yaml", "--max-macs", "1"}, "budget"},
		{[]string{arch, "--export-pytorch", "x"}, "--export-pytorch needs --space"},
		{[]string{arch, "--threads", "0"}, "--threads"},
		{[]string{arch, "--modes", "train,backward"}, "--modes"},
		{[]string{arch, "--batch", "0"}, "--batch"},
		{[]string{"testdata/missing.yaml"}, "missing.yaml"},
	} {
		code, _, stderr := runNAS(t, append([]string{"bench", "--quick", "--reps", "1"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("nas bench %v: exit %d, %q; want 2 and a message with %q", c.args, code, stderr, c.want)
		}
	}
}

func TestBenchTableMatchesGolden(t *testing.T) {
	load := 0.25
	rep := &benchmark.Report{
		Meta: benchmark.Meta{Batch: 128, Threads: []int{1, 2}, LoadStart: []float64{1.5, 2, 2.5},
			LoadEnd: []float64{1, 1, 1}, PeakRSS: 300 << 20},
		Workloads: []*benchmark.Workload{
			{Name: "resnet20_mnist", Kind: "net", Results: map[string]map[string]*benchmark.Result{
				"1": {"train": {Ms: 320, ImgPerS: 400, GFLOPs: 74.5, OtherCPULoad: &load},
					"infer": {Ms: 64, ImgPerS: 2000, GFLOPs: 124.1, AllocsPerStep: 0.5}},
				"2": {"train": {Ms: 116.36, ImgPerS: 1100, GFLOPs: 204.9}},
			}},
		},
	}
	var out bytes.Buffer
	if err := printBench(&out, rep); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bench_table.golden", out.String())
}

// TestBenchTimesASampleOfASpace runs nas bench --space briefly on one thread and checks that it
// times the networks Sample draws, as cand_0.., and exports each as a PyTorch module that
// tools/benchcompare/torch_candidates.py times (when python3 has torch).
func TestBenchTimesASampleOfASpace(t *testing.T) {
	if testing.Short() {
		t.Skip("times real work")
	}
	const spacePath, n = "../../configs/spaces/fashion_small.yaml", 3
	dir := t.TempDir()
	trace := filepath.Join(dir, "bench.trace")
	code, out, stderr := runNAS(t, "bench", "--space", spacePath, "--sample", fmt.Sprint(n), "--seed", "5",
		"--threads", "1", "--batch", "2", "--quick", "--reps", "1", "--json", "--export-pytorch", dir, "--trace", trace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchmark.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	sp, err := space.LoadSpace(spacePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := benchmark.Sample(sp, n, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != n {
		t.Fatalf("%d workloads, want %d", len(rep.Workloads), n)
	}
	for i, w := range rep.Workloads {
		c, err := want[i].Counts()
		if err != nil {
			t.Fatal(err)
		}
		if w.Name != benchmark.CandidateName(i) || w.Kind != "net" || w.Params != c.Params || w.MACs != c.MACs {
			t.Errorf("workload %d: %s (%s), %d params, %d MACs; want %s, %d params, %d MACs", i, w.Name, w.Kind, w.Params, w.MACs,
				benchmark.CandidateName(i), c.Params, c.MACs)
		}
		for _, mode := range benchmark.NetModes {
			if r := w.Results["1"][mode]; r == nil || r.ImgPerS <= 0 {
				t.Errorf("%s %s: %+v", w.Name, mode, r)
			}
		}
		py := filepath.Join(dir, w.Name+".py")
		src, err := os.ReadFile(py)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "def build(") || !strings.Contains(string(src), fmt.Sprintf("NUM_PARAMS = %d", c.Params)) {
			t.Errorf("%s is not the module of a %d-parameter network", py, c.Params)
		}
		if _, err := os.Stat(pytorch.WeightsPath(py)); err != nil {
			t.Error(err)
		}
	}
	if fi, err := os.Stat(trace); err != nil || fi.Size() == 0 {
		t.Errorf("no execution trace: %v", err)
	}

	python := "/usr/bin/python3"
	if exec.Command(python, "-c", "import torch").Run() != nil {
		t.Skipf("%s has no torch (apt-get install -y python3-torch): the PyTorch side is not checked", python)
	}
	torchJSON := filepath.Join(dir, "torch.json")
	cmd := exec.Command(python, "../../tools/benchcompare/torch_candidates.py", dir, "--threads", "1", "--batch", "2",
		"--quick", "--reps", "1", "--json-out", torchJSON)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torch_candidates.py: %v\n%s", err, b)
	}
	b, err := os.ReadFile(torchJSON)
	if err != nil {
		t.Fatal(err)
	}
	var torch struct {
		Workloads []struct {
			Net     string `json:"net"`
			Params  int64  `json:"params"`
			Results map[string]map[string]struct {
				ImgPerS float64 `json:"img_per_s"`
			} `json:"results"`
		} `json:"workloads"`
	}
	if err := json.Unmarshal(b, &torch); err != nil {
		t.Fatal(err)
	}
	if len(torch.Workloads) != n {
		t.Fatalf("PyTorch timed %d networks, want %d", len(torch.Workloads), n)
	}
	for i, w := range torch.Workloads {
		if w.Net != rep.Workloads[i].Name || w.Params != rep.Workloads[i].Params || w.Results["1"]["train"].ImgPerS <= 0 {
			t.Errorf("PyTorch's workload %d: %s, %d params, %+v; want %s, %d params", i, w.Net, w.Params, w.Results, rep.Workloads[i].Name, rep.Workloads[i].Params)
		}
	}
}
