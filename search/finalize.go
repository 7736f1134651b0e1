package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/search/pareto"
	"github.com/gonas/nas/store"
)

// FinalizeOptions say which networks of a search Finalize trains, and how.
type FinalizeOptions struct {
	// Top, if positive, chooses the Top networks best by the search's first objective instead of
	// the Pareto front. Both add the search's baselines.
	Top int
	// Trials, if set, chooses these search trials (store IDs) and nothing else.
	Trials []int64
	// Recipe is the full training recipe; Finalize sets its Test.
	Recipe evaluator.Recipe
	// Seeds trains each network once per seed; empty means the experiment's seed.
	Seeds []uint64
	// Workers and Threads are K trainings at once × T threads each; 0 means the machine's
	// choice. Neither changes a result.
	Workers, Threads int
	// DataDirs are folders to look for the data set in first (see data.Open).
	DataDirs []string
	// CheckpointDir, if set, is where the trainings keep a checkpoint at the end of every epoch,
	// from which a run that was interrupted goes on (see store.CheckpointDir).
	CheckpointDir string
	// ModelDir, if set, is where the trainings keep their model files (see Worker.ModelDir).
	ModelDir string
	// Warn, if set, is told when a checkpoint is refused and its training starts over.
	Warn func(string)
	// Training, if set, is called as Training of RunOptions is.
	Training func(Training)
}

// Final is one chosen network with its final trainings.
type Final struct {
	// Source is the search trial the network was chosen from.
	Source store.Evaluation
	// Trials and Results are the final trials, one per seed in the order of Seeds; a zero
	// trial ID marks a training not done because the run stopped first.
	Trials  []int64
	Results []evaluator.Result
}

// FinalSummary is what Finalize did.
type FinalSummary struct {
	Experiment string
	Seeds      []uint64
	Workers    int
	Threads    int
	Trained    int // trainings run by this call
	Reused     int // trainings found in the store
	Finals     []Final
}

// Finalize trains the chosen networks of the search experiment called name with a full recipe
// and records each training as a trial of phase final of that experiment, linked to the search
// trial it came from. Trainings already in the store are taken from it, so that running
// Finalize again after an interruption goes on where it stopped; with a CheckpointDir, a
// training that was cut off resumes from its last epoch.
func Finalize(ctx context.Context, st store.Store, name string, opt FinalizeOptions) (*FinalSummary, error) {
	exp, err := st.Experiment(ctx, name)
	if err != nil {
		return nil, err
	}
	evs, err := st.Evaluations(ctx, exp.ID)
	if err != nil {
		return nil, err
	}
	chosen, err := choose(exp, evs, opt)
	if err != nil {
		return nil, err
	}
	seeds := opt.Seeds
	if len(seeds) == 0 {
		seeds = []uint64{exp.Seed}
	}
	r := opt.Recipe
	r.Test = true
	if err := r.Validate(); err != nil {
		return nil, err
	}
	sum := &FinalSummary{Experiment: name, Seeds: seeds}
	for _, ev := range chosen {
		sum.Finals = append(sum.Finals, Final{Source: ev, Trials: make([]int64, len(seeds)), Results: make([]evaluator.Result, len(seeds))})
	}
	if len(chosen) == 0 {
		return sum, nil
	}

	// Trainings already recorded, by key and source trial; those an interrupted run queued; and
	// those to queue.
	done := map[finalKey]store.Evaluation{}
	for _, ev := range evs {
		if ev.Trial.Phase == store.PhaseFinal && ev.Result.Status != evaluator.StatusError {
			done[finalKey{ev.Trial.Key, ev.Trial.Source}] = ev
		}
	}
	trials, err := st.Trials(ctx, exp.ID)
	if err != nil {
		return nil, err
	}
	queued := map[finalKey][]int64{}
	for _, t := range trials {
		if t.Phase == store.PhaseFinal && t.Status != store.TrialDone {
			k := finalKey{t.Key, t.Source}
			queued[k] = append(queued[k], t.ID)
		}
	}
	type job struct {
		final, seed int
		spec        store.TrialSpec
	}
	var jobs []job
	var ids []int64 // of the jobs' trials, 0 for one to add
	for i, ev := range chosen {
		for k, seed := range seeds {
			spec := store.TrialSpec{Key: store.EvalKey{ArchHash: ev.Arch.Hash, Dataset: ev.Trial.Key.Dataset,
				RecipeHash: r.Hash(), Fidelity: passes(r), Seed: seed}, Generation: ev.Trial.Generation,
				Operator: finalOperator, Latency: true, Phase: store.PhaseFinal, Source: ev.Trial.ID}
			f := &sum.Finals[i]
			fk := finalKey{spec.Key, spec.Source}
			if d, ok := done[fk]; ok {
				f.Trials[k], f.Results[k] = d.Trial.ID, d.Result
				sum.Reused++
				continue
			}
			var id int64
			if q := queued[fk]; len(q) > 0 {
				id, queued[fk] = q[0], q[1:]
			} else if res, ok, err := st.Lookup(ctx, spec.Key); err != nil {
				return nil, err
			} else if ok {
				ids, err := st.AddTrials(ctx, exp.ID, []store.TrialSpec{spec}) // done at once from the cache
				if err != nil {
					return nil, err
				}
				f.Trials[k], f.Results[k] = ids[0], res
				sum.Reused++
				continue
			}
			jobs = append(jobs, job{final: i, seed: k, spec: spec})
			ids = append(ids, id)
		}
	}
	if len(jobs) == 0 {
		return sum, nil
	}

	k, t, err := finalParallelism(opt.Workers, opt.Threads, len(jobs))
	if err != nil {
		return nil, err
	}
	sum.Workers, sum.Threads = k, t
	ds, err := data.Open(chosen[0].Trial.Key.Dataset, opt.DataDirs...)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := st.PutRecipe(ctx, store.Recipe{Hash: r.Hash(), JSON: js}); err != nil {
		return nil, err
	}
	evs, err = finalTrainings(ctx, st, exp, chosen[0].Trial.Key.Dataset, ds, opt, k, t, func(ctx context.Context) ([]int64, error) {
		var add []store.TrialSpec
		for i, j := range jobs {
			if ids[i] == 0 {
				add = append(add, j.spec)
			}
		}
		added, err := st.AddTrials(ctx, exp.ID, add)
		if err != nil {
			return nil, err
		}
		for i := range ids {
			if ids[i] == 0 {
				ids[i], added = added[0], added[1:]
			}
		}
		return ids, nil
	})
	for i, ev := range evs {
		f := &sum.Finals[jobs[i].final]
		f.Trials[jobs[i].seed], f.Results[jobs[i].seed] = ev.Trial.ID, ev.Result
		sum.Trained++
	}
	return sum, err
}

