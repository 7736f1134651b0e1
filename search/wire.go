package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// RunOptions are the parts of running an experiment that do not change its trials.
type RunOptions struct {
	// Name, if set, is the experiment's name in the store instead of Experiment.Name.
	Name string
	// Workers and Threads override the experiment's parallelism (see Experiment.Parallelism):
	// the search process runs a Worker of that many slots and threads on its own queue.
	Workers, Threads int
	// NoWorkers runs no Worker in the search process: only workers elsewhere (nas worker)
	// train its trials.
	NoWorkers bool
	// Lease is how long the hold on the experiment, and the leases of the process's workers,
	// outlast their last renewal; 0 means DefaultLease.
	Lease time.Duration
	// DataDirs are folders to look for the data set in first (see data.Open).
	DataDirs []string
	// Version is the nas version recorded with the experiment (see store.ThisMachine).
	Version string
	// Progress, if set, is called after every batch of the search (see Config.Progress).
	Progress func(Stats)
	// Training, if set, is called after every training step of every evaluation in flight in
	// this process and once when each evaluation ends, from the goroutine of its worker slot.
	Training func(Training)
	// CheckpointDir and Warn are the Worker's (see Worker.CheckpointDir).
	CheckpointDir string
	// ModelDir is the Worker's (see Worker.ModelDir).
	ModelDir string
	Warn     func(string)
}

// Training is the state of one evaluation in flight.
type Training struct {
	Trial    int64  // the trial's ID in the store
	Name     string // the network's name in the store: experiment/tN for a candidate, the baseline's own
	Baseline bool   // the trial trains a baseline, not a candidate of the search
	Worker   int    // the worker slot that runs it, in [0, K)
	// Fidelity is the trial's training budget in passes over the training split (the store's
	// fidelity: epochs × data fraction).
	Fidelity float64
	Progress evaluator.Progress
	// Done marks the call made when the evaluation has ended.
	Done bool
}

// Summary is what RunExperiment reports: the search's statistics, its Pareto front and the
// baselines, in the objectives' terms. It marshals to JSON for machines.
type Summary struct {
	Experiment string                 `json:"experiment"`
	Resumed    bool                   `json:"resumed"` // an earlier run of it was in the store
	Status     store.ExperimentStatus `json:"status"`
	Objectives []evaluator.Objective  `json:"objectives"`
	Workers    int                    `json:"workers"`
	Threads    int                    `json:"threads"`
	// Stats are in the search's terms: Best holds each objective's least value to minimise, so
	// validation accuracy is negated.
	Stats Stats `json:"stats"`
	// DuplicateRate is the fraction of the trials that re-proposed a network already evaluated.
	DuplicateRate float64 `json:"duplicate_rate"`
	// Front holds the Pareto-optimal candidates at the last fidelity level, best first by the
	// first objective.
	Front     []Entry `json:"front"`
	Baselines []Entry `json:"baselines"`
	// Seeded names the baselines that the space represents exactly and that were put into the
	// first population (see RunExperiment).
	Seeded []string `json:"seeded"`
}

// Entry is one evaluated network of a Summary.
type Entry struct {
	Trial        int              `json:"trial"` // index in the search; -1 for a baseline
	Name         string           `json:"name"`
	Hash         string           `json:"hash"`
	Family       string           `json:"family"`
	Batch        int              `json:"batch"`
	Operator     string           `json:"operator"`
	Status       evaluator.Status `json:"status"`
	Message      string           `json:"message,omitempty"`
	ValAcc       float64          `json:"val_acc"`
	Params       int64            `json:"params"`
	MACs         int64            `json:"macs"`
	LatencyMs    float64          `json:"latency_ms"`
	TrainSeconds float64          `json:"train_seconds"`
}

// ConflictError is returned when the store holds an experiment of the same name that was started
// from another configuration, which a run cannot resume.
type ConflictError struct {
	Name  string
	Parts []string // what differs: space, dataset, recipe, fidelity, strategy, ...
}

// Error says what differs and how to go on.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("experiment %q in the store was started from another configuration (its %s differ); give this run another name to start a new experiment, or restore the configuration to resume it",
		e.Name, strings.Join(e.Parts, ", "))
}

// The operator of a baseline's trial.
const baselineOperator = "baseline"

