package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const baselineDir = "../../configs/baselines/"

func runNAS(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInfoTableMatchesGolden(t *testing.T) {
	code, out, stderr := runNAS(t, "info", baselineDir+"small/resnet20_mnist.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkGolden(t, "info_resnet20_mnist.golden", out)
}

func TestInfoPlanMatchesGolden(t *testing.T) {
	for _, name := range []string{"resnet20_mnist", "preact_resnet20_mnist", "resnext20_8x4d_mnist", "incres_small_mnist"} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runNAS(t, "info", "--plan", baselineDir+"small/"+name+".yaml")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkGolden(t, "plan_"+name+".golden", out)
		})
	}
}

// The bench's PyTorch definitions have these counts (shared/bench/torch_reference_layers.txt).
var benchCounts = map[string][2]int64{
	"resnet20_mnist":        {272186, 31021952},
	"se_resnet20_mnist":     {280670, 31030016},
	"resnext20_8x4d_mnist":  {249322, 32140288},
	"densenet_bc_k12_mnist": {175690, 55066344},
	"incres_small_mnist":    {259594, 22956800},
	"vgg_small_mnist":       {96554, 18320512},
	"resnet20_cifar":        {272474, 40813184},
	"se_resnet20_cifar":     {280958, 40821248},
	"densenet_bc_k12_cifar": {176122, 72365352},
}

func TestInfoJSONPrintsTheBenchCounts(t *testing.T) {
	for name, want := range benchCounts {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runNAS(t, "info", baselineDir+"small/"+name+".yaml", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep struct {
				Name   string           `json:"name"`
				Params int64            `json:"params"`
				MACs   int64            `json:"macs"`
				Layers []map[string]any `json:"layers"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out)
			}
			if rep.Name != name || rep.Params != want[0] || rep.MACs != want[1] {
				t.Errorf("got %s params %d MACs %d, want %s %d %d", rep.Name, rep.Params, rep.MACs, name, want[0], want[1])
			}
			var sum float64
			for _, l := range rep.Layers {
				sum += l["params"].(float64)
			}
			if int64(sum) != rep.Params {
				t.Errorf("layer params add up to %v, total says %d", sum, rep.Params)
			}
		})
	}
}

func TestInfoOverridesInputAndClasses(t *testing.T) {
	// resnet20 for CIFAR run on MNIST-sized input with 100 classes: the stem conv sees 1 channel
	// (144 weights instead of 432) and the classifier has 100 outputs (6,500 instead of 650).
	code, out, stderr := runNAS(t, "info", "--json", "--input", "1,28,28", "--classes", "100", baselineDir+"cifar/resnet20.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Params int64 `json:"params"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if want := int64(269722 - 432 + 144 - 650 + 6500); rep.Params != want {
		t.Errorf("params %d, want %d", rep.Params, want)
	}
}

func TestInfoRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("input: [1, 28, 28]\nclasses: 10\nstages:\n  - {family: basic, width: 16, stride: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"StrideOfThree", []string{"info", bad}, regexp.MustCompile(`bad\.yaml:4:\d+: field "stages\[0\]\.stride": must be 1 or 2 \(got 3\)`)},
		{"MissingFile", []string{"info", filepath.Join(dir, "none.yaml")}, regexp.MustCompile(`none\.yaml`)},
		{"InputOfTwoNumbers", []string{"info", "--input", "1,28", baselineDir + "small/resnet20_mnist.yaml"}, regexp.MustCompile(`--input must be C,H,W`)},
		{"InputTooSmall", []string{"info", "--input", "1,2,2", baselineDir + "small/vgg_small_mnist.yaml"}, regexp.MustCompile(`shrinks below 1×1`)},
		{"NoFile", []string{"info"}, regexp.MustCompile(`want one architecture file`)},
		{"PlanAsJSON", []string{"info", "--plan", "--json", baselineDir + "small/resnet20_mnist.yaml"}, regexp.MustCompile(`--plan prints text`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runNAS(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !tc.want.MatchString(stderr) {
				t.Errorf("stderr %q does not match %q", strings.TrimSpace(stderr), tc.want)
			}
		})
	}
}

// checkGolden compares got with testdata/name, which go test -update rewrites.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s", golden, got)
	}
}