// finalTrainings holds experiment exp, marked running, while queue queues its final trials and
// a Worker of k slots × t threads in this process trains them (nas worker processes elsewhere
// may help), and returns their evaluations in the order of the IDs queue returned. It gives the
// experiment its status back when they are done, or when ctx is cancelled.
func finalTrainings(ctx context.Context, st store.Store, exp store.Experiment, dsName string, ds *data.Dataset, opt FinalizeOptions,
	k, t int, queue func(context.Context) ([]int64, error)) ([]store.Evaluation, error) {
	owner, lease := processName(), DefaultLease
	if err := holdExperiment(ctx, st, exp.ID, owner, lease); err != nil {
		return nil, err
	}
	status := exp.Status
	if status == store.ExperimentRunning {
		status = store.ExperimentInterrupted // its coordinator is gone, or we would not hold it
	}
	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var background sync.WaitGroup
	background.Go(func() {
		for sleep(ctx, lease/3) == nil {
			if err := st.HoldExperiment(ctx, exp.ID, owner, lease); err != nil && ctx.Err() == nil {
				stop(fmt.Errorf("lost the hold on experiment %q: %w", exp.Name, err))
			}
		}
	})
	var evs []store.Evaluation
	err := st.SetExperimentStatus(ctx, exp.ID, store.ExperimentRunning)
	var ids []int64
	if err == nil {
		ids, err = queue(ctx)
	}
	if err == nil {
		w := &Worker{Store: st, Experiment: exp.Name, Slots: k, Threads: t, Lease: lease, DataDirs: opt.DataDirs,
			Training: opt.Training, CheckpointDir: opt.CheckpointDir, ModelDir: opt.ModelDir, Warn: opt.Warn,
			datasets: map[string]*data.Dataset{dsName: ds}}
		background.Go(func() {
			if err := w.Run(ctx); err != nil {
				stop(fmt.Errorf("worker: %w", err))
			}
		})
		evs, err = waitEvaluations(ctx, st, ids)
	}
	switch {
	case parent.Err() != nil:
		err = parent.Err()
	case ctx.Err() != nil:
		err = context.Cause(ctx)
	}
	stop(nil) // the worker hands back what it holds, and the hold is no longer renewed
	background.Wait()
	var held *store.HeldError
	if !errors.As(err, &held) {
		keep := context.WithoutCancel(ctx)
		err = errors.Join(err, st.SetExperimentStatus(keep, exp.ID, status), st.ReleaseExperiment(keep, exp.ID, owner))
	}
	return evs, err
}

// The operator of a final trial.
const finalOperator = "final"

