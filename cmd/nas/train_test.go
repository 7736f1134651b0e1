package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/store"
)

// writeTrainFiles writes a small network and a recipe of a few seconds on the synthetic set.
func writeTrainFiles(t *testing.T) (arch, recipe string) {
	t.Helper()
	dir := t.TempDir()
	arch = filepath.Join(dir, "tiny.yaml")
	recipe = filepath.Join(dir, "recipe.yaml")
	os.WriteFile(arch, []byte(`name: tiny
input: [1, 28, 28]
classes: 10
stem:
  - {op: conv, filters: 8, kernel: 3, stride: 2, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 1, width: 8, stride: 2}
`), 0o644)
	os.WriteFile(recipe, []byte("epochs: 2\nbatch: 32\ndata_fraction: 0.5\nval_fraction: 0.2\n"), 0o644)
	return arch, recipe
}

func TestTrainJSONAndRecord(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	db := filepath.Join(t.TempDir(), "nas.db")
	args := []string{"train", arch, "--data", "synthetic", "--recipe", recipe, "--threads", "2", "--test", "--json", "--db", db}
	code, out, stderr := runNAS(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res evaluator.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.Status != evaluator.StatusOK || !res.Tested || res.ValAcc < 0.8 || len(res.Epochs) != 2 {
		t.Fatalf("result %+v: want ok, tested, learning, two epochs", res)
	}
	for _, field := range []string{`"val_acc"`, `"test_acc"`, `"params"`, `"macs"`, `"train_seconds"`, `"status"`} {
		if !strings.Contains(out, field) {
			t.Errorf("JSON lacks %s", field)
		}
	}

	// The same evaluation again comes from the store and adds no trial; the experiment's row
	// ends done each time.
	code, out2, stderr := runNAS(t, args...)
	if code != 0 || !strings.Contains(stderr, "not training again") {
		t.Fatalf("second run: exit %d, stderr %q", code, stderr)
	}
	var again evaluator.Result
	json.Unmarshal([]byte(out2), &again)
	if again.ValAcc != res.ValAcc || again.TestAcc != res.TestAcc {
		t.Errorf("cached result %+v differs from the trained one %+v", again, res)
	}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.Experiment(context.Background(), "train")
	if err != nil {
		t.Fatal(err)
	}
	evals, _ := st.Evaluations(context.Background(), exp.ID)
	if len(evals) != 1 || evals[0].Cached || evals[0].Result.ValAcc != res.ValAcc {
		t.Errorf("store holds %d evaluations (%+v), want the trained one only", len(evals), evals)
	}
	if exp.Status != store.ExperimentDone || exp.Finished.IsZero() {
		t.Errorf("experiment is %s, finished %v; want done with a finish time", exp.Status, exp.Finished)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("epochs: 2\nlearning_rate: 3\n"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown recipe key", []string{"train", arch, "--data", "synthetic", "--recipe", bad}, "bad.yaml:2:1"},
		{"missing arch", []string{"train", arch + ".missing", "--data", "synthetic"}, "no such file"},
		{"unknown data set", []string{"train", arch, "--data", "imagenet"}, "imagenet"},
		{"bad flag value", []string{"train", arch, "--data", "synthetic", "--recipe", recipe, "--epochs", "0"}, `"epochs"`},
		{"two archs", []string{"train", arch, arch}, "one architecture"},
	} {
		code, _, stderr := runNAS(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.name, code, stderr, c.want)
		}
	}
}

func TestTrainWritesACPUProfile(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	code, _, stderr := runNAS(t, "train", arch, "--data", "synthetic", "--recipe", recipe, "--epochs", "1", "--json", "--cpuprofile", prof)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is a gzipped protocol buffer.
	if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("%s holds %d bytes that are not a gzipped profile", prof, len(b))
	}
}