// RunExperiment runs experiment e as the coordinator of its search, every trial in st, or resumes
// it if st holds an experiment of that name: the trials already stored are reused, the search
// replays to where it stopped and goes on, and ends with the trials of a run that was never
// interrupted.
//
// The coordinator holds the experiment (store.Store.HoldExperiment) while it runs, so that a
// second coordinator of it is refused with a *store.HeldError; a hold that is not renewed
// expires after RunOptions.Lease. It queues each fidelity level of each batch in st in proposal
// order and reads the results in that order, whichever worker finishes first; unless
// RunOptions.NoWorkers is set, a Worker of K slots × T threads in this process trains them, and
// nas worker processes elsewhere may help. The baselines are queued first, at the last
// fidelity level, as trials with operator "baseline", and train beside the first batch. Each baseline that the space represents
// exactly (see space.SearchSpace.Nearest) and that meets the constraints is also put into the
// first population (Config.Initial), up to its size, and listed in Summary.Seeded; its
// evaluation at the last fidelity level comes from the baseline's, and it is trained at the
// lower levels only. A cancelled ctx stops the run; the trials in training are handed back to
// the queue, the experiment is marked interrupted and the Summary covers the completed batches.
func RunExperiment(ctx context.Context, st store.Store, e *Experiment, opt RunOptions) (*Summary, error) {
	var k, t int // no worker in this process
	if !opt.NoWorkers {
		var err error
		if k, t, err = e.Parallelism(opt.Workers, opt.Threads); err != nil {
			return nil, err
		}
	}
	ds, err := data.Open(e.Dataset, opt.DataDirs...)
	if err != nil {
		return nil, err
	}
	if err := e.bind(ds); err != nil {
		return nil, err
	}
	name := orElse(opt.Name, e.Name)
	lease := orElse(opt.Lease, DefaultLease)
	owner := processName()
	exp, resumed, err := openExperiment(ctx, st, e, name, opt.Version, owner, lease)
	if err != nil {
		return nil, err
	}

	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var background sync.WaitGroup
	defer background.Wait()
	background.Go(func() {
		for sleep(ctx, lease/3) == nil {
			if err := st.HoldExperiment(ctx, exp.ID, owner, lease); err != nil && ctx.Err() == nil {
				stop(fmt.Errorf("lost the hold on experiment %q: %w", name, err))
			}
		}
	})
	q := &storeQueue{st: st, e: e, exp: exp.ID, name: name, last: e.lastFidelity(),
		latency: slices.Contains(e.Objectives, evaluator.Latency), rows: map[rowKey][]int64{}}
	err = q.prepare(ctx)
	if err == nil && k > 0 {
		w := &Worker{Store: st, Experiment: name, Slots: k, Threads: t, Lease: lease, Version: opt.Version,
			Training: opt.Training, CheckpointDir: opt.CheckpointDir, ModelDir: opt.ModelDir, Warn: opt.Warn,
			datasets: map[string]*data.Dataset{e.Dataset: ds}}
		workers, stopWorkers := context.WithCancel(ctx)
		defer stopWorkers()
		background.Go(func() {
			if err := w.Run(workers); err != nil {
				stop(fmt.Errorf("worker: %w", err))
			}
		})
	}
	initial, seeded := e.seeds()
	sum := &Summary{Experiment: name, Resumed: resumed, Objectives: e.Objectives, Workers: k, Threads: t, Seeded: seeded}
	var baselines []int64
	if err == nil {
		baselines, err = q.queueBaselines(ctx)
	}
	var res *Result[space.Genome]
	if err == nil {
		res, err = RunQueued(ctx, Space[space.Genome](e.Space), Queue[space.Genome](q), Config[space.Genome]{
			Strategy: e.Strategy, Seed: e.Seed, Objectives: len(e.Objectives), Budget: e.Evaluations,
			MaxTime: e.MaxTime, Workers: 1, Threads: 1, Fidelities: e.Fidelity.Levels, Eta: e.Fidelity.Eta,
			Initial: initial, Progress: opt.Progress,
		})
	}
	if err == nil {
		sum.Baselines, err = q.baselines(ctx, baselines)
	}
	sum.Status = store.ExperimentDone
	switch {
	case parent.Err() != nil:
		sum.Status, err = store.ExperimentInterrupted, parent.Err()
	case ctx.Err() != nil:
		sum.Status, err = store.ExperimentFailed, context.Cause(ctx)
	case err != nil:
		sum.Status = store.ExperimentFailed
	}
	stop(nil) // the workers hand back what they hold, and the hold is no longer renewed
	background.Wait()
	var held *store.HeldError
	if !errors.As(err, &held) { // a coordinator that lost its hold writes nothing more
		keep := context.WithoutCancel(ctx)
		if serr := st.SetExperimentStatus(keep, exp.ID, sum.Status); serr != nil && err == nil {
			err = serr
		}
		if rerr := st.ReleaseExperiment(keep, exp.ID, owner); rerr != nil && err == nil {
			err = rerr
		}
	}
	if res != nil {
		sum.Stats, sum.DuplicateRate = res.Stats, res.Stats.DuplicateRate()
		sum.Front = q.front(res)
	}
	return sum, err
}

