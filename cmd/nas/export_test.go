package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
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
		{[]string{"export", "--db", db}, "want one trial number, model file or architecture file, got 0"},
		{[]string{"export", "x", "--db", db}, "open x: no such file"},
		{[]string{"export", "1", "--db", db, "--format", "png"}, `--format "png": want one of yaml, pytorch, onnx`},
		{[]string{"export", "1", "--db", db, "--format", "pytorch"}, "give --out PATH.py"},
		{[]string{"export", "1", "--db", db, "--recipe", filepath.Join(t.TempDir(), "none.yaml")}, "no such file"},
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

// trainCommandOf returns the arguments of the "nas train" line of an export's header.
func trainCommandOf(t *testing.T, yamlText string) []string {
	t.Helper()
	for _, line := range strings.Split(yamlText, "\n") {
		if rest, ok := strings.CutPrefix(line, "#   nas train "); ok {
			return append([]string{"train"}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("no nas train line in\n%s", yamlText)
	return nil
}

// TestExportedTrialReproducesFromTheExportAlone records a training in a database with nas train
// --db, exports its trial as YAML, and runs the training command the export's header gives, with
// the recipe file written beside it: the result is the trial's to the last bit.
func TestExportedTrialReproducesFromTheExportAlone(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	db := filepath.Join(t.TempDir(), "nas.db")
	code, out, stderr := runNAS(t, "train", arch, "--data", "synthetic", "--recipe", recipe, "--seed", "3", "--threads", "2", "--json", "--db", db)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var res evaluator.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// The export goes elsewhere, so that nothing of the original files is at hand.
	os.Remove(recipe)
	exported := filepath.Join(t.TempDir(), "trial.yaml")
	if code, out, stderr := runNAS(t, "export", "1", "--db", db, "--out", exported); code != 0 || out != "" {
		t.Fatalf("export: exit %d, stdout %q: %s", code, out, stderr)
	}
	b, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	args := trainCommandOf(t, string(b))
	want := []string{"train", exported, "--data", "synthetic", "--seed", "3", "--recipe", strings.TrimSuffix(exported, ".yaml") + ".recipe.yaml"}
	if !slices.Equal(args, want) {
		t.Fatalf("the export says to run %q, want %q", args, want)
	}
	code, out, stderr = runNAS(t, append(args, "--json", "--threads", "1")...)
	if code != 0 {
		t.Fatalf("nas %v: exit %d: %s", args, code, stderr)
	}
	var again evaluator.Result
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	if again.ValAcc != res.ValAcc || again.ValLoss != res.ValLoss || len(again.Epochs) != len(res.Epochs) || again.Epochs[0].TrainLoss != res.Epochs[0].TrainLoss {
		t.Errorf("retrained export: val acc %v loss %v; the trial had %v, %v", again.ValAcc, again.ValLoss, res.ValAcc, res.ValLoss)
	}

	// On standard output the recipe comes as a comment, and a wrong --recipe is refused.
	code, out, _ = runNAS(t, "export", "1", "--db", db)
	if code != 0 || !strings.Contains(out, "# with RECIPE.yaml this recipe:\n#\n#   epochs: 2\n") {
		t.Errorf("export to stdout: exit %d, no recipe comment:\n%s", code, out)
	}
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("epochs: 3\n"), 0o644)
	if code, _, stderr := runNAS(t, "export", "1", "--db", db, "--recipe", other); code != 2 || !strings.Contains(stderr, "but the trial was trained under the recipe of hash") {
		t.Errorf("export with another recipe: exit %d: %s", code, stderr)
	}

	// As PyTorch, the trial has the initial weights of its seed, and says so.
	py := filepath.Join(t.TempDir(), "trial.py")
	if code, _, stderr := runNAS(t, "export", "1", "--db", db, "--format", "pytorch", "--out", py); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	f, err := model.Load(strings.TrimSuffix(py, ".py") + ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(py)
	if f.Meta.Recipe != nil || f.Meta.Seed != 3 || !strings.Contains(string(src), "initial ones that nas draws from seed 3") {
		t.Errorf("a trial exported as PyTorch: meta %+v; module header:\n%.400s", f.Meta, src)
	}
}

// TestExportedModelReproducesItsTraining exports a model file that nas train --save wrote as
// YAML and trains it again from the export: same test accuracy.
func TestExportedModelReproducesItsTraining(t *testing.T) {
	saved, res := trainAndSave(t)
	exported := filepath.Join(t.TempDir(), "model.yaml")
	if code, _, stderr := runNAS(t, "export", saved, "--out", exported); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(exported)
	args := trainCommandOf(t, string(b))
	code, out, stderr := runNAS(t, append(args, "--json", "--test", "--threads", "2")...)
	if code != 0 {
		t.Fatalf("nas %v: exit %d: %s", args, code, stderr)
	}
	var again evaluator.Result
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	if again.TestAcc != res.TestAcc || again.ValAcc != res.ValAcc {
		t.Errorf("retrained export: test acc %v, val acc %v; the model had %v, %v", again.TestAcc, again.ValAcc, res.TestAcc, res.ValAcc)
	}
}

// TestExportPyTorchWritesTheModuleAndItsWeights exports a model file and an architecture file as
// PyTorch: the weights beside the module are the model's, or the initial ones of the seed.
func TestExportPyTorchWritesTheModuleAndItsWeights(t *testing.T) {
	saved, _ := trainAndSave(t)
	dir := t.TempDir()
	if code, _, stderr := runNAS(t, "export", saved, "--format", "pytorch", "--out", filepath.Join(dir, "trained")); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	py, err := os.ReadFile(filepath.Join(dir, "trained.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"class Net(nn.Module):", "def build(weights=None):", "Trained by nas on synthetic"} {
		if !strings.Contains(string(py), want) {
			t.Errorf("the module lacks %q", want)
		}
	}
	want, _ := model.Load(saved)
	got, err := model.Load(filepath.Join(dir, "trained.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Tensors, want.Tensors) {
		t.Error("the exported weights are not the model's")
	}

	arch, _ := writeTrainFiles(t)
	if code, _, stderr := runNAS(t, "export", arch, "--format", "pytorch", "--seed", "9", "--out", filepath.Join(dir, "fresh.py")); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	fresh, err := model.Load(filepath.Join(dir, "fresh.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := space.Load(arch)
	net, _ := a.Expand()
	m, err := evaluator.Build(net, 1, nil, 9, 0)
	if err != nil {
		t.Fatal(err)
	}
	initial := m.Weights()
	if fresh.Meta.Recipe != nil || fresh.Meta.Seed != 9 || len(fresh.Tensors) != len(initial) {
		t.Fatalf("fresh export: %d tensors, meta %+v", len(fresh.Tensors), fresh.Meta)
	}
	for _, w := range initial {
		i := slices.IndexFunc(fresh.Tensors, func(t evaluator.Tensor) bool { return t.Name == w.Name })
		if i < 0 || !slices.Equal(fresh.Tensors[i].Data, w.Data) {
			t.Fatalf("tensor %s is not the initial one of seed 9", w.Name)
		}
	}
}

func TestTrialRecipeFromTheStoredConfig(t *testing.T) {
	base := evaluator.DefaultRecipe()
	base.Epochs, base.Batch, base.LR = 4, 32, 0.05
	atOne := base
	atOne.Epochs = 1
	halfData := base
	halfData.DataFraction = 0.5
	trainJSON, _ := json.Marshal(map[string]any{"command": "nas train", "recipe": base})
	search := "name: s\nspace: x.yaml\nrecipe:\n  epochs: 4\n  batch: 32\n  lr: 0.05\nfidelity:\n  by: epochs\n  levels: [1, 4]\n"
	searchByData := "recipe: {epochs: 4, batch: 32, lr: 0.05}\nfidelity: {by: data_fraction, levels: [0.5, 1]}\n"
	for _, c := range []struct {
		name   string
		config string
		want   *evaluator.Recipe
	}{
		{"nas train's JSON", string(trainJSON), &base},
		{"a search at its last level", search, &base},
		{"a search at a lower epoch level", search, &atOne},
		{"a search at a lower data fraction", searchByData, &halfData},
		{"an empty configuration", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := base.Hash()
			if c.want != nil {
				want = c.want.Hash()
			}
			got, err := trialRecipe([]byte(c.config), want, "")
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (c.want == nil) || (got != nil && got.Hash() != want) {
				t.Errorf("recipe %+v, want %+v", got, c.want)
			}
		})
	}
}
