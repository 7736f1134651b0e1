package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func TestExportReadsBackAsTheTrialsNetwork(t *testing.T) {
	db := fixtureDB(t)
	r := reportJSON(t, "--db", db)
	for _, c := range r.Candidates {
		code, out, stderr := runNAS(t, "export", strconv.FormatInt(c.Trial, 10), "--db", db)
		if code != 0 {
			t.Fatalf("trial %d: exit %d: %s", c.Trial, code, stderr)
		}
		a, err := space.Parse([]byte(out), "export")
		if err != nil {
			t.Fatalf("trial %d: %v\n%s", c.Trial, err, out)
		}
		if h, err := a.Hash(); err != nil || h != c.Hash {
			t.Errorf("trial %d exports network %s (%v), want %s", c.Trial, h, err, c.Hash)
		}
		if a.Name != c.Name {
			t.Errorf("trial %d exports name %q, want %q", c.Trial, a.Name, c.Name)
		}
		if !strings.HasPrefix(out, "# Trial "+strconv.FormatInt(c.Trial, 10)+" of experiment fixture") {
			t.Errorf("trial %d: export does not say where it comes from:\n%.200s", c.Trial, out)
		}
	}
}

func TestExportRefusesBadInput(t *testing.T) {
	db := fixtureDB(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--db", db}, "want one trial number, got 0"},
		{[]string{"export", "x", "--db", db}, `trial "x": want the positive trial number`},
		{[]string{"export", "0", "--db", db}, `trial "0": want the positive trial number`},
		{[]string{"export", "99", "--db", db}, "has no finished trial 99"},
		{[]string{"export", "1", "--db", filepath.Join(t.TempDir(), "none.db")}, "no database at"},
	} {
		code, _, stderr := runNAS(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestExportedNetworkTrainsToTheStoredResult trains a network, stores it as a trial, exports the
// trial and trains the export with nas train under the same recipe and seed: the results agree
// to the last bit.
func TestExportedNetworkTrainsToTheStoredResult(t *testing.T) {
	dir := t.TempDir()
	recipePath := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(recipePath, []byte("epochs: 2\nbatch: 32\ndata_fraction: 0.03\nval_fraction: 0.05\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe, err := evaluator.LoadRecipe(recipePath)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := space.Load(baselineDir + "small/nin_small_mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	arch.Name = "" // export names it after the experiment and trial
	ds, err := data.Open("synthetic")
	if err != nil {
		t.Fatal(err)
	}
	const seed = 5
	ctx := context.Background()
	res, err := evaluator.Evaluate(ctx, arch, ds, recipe, evaluator.Options{Seed: seed})
	if err != nil || res.Status != evaluator.StatusOK {
		t.Fatalf("training: %v %s %s", err, res.Status, res.Message)
	}

	db := filepath.Join(dir, "nas.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := arch.Hash()
	canon, _ := arch.Canonical()
	js, _ := json.Marshal(canon)
	exp, err := st.CreateExperiment(ctx, store.Experiment{Name: "repro", Strategy: "random"})
	if err == nil {
		err = st.PutArch(ctx, store.Arch{Hash: hash, Params: res.Params, MACs: res.MACs, Family: "mlpconv", JSON: js})
	}
	var id int64
	if err == nil {
		id, err = st.RecordTrial(ctx, exp, store.TrialSpec{Key: store.EvalKey{ArchHash: hash, Dataset: "synthetic",
			RecipeHash: recipe.Hash(), Fidelity: 0.06, Seed: seed}, Operator: "random"}, res)
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	exported := filepath.Join(dir, "trial.yaml")
	if code, out, stderr := runNAS(t, "export", strconv.FormatInt(id, 10), "--db", db, "--out", exported); code != 0 || out != "" {
		t.Fatalf("export: exit %d, stdout %q: %s", code, out, stderr)
	}
	b, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	cmdLine := "nas train " + exported + " --data synthetic --seed 5 --recipe RECIPE.yaml"
	if !strings.Contains(string(b), cmdLine) || !strings.Contains(string(b), "\nname: repro_trial1\n") {
		t.Errorf("export lacks %q or the name repro_trial1:\n%s", cmdLine, b)
	}
	code, out, stderr := runNAS(t, "train", exported, "--data", "synthetic", "--seed", "5", "--recipe", recipePath, "--json")
	if code != 0 {
		t.Fatalf("nas train: exit %d: %s", code, stderr)
	}
	var again evaluator.Result
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	if again.ValAcc != res.ValAcc || again.ValLoss != res.ValLoss || again.Params != res.Params || again.MACs != res.MACs ||
		len(again.Epochs) != len(res.Epochs) {
		t.Fatalf("retrained export: val acc %v loss %v, %d params, %d MACs; the trial had %v, %v, %d, %d",
			again.ValAcc, again.ValLoss, again.Params, again.MACs, res.ValAcc, res.ValLoss, res.Params, res.MACs)
	}
	for i, e := range again.Epochs {
		if e.TrainLoss != res.Epochs[i].TrainLoss {
			t.Errorf("epoch %d: train loss %v, the trial had %v", e.Epoch, e.TrainLoss, res.Epochs[i].TrainLoss)
		}
	}
}