// bind binds the space to the data set's images, checks that the baselines fit them, and
// constrains the space.
func (e *Experiment) bind(ds *data.Dataset) error {
	in, classes := space.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}, ds.Train.Classes
	if b := e.Space.Input(); b != (space.Shape{}) && (b != in || e.Space.Classes() != classes) {
		return &space.ConfigError{File: e.File, Field: "dataset", Msg: fmt.Sprintf("%s has %v images in %d classes, but the space %s is written for %v in %d", ds.Name, in, classes, e.SpaceFile, b, e.Space.Classes())}
	}
	if err := e.Space.Bind(in, classes); err != nil {
		return err
	}
	for _, b := range e.Baselines {
		if b.Arch.Input != in || b.Arch.Classes != classes {
			return &space.ConfigError{File: b.File, Msg: fmt.Sprintf("%s takes %v images in %d classes; data set %s has %v in %d", b.Arch.Name, b.Arch.Input, b.Arch.Classes, ds.Name, in, classes)}
		}
	}
	return e.constrain()
}

// seeds returns the genomes of the baselines that the bound, constrained space represents
// exactly and that meet its constraints, as many as the first population holds, in the order of
// the baselines, and the baselines' names.
func (e *Experiment) seeds() ([]space.Genome, []string) {
	var gs []space.Genome
	var names []string
	for _, b := range e.Baselines {
		if len(gs) == e.Strategy.population() {
			break
		}
		g, exact := e.Space.Nearest(b.Arch)
		if !exact || e.Space.Check(g) != nil {
			continue
		}
		if k := e.Space.Key(g); k != b.Hash {
			// Nearest's exactness is this equality; the store's keys rest on it.
			panic(fmt.Sprintf("search: baseline %s hashes to %s, its genome to %s", b.Arch.Name, b.Hash, k))
		}
		gs, names = append(gs, g), append(names, b.Arch.Name)
	}
	return gs, names
}

// constrain sets the constraints of the bound space and checks that some of its networks meet
// them. The search would find out at its first proposal; finding out now spares the baselines'
// training.
func (e *Experiment) constrain() error {
	e.Space.Budget = e.Constraints
	rng := rand.New(rand.NewSource(int64(e.Seed)))
	var last error
	for range DefaultMaxTries {
		if last = e.Space.Check(e.Space.Random(rng)); last == nil {
			return nil
		}
	}
	return &ConstraintError{Tries: DefaultMaxTries, Err: last}
}

// The line that follows the configuration in the store, with the parts of the fingerprint.
const fingerprintPrefix = "# nas search fingerprint: "

// openExperiment returns the experiment called name in st, checking that e's fingerprint agrees
// with its own, or creates it, and makes owner its coordinator for lease. The stored
// configuration is e's YAML followed by a comment line holding the fingerprint. It returns a
// *store.HeldError, having written nothing, if another coordinator holds the experiment.
func openExperiment(ctx context.Context, st store.Store, e *Experiment, name, version, owner string, lease time.Duration) (store.Experiment, bool, error) {
	for {
		exp, err := st.Experiment(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			exp = store.Experiment{Name: name, Config: e.storedConfig(), Seed: e.Seed, Strategy: e.Strategy.Name(),
				Machine: store.ThisMachine(version), Coordinator: store.Hold{Owner: owner, Until: time.Now().Add(lease)}}
			exp.ID, err = st.CreateExperiment(ctx, exp)
			if errors.Is(err, store.ErrExists) {
				continue // another coordinator created it a moment ago
			}
			return exp, false, err
		}
		if err != nil {
			return exp, false, err
		}
		if parts := fingerprintDiff(exp.Config, e.fingerprint()); len(parts) > 0 {
			return exp, true, &ConflictError{Name: name, Parts: parts}
		}
		if err := holdExperiment(ctx, st, exp.ID, owner, lease); err != nil {
			return exp, true, err
		}
		return exp, true, st.SetExperimentStatus(ctx, exp.ID, store.ExperimentRunning)
	}
}

