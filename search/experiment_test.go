package search

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
)

// experimentDir is where the experiments of configs/search live; the relative paths in them
// resolve from here.
const experimentDir = "../configs/search"

// validExperiment is a complete experiment that the error cases below break one field at a time.
const validExperiment = `name: probe
space: ../spaces/fashion_small.yaml
dataset: synthetic
recipe:
  epochs: 2
  data_fraction: 0.1
fidelity:
  by: epochs
  levels: [1, 2]
  eta: 2
strategy:
  name: regevo
  population: 6
  sample: 3
  batch: 2
objectives: [val_acc, params]
constraints:
  max_params: 50k
  max_macs: 2.5M
  max_train_memory: 256Mi
budget:
  evaluations: 20
  time: 90s
seed: 7
parallel:
  workers: 1
  threads: 1
baselines:
  - ../baselines/small/nin_small_mnist.yaml
`

func parseProbe(t *testing.T, yaml string) (*Experiment, error) {
	t.Helper()
	return ParseExperiment([]byte(yaml), filepath.Join(experimentDir, "probe.yaml"))
}

func TestEveryShippedExperimentParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(experimentDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiments in %s: %v", experimentDir, err)
	}
	for _, f := range files {
		e, err := LoadExperiment(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if e.Space == nil || len(e.Objectives) == 0 || e.Evaluations == 0 || e.Objectives[0] != evaluator.ValAcc {
			t.Errorf("%s: incomplete experiment %+v", f, e)
		}
		if e.Space.Input() == (space.Shape{}) {
			t.Errorf("%s: the space does not say which images it is for", f)
		} else if err := e.constrain(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestExperimentFieldsAreRead(t *testing.T) {
	e, err := parseProbe(t, validExperiment)
	if err != nil {
		t.Fatal(err)
	}
	want := RegEvo{Population: 6, Sample: 3, Batch: 2}
	switch {
	case e.Name != "probe" || e.Dataset != "synthetic" || e.Seed != 7:
		t.Errorf("name %q, dataset %q, seed %d", e.Name, e.Dataset, e.Seed)
	case e.Strategy != want:
		t.Errorf("strategy %+v, want %+v", e.Strategy, want)
	case e.Recipe.Epochs != 2 || e.Recipe.DataFraction != 0.1 || e.Recipe.Batch != 128:
		t.Errorf("recipe %+v: want the inline fields over the defaults", e.Recipe)
	case e.Constraints != (space.Budget{MaxParams: 50_000, MaxMACs: 2_500_000, MaxTrainMemory: 256 << 20, Batch: 128}):
		t.Errorf("constraints %+v", e.Constraints)
	case e.Evaluations != 20 || e.MaxTime.Seconds() != 90 || e.Workers != 1 || e.Threads != 1:
		t.Errorf("budget %d, %v, parallel %d×%d", e.Evaluations, e.MaxTime, e.Workers, e.Threads)
	case len(e.Baselines) != 1 || e.Baselines[0].Arch.Name != "nin_small_mnist" || len(e.Baselines[0].Hash) != 64:
		t.Errorf("baselines %+v", e.Baselines)
	}
	if r := e.RecipeAt(1); r.Epochs != 1 || r.DataFraction != 0.1 {
		t.Errorf("the recipe of level 1 trains %d epochs on %v", r.Epochs, r.DataFraction)
	}
}

func TestStrategyParametersDefaultToNewStrategy(t *testing.T) {
	yaml := strings.Replace(validExperiment, "  population: 6\n  sample: 3\n  batch: 2\n", "", 1)
	e, err := parseProbe(t, strings.Replace(yaml, "evaluations: 20", "evaluations: 40", 1))
	if err != nil {
		t.Fatal(err)
	}
	if def, _ := NewStrategy("regevo"); e.Strategy != def {
		t.Errorf("strategy %+v, want the defaults %+v", e.Strategy, def)
	}
}

func TestRecipeFileIsTheBaseOfTheInlineRecipe(t *testing.T) {
	yaml := strings.Replace(validExperiment, "recipe:\n", "recipe_file: ../recipes/standard.yaml\nrecipe:\n", 1)
	yaml = strings.Replace(yaml, "  epochs: 2\n", "  epochs: 2\n  val_fraction: 0.1\n", 1)
	e, err := parseProbe(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	// standard.yaml sets Nesterov momentum and label smoothing, which the inline recipe keeps.
	if !e.Recipe.Nesterov || e.Recipe.LabelSmoothing != 0.1 || e.Recipe.Epochs != 2 || e.Recipe.ValFraction != 0.1 {
		t.Errorf("recipe %+v", e.Recipe)
	}
}

func TestExperimentMistakesNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, old, new string
		field, msg     string
	}{
		{"an unknown key", "seed: 7", "sead: 7", "sead", "valid fields here"},
		{"a value of the wrong type", "seed: 7", "seed: seven", "seed", "must be"},
		{"no space", "space: ../spaces/fashion_small.yaml\n", "", "space", "is required"},
		{"a space file that is missing", "fashion_small.yaml", "nowhere.yaml", "space", "cannot be read"},
		{"no data set", "dataset: synthetic\n", "", "dataset", "is required"},
		{"a recipe out of range", "epochs: 2", "epochs: 0", "recipe.epochs", "between 1 and 10000"},
		{"a recipe without validation", "data_fraction: 0.1", "data_fraction: 0.1\n  val_fraction: 0", "recipe.val_fraction", "validation split"},
		{"a recipe with threads", "data_fraction: 0.1", "data_fraction: 0.1\n  threads: 2", "recipe.threads", "parallel.threads"},
		{"a missing recipe file", "recipe:\n", "recipe_file: none.yaml\nrecipe:\n", "recipe_file", "cannot be read"},
		{"an unknown fidelity field", "by: epochs", "by: minutes", "fidelity.by", `"epochs" or "data_fraction"`},
		{"decreasing levels", "levels: [1, 2]", "levels: [2, 1]", "fidelity.levels[1]", "must exceed"},
		{"fractional epochs", "levels: [1, 2]", "levels: [0.5, 2]", "fidelity.levels[0]", "integer number of epochs"},
		{"one level", "levels: [1, 2]", "levels: [2]", "fidelity.levels", "at least two"},
		{"a level that breaks the recipe", "  data_fraction: 0.1\n", "  data_fraction: 0.1\n  warmup_epochs: 2\n", "fidelity.levels[0]", "warmup_epochs"},
		{"an unknown strategy", "name: regevo", "name: cmaes", "strategy.name", "random, ga, nsga2, regevo"},
		{"a parameter of another strategy", "sample: 3", "sample: 3\n  pop_size: 4", "strategy.pop_size", "is not a parameter of regevo; its parameters are batch, population, sample"},
		{"a parameter out of range", "sample: 3", "sample: 9", "strategy.sample", "sample is 9; it must be in [1, population] = [1, 6]"},
		{"no objectives", "objectives: [val_acc, params]", "objectives: []", "objectives", "at least one of val_acc, macs, params, latency"},
		{"an unknown objective", "objectives: [val_acc, params]", "objectives: [val_acc, flops]", "objectives[1]", `(got "flops")`},
		{"an objective twice", "objectives: [val_acc, params]", "objectives: [params, params]", "objectives[1]", "twice"},
		{"a quantity with an unknown suffix", "max_macs: 2.5M", "max_macs: 2.5X", "constraints.max_macs", "suffix k, M, G"},
		{"a fractional quantity", "max_params: 50k", "max_params: 1.5", "constraints.max_params", "whole number"},
		{"a negative quantity", "max_params: 50k", "max_params: -5", "constraints.max_params", "at least 0"},
		{"a budget below the population", "evaluations: 20", "evaluations: 8", "budget.evaluations", "between 9, the trials of the initial population of 6, and 1000000"},
		{"a negative time", "time: 90s", "time: -1m", "budget.time", "between 0 (none) and 8760h0m0s"},
		{"negative workers", "workers: 1", "workers: -1", "parallel.workers", "at least 1"},
		{"a missing baseline", "nin_small_mnist.yaml", "nin_huge.yaml", "baselines[0]", "cannot be read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(validExperiment, c.old) {
				t.Fatalf("the valid experiment has no %q", c.old)
			}
			_, err := parseProbe(t, strings.Replace(validExperiment, c.old, c.new, 1))
			var ce *space.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *space.ConfigError", err)
			}
			if !strings.HasSuffix(ce.File, "probe.yaml") || ce.Line == 0 || ce.Field != c.field || !strings.Contains(ce.Msg, c.msg) {
				t.Errorf("err = %v\nwant probe.yaml:LINE:COL: field %q: ...%s...", err, c.field, c.msg)
			}
		})
	}
}

func TestMistakesInNamedFilesNameThoseFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("space.yaml", "name: broken\nstages:\n  - depth: {min: 3, max: 1}\n")
	write("recipe.yaml", "epochs: 1\nlr: -1\n")
	write("arch.yaml", "input: [1, 28, 28]\nclasses: 10\nstages:\n  - {family: basic, blockz: 2}\n")
	configs, err := filepath.Abs(filepath.Join(experimentDir, ".."))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.ReplaceAll(validExperiment, "../", configs+"/")
	cases := []struct{ name, old, new, file string }{
		{"space", configs + "/spaces/fashion_small.yaml", "space.yaml", "space.yaml"},
		{"recipe", "recipe:\n", "recipe_file: recipe.yaml\nrecipe:\n", "recipe.yaml"},
		{"baseline", configs + "/baselines/small/nin_small_mnist.yaml", "arch.yaml", "arch.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write("experiment.yaml", strings.Replace(base, c.old, c.new, 1))
			_, err := LoadExperiment(path)
			var ce *space.ConfigError
			if !errors.As(err, &ce) || ce.File != filepath.Join(dir, c.file) || ce.Line == 0 {
				t.Errorf("err = %v, want a *space.ConfigError in %s with a line", err, c.file)
			}
		})
	}
}

func TestParallelism(t *testing.T) {
	e := &Experiment{Strategy: NSGA2{PopSize: 8, CrossRate: 1, MutRate: 1}}
	cores := min(8, max(1, runtime.GOMAXPROCS(0)))
	k, th, err := e.Parallelism(0, 0)
	if err != nil || k < 1 || th < 1 || k*th > runtime.GOMAXPROCS(0) || k > 8 {
		t.Errorf("machine's choice: %d × %d, %v; want at most %d cores and 8 workers", k, th, err, runtime.GOMAXPROCS(0))
	}
	if k, th, err := e.Parallelism(cores, 0); err != nil || k != cores || th != runtime.GOMAXPROCS(0)/cores {
		t.Errorf("Parallelism(%d, 0) = %d, %d, %v", cores, k, th, err)
	}
	e.Workers, e.Threads = 1, 1
	if k, th, err := e.Parallelism(0, 0); err != nil || k != 1 || th != 1 {
		t.Errorf("the experiment's 1 × 1 gave %d × %d, %v", k, th, err)
	}
	if _, _, err := e.Parallelism(runtime.GOMAXPROCS(0), 2); err == nil || !strings.Contains(err.Error(), "usable cores") {
		t.Errorf("more workers × threads than cores: err = %v", err)
	}
}

func FuzzParseExperiment(f *testing.F) {
	f.Add([]byte(validExperiment))
	files, _ := filepath.Glob(filepath.Join(experimentDir, "*.yaml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name := filepath.Join(experimentDir, "fuzz.yaml")
		e, err := ParseExperiment(data, name)
		if err != nil {
			var ce *space.ConfigError
			if !errors.As(err, &ce) || ce.File == "" {
				t.Fatalf("err = %v (%T), want a *space.ConfigError naming its file", err, err)
			}
			return
		}
		cost := Config[string]{Fidelities: e.Fidelity.Levels, Eta: e.Fidelity.Eta}.cost(e.Strategy.population())
		if e.Name == "" || e.Space == nil || len(e.Objectives) == 0 || e.Evaluations < cost || e.Strategy.validate() != nil {
			t.Fatalf("accepted an incomplete experiment: %+v", e)
		}
		again, err := ParseExperiment(data, name)
		if err != nil || fingerprintDiff(again.storedConfig(), e.fingerprint()) != nil {
			t.Fatalf("parsing twice gave another experiment: %v", err)
		}
	})
}
