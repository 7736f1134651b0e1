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

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// RunOptions are the parts of running an experiment that do not change its trials.
type RunOptions struct {
	// Name, if set, is the experiment's name in the store instead of Experiment.Name.
	Name string
	// Workers and Threads override the experiment's parallelism (see Experiment.Parallelism).
	Workers, Threads int
	// DataDirs are folders to look for the data set in first (see data.Open).
	DataDirs []string
	// Version is the nas version recorded with the experiment (see store.ThisMachine).
	Version string
	// Progress, if set, is called after every batch of the search (see Config.Progress).
	Progress func(Stats)
	// Training, if set, is called after every training step of every evaluation in flight and
	// once when each evaluation ends, from the goroutine of its worker.
	Training func(Training)
	// CheckpointDir, if set, is where every training of more than one epoch keeps a checkpoint
	// at the end of each epoch until its result is stored, so that an interrupted run resumes
	// it from there (see store.CheckpointDir).
	CheckpointDir string
	// Warn, if set, is told when a checkpoint is refused and its training starts over.
	Warn func(string)
}

// Training is the state of one evaluation in flight.
type Training struct {
	Trial  int    // the trial's index in the search; -1 for a baseline
	Name   string // the network's name: experiment/tN for a candidate, the baseline's own
	Worker int    // the worker slot that runs it, in [0, K)
	// Fidelity is the trial's fidelity level, 0 when the experiment has one.
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

// RunExperiment runs experiment e with every trial in st, or resumes it if st holds an
// experiment of that name: the trials already stored are reused, the search replays to where
// it stopped and goes on, and ends with the trials of a run that was never interrupted. The
// baselines are evaluated first, at the last fidelity level, as trials with operator
// "baseline". Each baseline that the space represents exactly (see space.SearchSpace.Nearest)
// and that meets the constraints is also put into the first population (Config.Initial), up to
// its size, and listed in Summary.Seeded; its evaluation at the last fidelity level comes from
// the baseline's, and it is trained at the lower levels only. A cancelled ctx stops the run after the evaluations in flight are abandoned; the
// experiment is then marked interrupted and the Summary covers the completed batches.
func RunExperiment(ctx context.Context, st store.Store, e *Experiment, opt RunOptions) (*Summary, error) {
	k, t, err := e.Parallelism(opt.Workers, opt.Threads)
	if err != nil {
		return nil, err
	}
	ds, err := data.Open(e.Dataset, opt.DataDirs...)
	if err != nil {
		return nil, err
	}
	if err := e.bind(ds); err != nil {
		return nil, err
	}
	name := orElse(opt.Name, e.Name)
	exp, resumed, err := openExperiment(ctx, st, e, name, opt.Version)
	if err != nil {
		return nil, err
	}

	tr := &trainer{e: e, name: name, ds: ds, report: opt.Training, last: e.lastFidelity(),
		st: st, checkpoints: opt.CheckpointDir, warn: opt.Warn,
		latency: slices.Contains(e.Objectives, evaluator.Latency)}
	for range k {
		p := parallel.NewPool(t)
		defer p.Close()
		tr.pools = append(tr.pools, p)
	}
	c := &storeCache{st: st, exp: exp.ID, t: tr, unmatched: map[rowKey]int{}}
	if err := c.loadRows(ctx); err != nil {
		return nil, err
	}
	initial, seeded := e.seeds()
	sum := &Summary{Experiment: name, Resumed: resumed, Objectives: e.Objectives, Workers: k, Threads: t, Seeded: seeded}
	sum.Baselines, err = tr.baselines(ctx, c)
	var res *Result[space.Genome]
	if err == nil {
		res, err = Run(ctx, Space[space.Genome](e.Space), tr, c, Config[space.Genome]{
			Strategy: e.Strategy, Seed: e.Seed, Objectives: len(e.Objectives), Budget: e.Evaluations,
			MaxTime: e.MaxTime, Workers: k, Threads: t, Fidelities: e.Fidelity.Levels, Eta: e.Fidelity.Eta,
			Initial: initial, Progress: opt.Progress,
		})
	}
	sum.Status = store.ExperimentDone
	switch {
	case ctx.Err() != nil:
		sum.Status, err = store.ExperimentInterrupted, ctx.Err()
	case err != nil:
		sum.Status = store.ExperimentFailed
	}
	if serr := st.SetExperimentStatus(context.WithoutCancel(ctx), exp.ID, sum.Status); serr != nil && err == nil {
		err = serr
	}
	if res != nil {
		sum.Stats, sum.DuplicateRate = res.Stats, res.Stats.DuplicateRate()
		sum.Front = tr.front(res)
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
// with its own, or creates it. The stored configuration is e's YAML followed by a comment line
// holding the fingerprint.
func openExperiment(ctx context.Context, st store.Store, e *Experiment, name, version string) (store.Experiment, bool, error) {
	exp, err := st.Experiment(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		exp = store.Experiment{Name: name, Config: e.storedConfig(), Seed: e.Seed, Strategy: e.Strategy.Name(), Machine: store.ThisMachine(version)}
		exp.ID, err = st.CreateExperiment(ctx, exp)
		return exp, false, err
	case err != nil:
		return exp, false, err
	}
	if parts := fingerprintDiff(exp.Config, e.fingerprint()); len(parts) > 0 {
		return exp, true, &ConflictError{Name: name, Parts: parts}
	}
	return exp, true, st.SetExperimentStatus(ctx, exp.ID, store.ExperimentRunning)
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

// trainer evaluates an experiment's candidates and baselines: it implements Evaluator.
type trainer struct {
	e       *Experiment
	name    string // the experiment's name in the store
	ds      *data.Dataset
	pools   []*parallel.Pool // one per worker slot
	last    float64          // the last fidelity level
	latency bool             // latency is an objective, so it is measured at every level
	report  func(Training)

	st          store.Store
	checkpoints string // the checkpoint folder; empty for none
	warn        func(string)
}

// Evaluate trains the candidate of req.
func (t *trainer) Evaluate(ctx context.Context, req Request[space.Genome]) (Outcome, error) {
	arch, err := t.candidate(req.Genome, req.Trial)
	if err != nil {
		return Outcome{}, err
	}
	r, err := t.train(ctx, arch, req.Key, req.Fidelity, t.pools[req.Worker], Training{Trial: req.Trial, Name: arch.Name, Worker: req.Worker, Fidelity: req.Fidelity})
	if err != nil {
		return Outcome{}, err
	}
	return t.outcome(r), nil
}

// candidate decodes g, the genome of trial, and names it after the trial.
func (t *trainer) candidate(g space.Genome, trial int) (*space.Arch, error) {
	a, err := t.e.Space.Decode(g)
	if err != nil {
		return nil, err
	}
	a.Name = fmt.Sprintf("%s/t%d", t.name, trial)
	return a, nil
}

// train trains arch, whose hash is hash, at fidelity level fid on pool. A cancelled training is
// an error, never a result: it is redone when the search resumes.
func (t *trainer) train(ctx context.Context, arch *space.Arch, hash string, fid float64, pool *parallel.Pool, tr Training) (evaluator.Result, error) {
	r := t.e.RecipeAt(fid)
	r.Threads = pool.Threads()
	opt := evaluator.Options{Seed: t.e.Seed, Pool: pool, SkipLatency: fid != t.last && !t.latency}
	if cp := t.checkpointer(t.key(hash, fid)); cp != nil && r.Epochs > 1 {
		opt.Checkpoints = cp
	}
	return train(ctx, arch, t.ds, r, opt, t.report, tr)
}

// key returns the store's key of training the network hash at fidelity level fid. Its fidelity
// is the training budget in passes over the training split, so that the same training has one
// key whichever field an experiment's levels vary.
func (t *trainer) key(hash string, fid float64) store.EvalKey {
	r := t.e.RecipeAt(fid)
	return store.EvalKey{ArchHash: hash, Dataset: t.e.Dataset, RecipeHash: r.Hash(), Fidelity: passes(r), Seed: t.e.Seed}
}

// checkpointer returns the checkpoints of the training key, or nil when the run keeps none.
func (t *trainer) checkpointer(key store.EvalKey) *store.FileCheckpoints {
	if t.checkpoints == "" {
		return nil
	}
	return &store.FileCheckpoints{Store: t.st, Dir: t.checkpoints, Key: key, Name: key.ArchHash[:min(12, len(key.ArchHash))], Warn: t.warn}
}

// train trains arch on ds under r with opt, telling report (if set) how tr goes. A cancelled
// training is an error, never a result: it is redone when the run resumes.
func train(ctx context.Context, arch *space.Arch, ds *data.Dataset, r evaluator.Recipe, opt evaluator.Options, report func(Training), tr Training) (evaluator.Result, error) {
	if report != nil {
		opt.Progress = func(p evaluator.Progress) {
			tr.Progress = p
			report(tr)
		}
		defer func() {
			tr.Done = true
			report(tr)
		}()
	}
	res, err := evaluator.Evaluate(ctx, arch, ds, r, opt)
	switch {
	case err != nil:
		return res, fmt.Errorf("%s: %w", arch.Name, err)
	case res.Status == evaluator.StatusCancelled && ctx.Err() != nil:
		return res, ctx.Err()
	case res.Status == evaluator.StatusCancelled:
		return res, fmt.Errorf("%s: training cancelled: %s", arch.Name, res.Message)
	}
	return res, nil
}

// outcome returns the search's view of a result: its objectives, or why it failed.
func (t *trainer) outcome(r evaluator.Result) Outcome {
	o := Outcome{Detail: r}
	if r.Status != evaluator.StatusOK {
		o.Failure = string(r.Status) + ": " + r.Message
		return o
	}
	for _, ob := range t.e.Objectives {
		o.Objectives = append(o.Objectives, ob.Cost(r))
	}
	return o
}

// baselines evaluates the baselines at the last fidelity level, taking what the store has
// cached, and records them as trials; it returns their entries.
func (t *trainer) baselines(ctx context.Context, c *storeCache) ([]Entry, error) {
	bs := t.e.Baselines
	results := make([]evaluator.Result, len(bs))
	specs := make([]store.TrialSpec, len(bs))
	var jobs []int
	for i, b := range bs {
		specs[i] = store.TrialSpec{Key: c.key(b.Hash, t.last), Operator: baselineOperator}
		r, ok, err := c.st.Lookup(ctx, specs[i].Key)
		switch {
		case err != nil:
			return nil, err
		case ok:
			results[i] = r
			if err := c.reuse(ctx, specs[i], r); err != nil {
				return nil, err
			}
		default:
			jobs = append(jobs, i)
		}
	}
	err := trainAll(ctx, t.pools, len(jobs), func(ctx context.Context, j int, pool *parallel.Pool, w int) error {
		i := jobs[j]
		b := bs[i]
		r, err := t.train(ctx, b.Arch, b.Hash, t.last, pool, Training{Trial: -1, Name: b.Arch.Name, Worker: w, Fidelity: t.last})
		if err != nil {
			return err
		}
		results[i] = r
		return c.record(context.WithoutCancel(ctx), specs[i], b.Arch, r)
	})
	var entries []Entry
	for i, b := range bs {
		if results[i].Status != "" { // not evaluated when the run stopped first
			entries = append(entries, entry(-1, b.Arch, b.Hash, 0, baselineOperator, results[i]))
		}
	}
	return entries, err
}

// trainAll runs do(ctx, j, pool, worker) for every job j in [0, n), in order, up to K at once
// for the K pools given. With fewer jobs than pools, the jobs share the pools' threads, so that
// no core idles. The first error cancels the jobs in flight and stops the rest; trainAll returns
// every job's error.
func trainAll(ctx context.Context, pools []*parallel.Pool, n int, do func(ctx context.Context, j int, pool *parallel.Pool, worker int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	queue := make(chan int)
	var wg sync.WaitGroup
	workers := min(len(pools), n)
	for w := range workers {
		pool := pools[w]
		if workers < len(pools) {
			pool = parallel.NewPool(len(pools) * pools[0].Threads() / workers)
			defer pool.Close()
		}
		wg.Go(func() {
			for j := range queue {
				if errs[j] = do(ctx, j, pool, w); errs[j] != nil {
					cancel()
				}
			}
		})
	}
feed:
	for j := range n {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	return errors.Join(errs...)
}

// front returns the entries of the front of res, best first by the first objective.
func (t *trainer) front(res *Result[space.Genome]) []Entry {
	idx := slices.Clone(res.Front)
	sort.SliceStable(idx, func(a, b int) bool {
		return res.Trials[idx[a]].Outcome.Objectives[0] < res.Trials[idx[b]].Outcome.Objectives[0]
	})
	entries := make([]Entry, len(idx))
	for i, j := range idx {
		tr := res.Trials[j]
		arch, err := t.candidate(tr.Genome, tr.Request.Trial)
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

// storeCache is the search's Cache and Recorder over a store: outcomes are looked up in the
// store's evaluation cache, each evaluation is recorded as a trial of the experiment as soon as
// it ends, and every other trial (a duplicate, a reused outcome) when its batch is complete.
type storeCache struct {
	st  store.Store
	exp int64
	t   *trainer

	mu sync.Mutex // guards unmatched, which baselines' workers record into
	// unmatched counts the trials of earlier runs of the experiment not yet matched by a trial
	// of this run: a matched trial is already in the store.
	unmatched map[rowKey]int
}

// rowKey identifies a trial of an experiment, up to its repetitions.
type rowKey struct {
	generation int
	operator   string
	key        store.EvalKey
}

func specKey(s store.TrialSpec) rowKey { return rowKey{s.Generation, s.Operator, s.Key} }

// loadRows counts the finished trials of earlier runs.
func (c *storeCache) loadRows(ctx context.Context) error {
	rows, err := c.st.Trials(ctx, c.exp)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Status == store.TrialDone {
			c.unmatched[specKey(r.TrialSpec)]++
		}
	}
	return nil
}

// matched reports whether an earlier run stored the trial s, and counts it as matched.
func (c *storeCache) matched(s store.TrialSpec) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := specKey(s)
	if c.unmatched[k] == 0 {
		return false
	}
	c.unmatched[k]--
	return true
}

// key returns the store's key of evaluating the network hash at fidelity level fid.
func (c *storeCache) key(hash string, fid float64) store.EvalKey { return c.t.key(hash, fid) }

func (c *storeCache) spec(req Request[space.Genome]) store.TrialSpec {
	return store.TrialSpec{Key: c.key(req.Key, req.Fidelity), Generation: req.Batch, Parents: req.Parents, Operator: req.Operator}
}

// Lookup returns the cached outcome of the network key at fidelity level fid.
func (c *storeCache) Lookup(ctx context.Context, key string, fid float64) (Outcome, bool, error) {
	r, ok, err := c.st.Lookup(ctx, c.key(key, fid))
	if err != nil || !ok {
		return Outcome{}, false, err
	}
	return c.t.outcome(r), true, nil
}

// Put records the evaluation of req as a trial with its architecture and result.
func (c *storeCache) Put(ctx context.Context, req Request[space.Genome], o Outcome) error {
	arch, err := c.t.candidate(req.Genome, req.Trial)
	if err != nil {
		return err
	}
	return c.record(ctx, c.spec(req), arch, o.Detail.(evaluator.Result))
}

// Record stores a trial that was not evaluated in this run: a duplicate, or an outcome from
// the cache. An evaluated trial was stored by Put.
func (c *storeCache) Record(ctx context.Context, t Trial[space.Genome]) error {
	if t.Source == Trained {
		return nil
	}
	return c.reuse(ctx, c.spec(t.Request), t.Outcome.Detail.(evaluator.Result))
}

// record stores an evaluation of arch that ran in this run.
func (c *storeCache) record(ctx context.Context, s store.TrialSpec, arch *space.Arch, r evaluator.Result) error {
	rec, err := store.ArchOf(arch)
	if err != nil {
		return err
	}
	if rec.Hash != s.Key.ArchHash {
		panic(fmt.Sprintf("search: trial key %s, but its network hashes to %s", s.Key.ArchHash, rec.Hash))
	}
	if err := c.st.PutArch(ctx, rec); err != nil {
		return err
	}
	c.matched(s) // an earlier run's attempt, whose result was not cached, stays beside it
	if _, err := c.st.RecordTrial(ctx, c.exp, s, r); err != nil {
		return err
	}
	if cp := c.t.checkpointer(s.Key); cp != nil {
		return cp.Remove() // the result is stored: its training's checkpoint has done its work
	}
	return nil
}

// reuse stores a trial whose result r was evaluated before, unless an earlier run stored it.
func (c *storeCache) reuse(ctx context.Context, s store.TrialSpec, r evaluator.Result) error {
	if c.matched(s) {
		return nil
	}
	if r.Status == evaluator.StatusError {
		// An error is not cached, so the trial cannot take its result from the cache.
		_, err := c.st.RecordTrial(ctx, c.exp, s, r)
		return err
	}
	_, err := c.st.AddTrials(ctx, c.exp, []store.TrialSpec{s})
	return err
}