// holdExperiment takes the hold on experiment id for owner. A hold of a coordinator that was
// killed on this machine is taken over at once rather than when it expires, and the trials its
// workers held are handed back.
func holdExperiment(ctx context.Context, st store.Store, id int64, owner string, lease time.Duration) error {
	err := st.HoldExperiment(ctx, id, owner, lease)
	var held *store.HeldError
	if errors.As(err, &held) && deadHere(held.Hold.Owner) {
		if err := takeOver(ctx, st, id, held.Hold.Owner); err != nil {
			return err
		}
		err = st.HoldExperiment(ctx, id, owner, lease)
	}
	return err
}

// takeOver ends the hold of dead, a coordinator that no longer runs, on experiment id, and hands
// the trials its workers held back to the queue.
func takeOver(ctx context.Context, st store.Store, id int64, dead string) error {
	if err := st.ReleaseExperiment(ctx, id, dead); err != nil {
		return err
	}
	trials, err := st.Trials(ctx, id)
	if err != nil {
		return err
	}
	for _, t := range trials {
		if t.Status == store.TrialRunning && t.LeaseOwner == dead {
			err := st.FinishTrial(ctx, t.ID, dead, evaluator.Result{Status: evaluator.StatusCancelled})
			if err != nil && !errors.Is(err, store.ErrLeaseLost) {
				return err
			}
		}
	}
	return nil
}

// storedConfig returns the configuration the store keeps: the YAML as given, then a comment line
// holding the fingerprint.
func (e *Experiment) storedConfig() []byte {
	line, err := json.Marshal(e.fingerprint()) // a map marshals with sorted keys
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	config := append(slices.Clip(bytes.TrimRight(e.Config, "\n")), '\n')
	config = append(append(config, fingerprintPrefix...), line...)
	return append(config, '\n')
}

// fingerprintDiff returns the parts of fingerprint fp that differ from those stored in config,
// sorted; all of them if config has none.
func fingerprintDiff(config []byte, fp map[string]string) []string {
	var stored map[string]string
	lines := bytes.Split(bytes.TrimRight(config, "\n"), []byte("\n"))
	if last, ok := bytes.CutPrefix(lines[len(lines)-1], []byte(fingerprintPrefix)); ok {
		_ = json.Unmarshal(last, &stored) // a damaged line differs everywhere
	}
	var parts []string
	for k, v := range fp {
		if stored[k] != v {
			parts = append(parts, k)
		}
	}
	sort.Strings(parts)
	return parts
}

// storeQueue is the search's Queue over a store: outcomes are looked up in the store's
// evaluation cache, and each fidelity level of a batch is queued as trials of the experiment,
// in proposal order, for workers to train; their results are read back in that order.
type storeQueue struct {
	st      store.Store
	e       *Experiment
	exp     int64
	name    string  // the experiment's name in the store
	last    float64 // the last fidelity level
	latency bool    // latency is an objective, so it is measured at every level

	// rows holds the IDs of the trials that earlier runs of the experiment queued, by what
	// they are, not yet matched by a trial of this run: a matched trial is not queued again.
	// A trial that ended in a transient error (not cached) is left out, to be tried again.
	rows map[rowKey][]int64
}

// rowKey identifies a trial of an experiment, up to its repetitions.
type rowKey struct {
	generation int
	operator   string
	key        store.EvalKey
}

func specKey(s store.TrialSpec) rowKey { return rowKey{s.Generation, s.Operator, s.Key} }

// prepare stores the recipes of the experiment's fidelity levels, which workers read, and
// loads the trials of earlier runs.
func (q *storeQueue) prepare(ctx context.Context) error {
	levels := slices.Concat([]float64{0}, q.e.Fidelity.Levels)
	for _, l := range levels {
		r := q.e.RecipeAt(l)
		js, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := q.st.PutRecipe(ctx, store.Recipe{Hash: r.Hash(), JSON: js}); err != nil {
			return err
		}
	}
	trials, err := q.st.Trials(ctx, q.exp)
	if err != nil {
		return err
	}
	evs, err := q.st.Evaluations(ctx, q.exp)
	if err != nil {
		return err
	}
	failed := map[int64]bool{}
	for _, ev := range evs {
		failed[ev.Trial.ID] = ev.Result.Status == evaluator.StatusError
	}
	for _, t := range trials {
		if !failed[t.ID] {
			k := specKey(t.TrialSpec)
			q.rows[k] = append(q.rows[k], t.ID)
		}
	}
	return nil
}

