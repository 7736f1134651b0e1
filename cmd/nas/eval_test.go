package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/model"
)

// trainAndSave trains the tiny network of writeTrainFiles on the synthetic set with --save and
// returns the model file and the training's result.
func trainAndSave(t *testing.T) (string, evaluator.Result) {
	t.Helper()
	arch, recipe := writeTrainFiles(t)
	saved := filepath.Join(t.TempDir(), "tiny.safetensors")
	code, out, stderr := runNAS(t, "train", arch, "--data", "synthetic", "--recipe", recipe, "--threads", "2", "--test", "--json", "--save", saved)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var res evaluator.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return saved, res
}

func TestEvalOfASavedModelGivesTheTrainedTestAccuracy(t *testing.T) {
	saved, res := trainAndSave(t)
	f, err := model.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	m := f.Meta
	if m.Dataset != "synthetic" || m.Recipe == nil || m.Recipe.Epochs != 2 || m.Seed != 1 || !m.Tested ||
		m.TestAcc != res.TestAcc || m.ValAcc != res.ValAcc || len(m.Norm.Mean) != 1 || m.Arch.Name != "tiny" {
		t.Errorf("saved metadata %+v does not describe the training %+v", m, res)
	}

	// One thread here, two in training: the scores must not depend on it.
	code, out, stderr := runNAS(t, "eval", saved, "--data", "synthetic", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	// The loss is summed over batches of another size: equal up to rounding.
	if r.TestAcc != res.TestAcc || math.Abs(r.TestLoss-res.TestLoss) > 1e-9*res.TestLoss {
		t.Errorf("nas eval: test accuracy %v, loss %v; training recorded %v, %v", r.TestAcc, r.TestLoss, res.TestAcc, res.TestLoss)
	}
	if r.TestAcc < 0.5 {
		t.Errorf("test accuracy %v: the model did not learn, the comparison proves little", r.TestAcc)
	}
	var images, correct int
	for i, row := range r.Confusion {
		for j, n := range row {
			images += n
			if i == j {
				correct += n
			}
		}
		if c := r.PerClass[i]; c.Images == 0 || c.Acc != float64(row[i])/float64(c.Images) {
			t.Errorf("class %d: %+v does not match its confusion row %v", i, c, row)
		}
	}
	if len(r.Confusion) != 10 || images != r.Images || float64(correct)/float64(images) != r.TestAcc {
		t.Errorf("confusion matrix %v: %d images, %d correct; want 10×10 over %d images with accuracy %v", r.Confusion, images, correct, r.Images, r.TestAcc)
	}
	if r.LatencyB1Ms <= 0 || r.LatencyB128Ms <= 0 {
		t.Errorf("latencies %v, %v ms", r.LatencyB1Ms, r.LatencyB128Ms)
	}

	// The text form shows the same figures, and --data defaults to the training's data set.
	code, text, stderr := runNAS(t, "eval", saved, "--threads", "1")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"on synthetic: 1000 test images", "test accuracy", "confusion (rows: true class"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
}

func TestEvalRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	notModel := filepath.Join(dir, "arch.yaml")
	os.WriteFile(notModel, []byte("name: x\n"), 0o644)
	arch, _ := writeTrainFiles(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"eval"}, "want one model file, got 0"},
		{"a missing file", []string{"eval", filepath.Join(dir, "none.safetensors"), "--data", "synthetic"}, "no such file"},
		{"a YAML file", []string{"eval", notModel, "--data", "synthetic"}, "not a safetensors file"},
		{"no directory to save into", []string{"train", arch, "--data", "synthetic", "--save", filepath.Join(dir, "no", "m.safetensors")}, "is not a directory"},
	} {
		code, _, stderr := runNAS(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.name, code, stderr, c.want)
		}
	}
}
