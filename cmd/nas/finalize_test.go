package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/store"
)

// finalRecipe is a short full recipe for the tiny experiment's synthetic data: a few epochs on a
// few hundred images, with every kind of training state (momentum, warm-up, augmentation).
const finalRecipe = `epochs: %d
batch: 32
data_fraction: 0.05
val_fraction: 0
nesterov: true
warmup_epochs: 1
label_smoothing: 0.1
crop_pad: 2
flip: true
erase: 0.25
`

func writeRecipe(t *testing.T, epochs int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "final.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(finalRecipe, "%d", strconv.Itoa(epochs), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// finals returns the final trials of experiment tiny in the database at path, and its search
// trials by ID.
func finals(t *testing.T, path string) ([]store.Evaluation, map[int64]store.Evaluation) {
	t.Helper()
	st, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	exp, err := st.Experiment(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Evaluations(ctx, exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	var fs []store.Evaluation
	searched := map[int64]store.Evaluation{}
	for _, ev := range evs {
		if ev.Trial.Phase == store.PhaseFinal {
			fs = append(fs, ev)
		} else {
			searched[ev.Trial.ID] = ev
		}
	}
	return fs, searched
}

// cloneDB copies the database at src to a new folder and returns the copy's path.
func cloneDB(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "nas.db")
	if err := os.WriteFile(db, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return db
}

// finalState returns the tensors of the last checkpoint of the final training ev: the trained
// weights, BatchNorm statistics and optimizer state, as bits.
func finalState(t *testing.T, db string, ev store.Evaluation) []uint32 {
	t.Helper()
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Checkpoint(context.Background(), ev.Trial.Key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store.CheckpointDir(db), rec.Path))
	if err != nil {
		t.Fatal(err)
	}
	c, err := evaluator.DecodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Epoch != len(ev.Result.Epochs) {
		t.Fatalf("the last checkpoint is of epoch %d of %d", c.Epoch, len(ev.Result.Epochs))
	}
	var bits []uint32
	for _, v := range append(append(c.Params, c.Buffers...), c.Optim.Buffers["momentum_buffer"]...) {
		for _, x := range v {
			bits = append(bits, math.Float32bits(x))
		}
	}
	return bits
}

// TestFinalizeTiny finalizes the tiny search: the front and the baseline with two seeds, then
// one network stopped by kill -9 at a random moment and resumed, and one whose checkpoint was
// damaged.
func TestFinalizeTiny(t *testing.T) {
	dir := t.TempDir()
	searched := filepath.Join(dir, "search.db")
	if code, _, stderr := runNAS(t, "search", tinyExperiment, "--db", searched, "--workers", "1", "--threads", "1"); code != 0 {
		t.Fatalf("search: exit %d: %s", code, stderr)
	}

	t.Run("TrainsTheFrontAndTheBaselinesOncePerSeed", func(t *testing.T) {
		db := cloneDB(t, searched)
		recipe := writeRecipe(t, 2)
		code, out, stderr := runNAS(t, "finalize", "tiny", "--db", db, "--recipe", recipe, "--seeds", "1,2", "--workers", "2", "--threads", "1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		fs, search := finals(t, db)
		sources := map[int64]int{}
		baseline := false
		for _, f := range fs {
			src, ok := search[f.Trial.Source]
			switch {
			case !ok:
				t.Fatalf("final trial %d names trial %d, not a search trial", f.Trial.ID, f.Trial.Source)
			case src.Arch.Hash != f.Arch.Hash:
				t.Errorf("final trial %d trains %s, its source trial %d %s", f.Trial.ID, f.Arch.Hash, src.Trial.ID, src.Arch.Hash)
			case f.Result.Status != evaluator.StatusOK || !f.Result.Tested || len(f.Result.Epochs) != 2 || f.Trial.Key.Fidelity != 2*0.05:
				t.Errorf("final trial %d: %s, tested %v, %d epochs, fidelity %v", f.Trial.ID, f.Result.Status, f.Result.Tested, len(f.Result.Epochs), f.Trial.Key.Fidelity)
			}
			sources[f.Trial.Source]++
			baseline = baseline || src.Trial.Operator == "baseline"
		}
		if len(sources) < 2 || !baseline {
			t.Errorf("finalized %d networks (baseline among them: %v), want the front and the baseline", len(sources), baseline)
		}
		for src, n := range sources {
			if n != 2 {
				t.Errorf("trial %d has %d final trainings, want one per seed", src, n)
			}
		}
		for _, want := range []string{"Final training", "(2 seeds)", "Kendall τ-b", "Spearman ρ"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
		code, _, stderr = runNAS(t, "finalize", "tiny", "--db", db, "--recipe", recipe, "--seeds", "1,2")
		if code != 0 || !strings.Contains(stderr, "0 trained now, "+strconv.Itoa(len(fs))+" from the store") {
			t.Errorf("running it again: exit %d, stderr:\n%s\nwant every training taken from the store", code, stderr)
		}
		if again, _ := finals(t, db); len(again) != len(fs) {
			t.Errorf("running it again left %d final trials, want %d", len(again), len(fs))
		}
		checkFinalModels(t, db, fs, out)
	})

	t.Run("RefusesBadInputWithExitCode2", func(t *testing.T) {
		db := cloneDB(t, searched)
		recipe := writeRecipe(t, 1)
		for _, args := range [][]string{
			{"nosuch", "--recipe", recipe},
			{"tiny", "--top", "2", "--trial", "1", "--recipe", recipe},
			{"tiny", "--trial", "9999", "--recipe", recipe},
			{"tiny", "--seeds", "1,x", "--recipe", recipe},
			{"tiny", "--recipe", filepath.Join(t.TempDir(), "missing.yaml")},
		} {
			code, _, stderr := runNAS(t, append([]string{"finalize", "--db", db}, args...)...)
			if code != 2 || stderr == "" {
				t.Errorf("nas finalize %v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
			}
		}
		if fs, _ := finals(t, db); len(fs) != 0 {
			t.Errorf("bad input stored %d final trials", len(fs))
		}
	})

	// The baseline trains longest; one seed of it, 6 epochs.
	_, search := finals(t, searched)
	var trial string
	for id, ev := range search {
		if ev.Trial.Operator == "baseline" {
			trial = strconv.FormatInt(id, 10)
		}
	}
	recipe := writeRecipe(t, 6)
	args := []string{"finalize", "tiny", "--trial", trial, "--recipe", recipe, "--seeds", "3"}
	ref := cloneDB(t, searched)
	if code, _, stderr := runNAS(t, append(args, "--db", ref, "--workers", "1", "--threads", "2")...); code != 0 {
		t.Fatalf("uninterrupted: exit %d: %s", code, stderr)
	}
	refFinals, _ := finals(t, ref)
	if len(refFinals) != 1 {
		t.Fatalf("uninterrupted: %d final trials, want 1", len(refFinals))
	}
	want := finalState(t, ref, refFinals[0])

	// killed starts the finalize in another process, kills it with SIGKILL at a random moment
	// after its first checkpoint and before it ends, and returns the database.
	killed := func(t *testing.T) string {
		db := cloneDB(t, searched)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFinalizeHelperProcess$")
		cmd.Env = append(os.Environ(), "NAS_FINALIZE_TEST_ARGS="+strings.Join(append(args, "--db", db, "--workers", "1", "--threads", "1"), "\x1f"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no checkpoint in 2 minutes:\n%s", stderr.String())
			}
			if m, _ := filepath.Glob(filepath.Join(store.CheckpointDir(db), "*.safetensors")); len(m) > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		delay := time.Duration(rand.Int64N(int64(time.Second)))
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if fs, _ := finals(t, db); len(fs) != 0 {
			t.Fatalf("the training had ended before the kill (%v after its first checkpoint)", delay)
		}
		m, _ := filepath.Glob(filepath.Join(store.CheckpointDir(db), "*-e*.safetensors"))
		t.Logf("killed %v after the first checkpoint; checkpoints on disk: %v", delay, m)
		return db
	}

	t.Run("ResumesAfterKill9WithTheSameBits", func(t *testing.T) {
		db := killed(t)
		code, _, stderr := runNAS(t, append(args, "--db", db, "--workers", "1", "--threads", "2")...)
		if code != 0 {
			t.Fatalf("resuming: exit %d: %s", code, stderr)
		}
		if strings.Contains(stderr, "warning") || strings.Contains(stderr, "epoch 1/6") {
			t.Errorf("the resumed training started over:\n%s", stderr)
		}
		fs, _ := finals(t, db)
		if len(fs) != 1 {
			t.Fatalf("%d final trials, want 1", len(fs))
		}
		if got := finalState(t, db, fs[0]); !slices.Equal(got, want) {
			t.Errorf("killed and resumed: the final weights differ from an uninterrupted run's")
		}
		if fs[0].Result.TestAcc != refFinals[0].Result.TestAcc || fs[0].Result.TestLoss != refFinals[0].Result.TestLoss {
			t.Errorf("test %v/%v, uninterrupted %v/%v", fs[0].Result.TestAcc, fs[0].Result.TestLoss, refFinals[0].Result.TestAcc, refFinals[0].Result.TestLoss)
		}
	})

	t.Run("RefusesADamagedCheckpointAndStartsOver", func(t *testing.T) {
		db := killed(t)
		m, _ := filepath.Glob(filepath.Join(store.CheckpointDir(db), "*-e*.safetensors"))
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0x40 // a bit of a tensor
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, _, stderr := runNAS(t, append(args, "--db", db)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "damaged") || !strings.Contains(stderr, "starts over") || !strings.Contains(stderr, "epoch 1/6") {
			t.Errorf("stderr does not say the checkpoint was refused and the training started over:\n%s", stderr)
		}
		fs, _ := finals(t, db)
		if len(fs) != 1 {
			t.Fatalf("%d final trials, want 1", len(fs))
		}
		if got := finalState(t, db, fs[0]); !slices.Equal(got, want) {
			t.Errorf("after starting over: the final weights differ from an uninterrupted run's")
		}
	})
}

// TestFinalizeHelperProcess is the nas finalize that TestFinalizeTiny kills.
func TestFinalizeHelperProcess(t *testing.T) {
	args := os.Getenv("NAS_FINALIZE_TEST_ARGS")
	if args == "" {
		return
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

// checkFinalModels checks that every final trial fs of database db kept its model file: nas eval
// of it gives the test accuracy stored for the trial, and nas export of the trial carries its
// trained weights, or fails naming the file once it is gone; finalized is what nas finalize
// printed, which names each file.
func checkFinalModels(t *testing.T, db string, fs []store.Evaluation, finalized string) {
	t.Helper()
	out := t.TempDir()
	for _, f := range fs {
		id := strconv.FormatInt(f.Trial.ID, 10)
		path := store.ModelFile(store.ModelDir(db), f.Trial.Key)
		saved, err := model.Load(path)
		if err != nil {
			t.Fatalf("final trial %d: %v", f.Trial.ID, err)
		}
		if !strings.Contains(finalized, "trial "+id+" (") || !strings.Contains(finalized, path) {
			t.Errorf("nas finalize does not say where final trial %d's model file %s is:\n%s", f.Trial.ID, path, finalized)
		}
		code, text, stderr := runNAS(t, "eval", path, "--threads", "1", "--json")
		var r evalReport
		if code != 0 || json.Unmarshal([]byte(text), &r) != nil {
			t.Fatalf("nas eval %s: exit %d: %s%s", path, code, stderr, text)
		}
		if r.TestAcc != f.Result.TestAcc || saved.Meta.TestAcc != f.Result.TestAcc {
			t.Errorf("final trial %d: nas eval gives test accuracy %v, the file says %v, the store %v", f.Trial.ID, r.TestAcc, saved.Meta.TestAcc, f.Result.TestAcc)
		}
		py := filepath.Join(out, "trial"+id)
		if code, _, stderr := runNAS(t, "export", id, "--db", db, "--format", "pytorch", "--out", py); code != 0 {
			t.Fatalf("export %s: exit %d: %s", id, code, stderr)
		}
		got, err := model.Load(py + ".safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Tensors, saved.Tensors) || !reflect.DeepEqual(got.Meta.Norm, saved.Meta.Norm) {
			t.Errorf("export of final trial %d: the weights or normalisation are not the trained ones of %s", f.Trial.ID, path)
		}
		code, text, stderr = runNAS(t, "export", id, "--db", db, "--format", "yaml")
		if code != 0 || !strings.Contains(text, "trained weights and input normalisation of model file "+path) {
			t.Errorf("yaml export of final trial %d: exit %d, %s; want a header naming %s:\n%s", f.Trial.ID, code, stderr, path, text)
		}
	}
	if len(fs) == 0 {
		return
	}
	path := store.ModelFile(store.ModelDir(db), fs[0].Trial.Key)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runNAS(t, "export", strconv.FormatInt(fs[0].Trial.ID, 10), "--db", db, "--format", "pytorch", "--out", filepath.Join(out, "gone"))
	if code != 1 || !strings.Contains(stderr, path) {
		t.Errorf("export of a final trial without its model file: exit %d, stderr %q; want 1 naming %s", code, stderr, path)
	}
}