// key returns the store's key of evaluating the network hash at fidelity level fid. Its
// fidelity is the training budget in passes over the training split (epochs × data fraction),
// so that the same training has one key whichever field an experiment's levels vary.
func (q *storeQueue) key(hash string, fid float64) store.EvalKey {
	r := q.e.RecipeAt(fid)
	return store.EvalKey{ArchHash: hash, Dataset: q.e.Dataset, RecipeHash: r.Hash(),
		Fidelity: float64(r.Epochs) * r.DataFraction, Seed: q.e.Seed}
}

// Lookup returns the cached outcome of the network key at fidelity level fid.
func (q *storeQueue) Lookup(ctx context.Context, key string, fid float64) (Outcome, bool, error) {
	r, ok, err := q.st.Lookup(ctx, q.key(key, fid))
	if err != nil || !ok {
		return Outcome{}, false, err
	}
	return q.outcome(r), true, nil
}

// EvaluateLevel queues the trials of a level and returns the outcomes of those to be trained.
func (q *storeQueue) EvaluateLevel(ctx context.Context, trials []Trial[space.Genome]) ([]Outcome, error) {
	specs := make([]store.TrialSpec, len(trials))
	known := make([]*evaluator.Result, len(trials))
	for i, t := range trials {
		specs[i] = store.TrialSpec{Key: q.key(t.Key, t.Fidelity), Generation: t.Batch, Parents: t.Parents,
			Operator: t.Operator, Latency: t.Fidelity == q.last || q.latency}
		switch {
		case t.Source == Trained:
			arch, err := q.candidate(t.Genome, t.Request.Trial)
			if err != nil {
				return nil, err
			}
			if err := q.putArch(ctx, arch, t.Key); err != nil {
				return nil, err
			}
		case t.Outcome.Detail != nil:
			if r := t.Outcome.Detail.(evaluator.Result); r.Status == evaluator.StatusError {
				known[i] = &r // not cached, so not to be found by the queue: recorded as it is
			}
		}
	}
	evs, err := q.run(ctx, specs, known)
	if err != nil {
		return nil, err
	}
	var outs []Outcome
	for i, t := range trials {
		if t.Source == Trained {
			outs = append(outs, q.outcome(evs[i].Result))
		}
	}
	return outs, nil
}

// putArch stores arch, whose hash must be hash.
func (q *storeQueue) putArch(ctx context.Context, arch *space.Arch, hash string) error {
	rec, err := store.ArchOf(arch)
	if err != nil {
		return err
	}
	if rec.Hash != hash {
		panic(fmt.Sprintf("search: trial key %s, but its network hashes to %s", hash, rec.Hash))
	}
	return q.st.PutArch(ctx, rec)
}

// run queues the trials specs and returns their evaluations in order once every one is finished.
func (q *storeQueue) run(ctx context.Context, specs []store.TrialSpec, known []*evaluator.Result) ([]store.Evaluation, error) {
	ids, err := q.queue(ctx, specs, known)
	if err != nil {
		return nil, err
	}
	return q.wait(ctx, ids)
}

// queue queues the trials specs, in order, unless an earlier run queued them, and returns their
// IDs. A trial whose result is known to be a transient error is recorded with it instead of
// being queued.
func (q *storeQueue) queue(ctx context.Context, specs []store.TrialSpec, known []*evaluator.Result) ([]int64, error) {
	ids := make([]int64, len(specs))
	var add []int // indices in specs of trials to add, in order
	for i, s := range specs {
		k := specKey(s)
		if rows := q.rows[k]; len(rows) > 0 {
			ids[i], q.rows[k] = rows[0], rows[1:]
			continue
		}
		add = append(add, i)
	}
	for len(add) > 0 {
		n := 0
		for n < len(add) && known[add[n]] == nil {
			n++
		}
		if n == 0 {
			i := add[0]
			id, err := q.st.RecordTrial(ctx, q.exp, specs[i], *known[i])
			if err != nil {
				return nil, err
			}
			ids[i], add = id, add[1:]
			continue
		}
		batch := make([]store.TrialSpec, n)
		for j, i := range add[:n] {
			batch[j] = specs[i]
		}
		got, err := q.st.AddTrials(ctx, q.exp, batch)
		if err != nil {
			return nil, err
		}
		for j, i := range add[:n] {
			ids[i] = got[j]
		}
		add = add[n:]
	}
	return ids, nil
}