// finalKey identifies a final training of one search trial.
type finalKey struct {
	key    store.EvalKey
	source int64
}

// passes is the training budget of r in passes over the training split (epochs × data
// fraction): the store's fidelity of a training under r.
func passes(r evaluator.Recipe) float64 { return float64(r.Epochs) * r.DataFraction }

// FinalizeError is a choice of networks that the experiment cannot satisfy.
type FinalizeError struct{ Msg string }

func (e *FinalizeError) Error() string { return e.Msg }

// choose returns the search trials that opt chooses among evs, the experiment's finished
// trials: the given trials; or the Pareto front of the search objectives (or the Top best by
// the first) among the successful trials at the highest fidelity, with the baselines. Each
// network comes once, from its first trial.
func choose(exp store.Experiment, evs []store.Evaluation, opt FinalizeOptions) ([]store.Evaluation, error) {
	byID := map[int64]store.Evaluation{}
	var pool, baselines []store.Evaluation
	var last float64
	for _, ev := range evs {
		if ev.Trial.Phase == store.PhaseSearch && ev.Result.Status == evaluator.StatusOK {
			last = max(last, ev.Trial.Key.Fidelity)
		}
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Trial.Phase != store.PhaseSearch {
			continue
		}
		byID[ev.Trial.ID] = ev
		if ev.Result.Status != evaluator.StatusOK || ev.Trial.Key.Fidelity != last || seen[ev.Arch.Hash] {
			continue
		}
		seen[ev.Arch.Hash] = true
		if ev.Trial.Operator == baselineOperator {
			baselines = append(baselines, ev)
		} else {
			pool = append(pool, ev)
		}
	}
	if len(opt.Trials) > 0 {
		var out []store.Evaluation
		for _, id := range opt.Trials {
			ev, ok := byID[id]
			switch {
			case !ok:
				return nil, &FinalizeError{fmt.Sprintf("trial %d is not a finished search trial of experiment %q (nas show %s lists them)", id, exp.Name, exp.Name)}
			case ev.Result.Status != evaluator.StatusOK:
				return nil, &FinalizeError{fmt.Sprintf("trial %d of experiment %q ended %s (%s): there is no network to train", id, exp.Name, ev.Result.Status, ev.Result.Message)}
			}
			out = append(out, ev)
		}
		return out, nil
	}
	objectives, err := storedObjectives(exp.Config)
	if err != nil {
		return nil, err
	}
	points := make([][]float64, len(pool))
	for i, ev := range pool {
		for _, o := range objectives {
			points[i] = append(points[i], o.Cost(ev.Result))
		}
	}
	var idx []int
	switch {
	case opt.Top > 0:
		for i := range pool {
			idx = append(idx, i)
		}
	case len(pool) > 0:
		idx = slices.Clone(pareto.Fronts(points)[0])
	}
	sort.SliceStable(idx, func(a, b int) bool { return points[idx[a]][0] < points[idx[b]][0] })
	if opt.Top > 0 {
		idx = idx[:min(opt.Top, len(idx))]
	}
	var out []store.Evaluation
	for _, i := range idx {
		out = append(out, pool[i])
	}
	return append(out, baselines...), nil
}

// storedObjectives returns the objectives of the experiment configuration the store keeps.
func storedObjectives(config []byte) ([]evaluator.Objective, error) {
	var f struct {
		Objectives []evaluator.Objective `yaml:"objectives"`
	}
	if err := yaml.Unmarshal(config, &f); err != nil {
		return nil, fmt.Errorf("the stored configuration does not parse: %w", err)
	}
	for _, o := range f.Objectives {
		if !slices.Contains(Objectives, o) {
			return nil, fmt.Errorf("the stored configuration names an unknown objective %q", string(o))
		}
	}
	if len(f.Objectives) == 0 {
		return nil, errors.New("the stored configuration names no objectives")
	}
	return f.Objectives, nil
}

// finalParallelism returns K trainings at once and T threads each for n trainings: workers and
// threads if not zero, else as many trainings as there are jobs and cores, the cores shared
// among them. It returns an error if K·T exceeds the usable cores.
func finalParallelism(workers, threads, n int) (k, t int, err error) {
	cores := runtime.GOMAXPROCS(0)
	k, t = workers, threads
	switch {
	case k == 0 && t == 0:
		k = max(1, min(n, cores))
		t = max(1, cores/k)
	case k == 0:
		k = max(1, min(n, cores/t))
	case t == 0:
		t = max(1, cores/k)
	}
	if k*t > cores {
		return k, t, fmt.Errorf("%d workers × %d threads = %d; this machine has %d usable cores, and workers × threads must not exceed them", k, t, k*t, cores)
	}
	return k, t, nil
}
