package search

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// loadTiny returns configs/search/tiny.yaml, the experiment of the end-to-end tests.
func loadTiny(t *testing.T) *Experiment {
	t.Helper()
	e, err := LoadExperiment(filepath.Join(experimentDir, "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func openStore(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nas.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// storedTrial is what a stored trial says about the search, without ids and times.
type storedTrial struct {
	Generation int
	Operator   string
	Arch       string
	Fidelity   float64
	Parents    string
	Status     evaluator.Status
	ValAcc     float64
	Cached     bool
}

// storedTrials returns the finished trials of experiment name, sorted, and fails the test if
// any trial is not finished.
func storedTrials(t *testing.T, st store.Store, name string) []storedTrial {
	t.Helper()
	done, open := finishedTrials(t, st, name)
	if len(open) > 0 {
		t.Fatalf("%d of %d trials are finished", len(done), len(done)+len(open))
	}
	return done
}

// finishedTrials returns the finished trials of experiment name, sorted, and the others.
func finishedTrials(t *testing.T, st store.Store, name string) ([]storedTrial, []store.Trial) {
	t.Helper()
	ctx := context.Background()
	exp, err := st.Experiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.Trials(ctx, exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Evaluations(ctx, exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	var open []store.Trial
	for _, tr := range all {
		if tr.Status != store.TrialDone {
			open = append(open, tr)
		}
	}
	out := make([]storedTrial, len(evs))
	for i, ev := range evs {
		out[i] = storedTrial{ev.Trial.Generation, ev.Trial.Operator, ev.Trial.Key.ArchHash, ev.Trial.Key.Fidelity,
			strings.Join(ev.Trial.Parents, ","), ev.Result.Status, ev.Result.ValAcc, ev.Cached}
	}
	slices.SortFunc(out, func(a, b storedTrial) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out, open
}

func TestTinyExperimentStoresEveryTrial(t *testing.T) {
	e := loadTiny(t)
	st, path := openStore(t)
	var mu sync.Mutex
	steps := map[string]int{}
	sum, err := RunExperiment(context.Background(), st, e, RunOptions{Workers: 1, Threads: 1, Training: func(tr Training) {
		mu.Lock()
		defer mu.Unlock()
		if !tr.Done {
			steps[tr.Name]++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != store.ExperimentDone || sum.Resumed || sum.Stats.Trials != e.Evaluations {
		t.Fatalf("summary %+v, want a new experiment done with %d trials", sum, e.Evaluations)
	}
	trials := storedTrials(t, st, "tiny")
	if len(trials) != e.Evaluations+len(e.Baselines) {
		t.Fatalf("%d trials stored, want %d evaluations and %d baselines", len(trials), e.Evaluations, len(e.Baselines))
	}
	baselines := 0
	for _, tr := range trials {
		if tr.Operator == baselineOperator {
			baselines++
		}
		if tr.Status != evaluator.StatusOK || tr.Fidelity != 0.05 {
			t.Errorf("stored trial %+v: want ok at fidelity 1 epoch × 0.05 of the data", tr)
		}
	}
	if baselines != len(e.Baselines) || len(sum.Baselines) != baselines || sum.Baselines[0].ValAcc <= 0 {
		t.Errorf("%d baseline trials, summary %+v", baselines, sum.Baselines)
	}
	if len(steps) != e.Evaluations+len(e.Baselines) {
		t.Errorf("training progress came from %d networks, want %d", len(steps), e.Evaluations+len(e.Baselines))
	}
	if len(sum.Front) == 0 || len(sum.Front) != sum.Stats.FrontSize {
		t.Errorf("front of %d entries, stats say %d", len(sum.Front), sum.Stats.FrontSize)
	}

	// Users read the file with SQL: every trial has its row in v_results.
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, named int
	err = db.QueryRow(`SELECT count(*), count(name) FROM v_results WHERE experiment = 'tiny' AND status = 'ok'`).Scan(&rows, &named)
	if err != nil || rows != len(trials) || named != rows {
		t.Errorf("v_results has %d rows (%d named), want %d: %v", rows, named, len(trials), err)
	}
}

// twoNetworks is a search space of two networks, where a search of more than two trials
// re-proposes networks.
const twoNetworks = `name: two
stem:
  - {op: conv, filters: 4, kernel: 3, padding: 1, bn: true, relu: true}
families: [basic]
stages:
  - depth: 1
    width: [4, 8]
    stride: 2
`

func TestReproposedNetworksAreNeverTrainedAgain(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "two.yaml"), []byte(twoNetworks), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `space: two.yaml
dataset: synthetic
recipe: {epochs: 1, batch: 32, data_fraction: 0.02, val_fraction: 0.02}
strategy: {name: random, batch: 3}
objectives: [val_acc, params]
budget: {evaluations: 9}
`
	e := parseExperiment(t, yaml, filepath.Join(dir, "dup.yaml"))
	sum, trained, st := runCountingTrainings(t, e)
	if len(trained) > 2 || sum.Stats.Trained != len(trained) || sum.Stats.Duplicates != 9-len(trained) {
		t.Fatalf("%d trainings of a space of two networks; stats %+v", len(trained), sum.Stats)
	}
	if want := float64(sum.Stats.Duplicates) / 9; sum.DuplicateRate != want {
		t.Errorf("duplicate rate %v, want %v", sum.DuplicateRate, want)
	}
	trials := storedTrials(t, st, "dup")
	cached := 0
	for _, tr := range trials {
		if tr.Cached {
			cached++
		}
	}
	if len(trials) != 9 || cached != sum.Stats.Duplicates {
		t.Errorf("%d trials stored, %d of them from the cache; want 9 and %d duplicates", len(trials), cached, sum.Stats.Duplicates)
	}
}

func TestInterruptedExperimentResumesToTheTrialsOfAnUninterruptedOne(t *testing.T) {
	ctx := context.Background()
	whole, _ := openStore(t)
	if _, err := RunExperiment(ctx, whole, loadTiny(t), RunOptions{Workers: min(2, runtime.GOMAXPROCS(0)), Threads: 1}); err != nil {
		t.Fatal(err)
	}

	st, _ := openStore(t)
	cut, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	finished := 0
	// Stop in the second generation, after the baseline and three candidates.
	sum, err := RunExperiment(cut, st, loadTiny(t), RunOptions{Workers: 1, Threads: 1, Training: func(tr Training) {
		mu.Lock()
		defer mu.Unlock()
		if tr.Done {
			if finished++; finished == 5 {
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) || sum == nil || sum.Status != store.ExperimentInterrupted {
		t.Fatalf("interrupted run: err = %v, summary %+v", err, sum)
	}
	if exp, err := st.Experiment(ctx, "tiny"); err != nil || exp.Status != store.ExperimentInterrupted {
		t.Fatalf("stored status %q, %v; want interrupted", exp.Status, err)
	}
	partial, open := finishedTrials(t, st, "tiny")
	if n := len(partial); n < 4 || n >= 7 {
		t.Fatalf("the interrupted run stored %d trials, want the baseline, the first generation and part of the second", n)
	}
	for _, tr := range open {
		if tr.Status != store.TrialPending || tr.LeaseOwner != "" {
			t.Errorf("after the interruption trial %d is %s under %q, want handed back to the queue", tr.ID, tr.Status, tr.LeaseOwner)
		}
	}

	// The uninterrupted run had two workers of one thread; the resumed one has one of two.
	sum, err = RunExperiment(ctx, st, loadTiny(t), RunOptions{Workers: 1, Threads: min(2, runtime.GOMAXPROCS(0))})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed || sum.Status != store.ExperimentDone || sum.Stats.Reused < len(partial)-1 {
		t.Errorf("resumed run: %+v; want it to reuse the %d stored candidates", sum, len(partial)-1)
	}
	got, want := storedTrials(t, st, "tiny"), storedTrials(t, whole, "tiny")
	if !slices.Equal(got, want) {
		t.Errorf("interrupted and resumed:\n%v\nnever interrupted:\n%v", got, want)
	}
}

func TestAChangedConfigurationIsNotResumed(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	e := loadTiny(t)
	if _, _, err := openExperiment(ctx, st, e, "tiny", "", "me:1", time.Minute); err != nil {
		t.Fatal(err)
	}
	e.Evaluations, e.Workers = 60, 2 // the budget and the parallelism may change
	if _, resumed, err := openExperiment(ctx, st, e, "tiny", "", "me:1", time.Minute); err != nil || !resumed {
		t.Fatalf("resuming with another budget: resumed %v, %v", resumed, err)
	}
	e.Seed++
	e.Objectives = []evaluator.Objective{evaluator.ValAcc, evaluator.Params}
	_, _, err := openExperiment(ctx, st, e, "tiny", "", "me:1", time.Minute)
	var ce *ConflictError
	if !errors.As(err, &ce) || !slices.Equal(ce.Parts, []string{"objectives", "seed"}) {
		t.Fatalf("err = %v, want a ConflictError over objectives and seed", err)
	}
	if _, _, err := openExperiment(ctx, st, e, "tiny-2", "", "me:1", time.Minute); err != nil {
		t.Errorf("another name starts a new experiment: %v", err)
	}
}

func TestAnOverConstrainedSpaceFailsBeforeAnyTraining(t *testing.T) {
	e := loadTiny(t)
	e.Constraints.MaxParams = 100
	st, _ := openStore(t)
	trained := false
	_, err := RunExperiment(context.Background(), st, e, RunOptions{Training: func(Training) { trained = true }})
	var ce *ConstraintError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "over the budget of 100") {
		t.Fatalf("err = %v, want a ConstraintError naming the params budget", err)
	}
	if trained {
		t.Error("a network was trained")
	}
	if exps, err := st.Experiments(context.Background()); err != nil || len(exps) != 0 {
		t.Errorf("the store holds %d experiments, %v; want none", len(exps), err)
	}
}

func TestABaselineForOtherImagesIsAnError(t *testing.T) {
	e := loadTiny(t)
	a, err := space.Load(filepath.Join(experimentDir, "../baselines/small/resnet20_cifar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.Baselines = []Baseline{{File: "resnet20_cifar.yaml", Arch: a}}
	st, _ := openStore(t)
	_, err = RunExperiment(context.Background(), st, e, RunOptions{})
	var ce *space.ConfigError
	if !errors.As(err, &ce) || ce.File != "resnet20_cifar.yaml" || !strings.Contains(ce.Msg, "3×32×32") {
		t.Fatalf("err = %v, want a ConfigError of the baseline's file naming its input", err)
	}
}

func TestSuccessiveHalvingTrainsThePromotedLonger(t *testing.T) {
	yaml := `space: ../spaces/fashion_small.yaml
dataset: synthetic
recipe: {epochs: 2, batch: 32, data_fraction: 0.02, val_fraction: 0.02}
fidelity: {by: epochs, levels: [1, 2], eta: 3}
strategy: {name: random, batch: 3}
objectives: [val_acc, macs]
constraints: {max_params: 30k, max_macs: 2M}
budget: {evaluations: 8}
`
	e := parseExperiment(t, yaml, filepath.Join(experimentDir, "halving.yaml"))
	st, _ := openStore(t)
	sum, err := RunExperiment(context.Background(), st, e, RunOptions{Workers: min(2, runtime.GOMAXPROCS(0)), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := st.Experiment(context.Background(), "halving")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Evaluations(context.Background(), exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Each batch of 3 trains all for one epoch and the best one for two: 2 batches, 8 trials.
	levels := map[float64]int{}
	for _, ev := range evs {
		epochs := len(ev.Result.Epochs)
		levels[ev.Trial.Key.Fidelity]++
		if ev.Trial.Key.Fidelity != float64(epochs)*0.02 || (ev.Result.LatencyB1Ms > 0) != (epochs == 2) {
			t.Errorf("trial at fidelity %v trained %d epochs, latency %v ms; want latency measured at the last level only",
				ev.Trial.Key.Fidelity, epochs, ev.Result.LatencyB1Ms)
		}
	}
	if len(evs) != 8 || levels[0.02] != 6 || levels[0.04] != 2 {
		t.Errorf("%d trials, by fidelity %v; want 6 at one epoch and 2 at two", len(evs), levels)
	}
	for _, f := range sum.Front {
		if f.LatencyMs == 0 {
			t.Errorf("front entry %+v is not from the last level", f)
		}
	}
}

func TestAnExactlyRepresentableBaselineIsSeededAndNotTrainedTwice(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"space.yaml": `name: small
stem:
  - {op: conv, filters: 4, kernel: 3, padding: 1, bn: true, relu: true}
families: [basic]
stages:
  - depth: [1, 2]
    width: [4, 6, 8, 12]
    stride: 2
`,
		// The space's network of one basic block of width 8.
		"in_space.yaml": `name: in_space
input: [1, 28, 28]
classes: 10
stem:
  - {op: conv, filters: 4, kernel: 3, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 1, width: 8, stride: 2}
`,
		// Width 5 is not one of the space's.
		"outside.yaml": `name: outside
input: [1, 28, 28]
classes: 10
stem:
  - {op: conv, filters: 4, kernel: 3, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 1, width: 5, stride: 2}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := `space: space.yaml
dataset: synthetic
recipe: {epochs: 1, batch: 32, data_fraction: 0.02, val_fraction: 0.02}
strategy: {name: random, batch: 3}
objectives: [val_acc, params]
budget: {evaluations: 3}
baselines: [outside.yaml, in_space.yaml]
`
	e := parseExperiment(t, yaml, filepath.Join(dir, "seeded.yaml"))
	sum, trained, st := runCountingTrainings(t, e)
	if !slices.Equal(sum.Seeded, []string{"in_space"}) {
		t.Errorf("seeded %v, want [in_space]", sum.Seeded)
	}
	if trained["in_space"] != 1 || trained["outside"] != 1 || trained["seeded/t0"] != 0 {
		t.Errorf("trainings %v: want each baseline trained once, and trial 0, the seeded baseline, never", trained)
	}
	var seeds []storedTrial
	for _, tr := range storedTrials(t, st, "seeded") {
		if tr.Operator == seedOperator {
			seeds = append(seeds, tr)
		}
	}
	if len(seeds) != 1 || seeds[0].Arch != e.Baselines[1].Hash || seeds[0].Generation != 0 || !seeds[0].Cached {
		t.Errorf("seeded trials %+v: want one of generation 0, the baseline in_space's network, from the cache", seeds)
	}
}

// runCountingTrainings runs experiment e on one worker into a new store, and returns its
// summary, how many trainings of each network name ran, and the store.
func runCountingTrainings(t *testing.T, e *Experiment) (*Summary, map[string]int, *store.DB) {
	t.Helper()
	st, _ := openStore(t)
	var mu sync.Mutex
	trained := map[string]int{}
	sum, err := RunExperiment(context.Background(), st, e, RunOptions{Workers: 1, Threads: 1, Training: func(tr Training) {
		if tr.Done {
			mu.Lock()
			trained[tr.Name]++
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return sum, trained, st
}

// parseExperiment parses the experiment in yaml as if read from the file path.
func parseExperiment(t *testing.T, yaml, path string) *Experiment {
	t.Helper()
	e, err := ParseExperiment([]byte(yaml), path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A search that keeps checkpoints writes one for every training of two epochs after its first
// epoch, removes it once the result is stored, and ends with the trials of a search without.
func TestSearchCheckpointsAreRemovedOnceStored(t *testing.T) {
	yaml := `space: ../spaces/fashion_small.yaml
dataset: synthetic
recipe: {epochs: 2, batch: 32, data_fraction: 0.02, val_fraction: 0.02}
strategy: {name: random, batch: 2}
objectives: [val_acc, macs]
constraints: {max_params: 30k, max_macs: 2M}
budget: {evaluations: 2}
`
	e, err := ParseExperiment([]byte(yaml), filepath.Join(experimentDir, "ckpt.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := openStore(t)
	if _, err := RunExperiment(context.Background(), plain, e, RunOptions{Workers: 1, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	e, _ = ParseExperiment([]byte(yaml), filepath.Join(experimentDir, "ckpt.yaml"))
	st, path := openStore(t)
	dir := store.CheckpointDir(path)
	var seen []string
	_, err = RunExperiment(context.Background(), st, e, RunOptions{Workers: 1, Threads: 1, CheckpointDir: dir,
		Warn: func(msg string) { t.Errorf("warning: %s", msg) },
		Training: func(tr Training) {
			if p := tr.Progress; p.Done && p.Epoch == 1 {
				files, _ := filepath.Glob(filepath.Join(dir, "*-e1.safetensors"))
				seen = append(seen, files...)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Errorf("after the first epoch of each training found checkpoints %v, want one each", seen)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("checkpoints left after the results were stored: %v", left)
	}
	if got, want := storedTrials(t, st, "ckpt"), storedTrials(t, plain, "ckpt"); !slices.Equal(got, want) {
		t.Errorf("with checkpoints:\n%v\nwithout:\n%v", got, want)
	}
}