// wait returns the evaluations of the trials ids, in order, once every one is finished.
func (q *storeQueue) wait(ctx context.Context, ids []int64) ([]store.Evaluation, error) {
	return waitEvaluations(ctx, q.st, ids)
}

// waitEvaluations returns the evaluations of the trials ids of st, in order, once every one is
// finished.
func waitEvaluations(ctx context.Context, st store.Store, ids []int64) ([]store.Evaluation, error) {
	evs := make([]store.Evaluation, len(ids))
	delay := pollMin
	for i := 0; i < len(ids); {
		ev, err := st.Evaluation(ctx, ids[i])
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			delay = min(2*delay, pollMax)
			continue
		case err != nil:
			return nil, err
		}
		evs[i], delay = ev, pollMin
		i++
	}
	return evs, nil
}

// candidate decodes g, the genome of trial, and names it after the trial.
func (q *storeQueue) candidate(g space.Genome, trial int) (*space.Arch, error) {
	a, err := q.e.Space.Decode(g)
	if err != nil {
		return nil, err
	}
	a.Name = fmt.Sprintf("%s/t%d", q.name, trial)
	return a, nil
}

// outcome returns the search's view of a result: its objectives, or why it failed.
func (q *storeQueue) outcome(r evaluator.Result) Outcome {
	o := Outcome{Detail: r}
	if r.Status != evaluator.StatusOK {
		o.Failure = string(r.Status) + ": " + r.Message
		return o
	}
	for _, ob := range q.e.Objectives {
		o.Objectives = append(o.Objectives, ob.Cost(r))
	}
	return o
}

// queueBaselines queues the baselines at the last fidelity level, ahead of the search's trials
// but without waiting for them, so that no worker idles while a baseline trains, and returns
// their trial IDs.
func (q *storeQueue) queueBaselines(ctx context.Context) ([]int64, error) {
	bs := q.e.Baselines
	specs := make([]store.TrialSpec, len(bs))
	for i, b := range bs {
		specs[i] = store.TrialSpec{Key: q.key(b.Hash, q.last), Operator: baselineOperator, Latency: true}
		if err := q.putArch(ctx, b.Arch, b.Hash); err != nil {
			return nil, err
		}
	}
	return q.queue(ctx, specs, make([]*evaluator.Result, len(bs)))
}

// baselines returns the entries of the baselines, queued as trials ids, once all are evaluated.
func (q *storeQueue) baselines(ctx context.Context, ids []int64) ([]Entry, error) {
	bs := q.e.Baselines
	evs, err := q.wait(ctx, ids)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, len(bs))
	for i, b := range bs {
		entries[i] = entry(-1, b.Arch, b.Hash, 0, baselineOperator, evs[i].Result)
	}
	return entries, nil
}

// front returns the entries of the front of res, best first by the first objective.
func (q *storeQueue) front(res *Result[space.Genome]) []Entry {
	idx := slices.Clone(res.Front)
	sort.SliceStable(idx, func(a, b int) bool {
		return res.Trials[idx[a]].Outcome.Objectives[0] < res.Trials[idx[b]].Outcome.Objectives[0]
	})
	entries := make([]Entry, len(idx))
	for i, j := range idx {
		tr := res.Trials[j]
		arch, err := q.candidate(tr.Genome, tr.Request.Trial)
		if err != nil {
			panic("search: a trial's genome no longer decodes: " + err.Error())
		}
		entries[i] = entry(tr.Request.Trial, arch, tr.Key, tr.Batch, tr.Operator, tr.Outcome.Detail.(evaluator.Result))
	}
	return entries
}

func entry(trial int, a *space.Arch, hash string, batch int, op string, r evaluator.Result) Entry {
	return Entry{
		Trial: trial, Name: a.Name, Hash: hash, Family: a.FamilySummary(), Batch: batch, Operator: op,
		Status: r.Status, Message: r.Message, ValAcc: r.ValAcc, Params: r.Params, MACs: r.MACs,
		LatencyMs: r.LatencyB1Ms, TrainSeconds: r.TrainSeconds,
	}
}
