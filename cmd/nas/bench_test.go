package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gonas/nas/internal/benchmark"
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
