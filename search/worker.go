package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	modelfile "github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// DefaultLease is how long a worker's lease on a trial, and a coordinator's hold on an
// experiment, outlast their last renewal: a process killed without a chance to let go holds
// nothing after that long. Both are renewed every third of it.
const DefaultLease = 30 * time.Second

// How often a worker with nothing to do asks for a trial, and a coordinator for the result it
// waits for: from pollMin, doubling while nothing changes, up to pollMax.
const (
	pollMin = 10 * time.Millisecond
	pollMax = 200 * time.Millisecond
)

// Worker trains the queued trials of the running experiments in a store: it claims a trial
// under a lease, renews the lease while it trains, and records the result with itself as the
// worker. Any number of workers, in any number of processes and machines, may serve one store;
// an experiment's results do not depend on which of them trains what. Everything a trial needs
// comes from the store (the network, the recipe, the data set's name and the seed) but the data
// set, which each worker opens by name (see data.Open).
type Worker struct {
	Store store.Store
	// Experiment, if set, restricts the worker to that experiment's trials; Run then returns
	// once the experiment is done or failed.
	Experiment string
	// Slots is how many trainings run at once, Threads the engine threads of each.
	Slots, Threads int
	// Lease is the lease on a trial; 0 means DefaultLease.
	Lease time.Duration
	// DataDirs are folders to look for data sets in first (see data.Open).
	DataDirs []string
	// Version is the nas version recorded with the worker (see store.ThisMachine).
	Version string
	// CheckpointDir, if set, is where every training of more than one epoch keeps a checkpoint
	// at the end of each epoch, so that a trial taken up again resumes from there (see
	// store.CheckpointDir). A search trial's checkpoint is removed once its result is stored;
	// a final trial's is kept, its trained state.
	CheckpointDir string
	// ModelDir, if set, is where a final trial whose training ended ok keeps its model file
	// (store.ModelFile), written before its result is stored (see store.ModelDir).
	ModelDir string
	// Warn, if set, is told when a checkpoint is refused and its training starts over.
	Warn func(string)
	// Training, if set, is called as RunOptions.Training is.
	Training func(Training)
	// Finished, if set, is called with each trial the worker has recorded the result of.
	Finished func(store.Trial, evaluator.Result)
	// Dropped, if set, is called with each trial the worker trained to the end after another
	// worker had taken it over (its lease had expired unrenewed): its result is dropped.
	Dropped func(store.Trial)

	name     string // the lease owner: host:pid
	mu       sync.Mutex
	datasets map[string]*data.Dataset
	splits   []*evaluator.Split // the latest maxSplits prepared, newest last
	stats    WorkerStats
}

// WorkerStats is where a worker's slots spent their time.
type WorkerStats struct {
	Trials   int           // results recorded
	Wall     time.Duration // the slots' time from start to end, summed
	Training time.Duration // in evaluator.Evaluate, summed over the slots
	Idle     time.Duration // waiting for a trial while none was claimable, summed over the slots
	// Phases sums the phases of the recorded trials' training (evaluator.Result.Phases).
	Phases evaluator.Phases
}

// Stats returns where the worker's slots have spent their time so far.
func (w *Worker) Stats() WorkerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// processName names this process in leases, holds and results: "host:pid".
func processName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// deadHere reports whether owner, a name given by processName, names a process of this
// machine that no longer runs: its holds and leases may be taken at once.
func deadHere(owner string) bool {
	i := strings.LastIndexByte(owner, ':')
	if i < 0 {
		return false
	}
	pid, err := strconv.Atoi(owner[i+1:])
	host, _ := os.Hostname()
	return err == nil && pid > 0 && owner[:i] == host && pid != os.Getpid() && !processExists(pid)
}

// Run trains trials until ctx is cancelled, a training cannot take place on this machine (the
// data set is missing, the network does not fit it, or this nas trains a recipe differently
// from the nas that queued it), or, with Experiment set, that experiment has ended. A trial in
// training when ctx is cancelled or the training cannot take place is handed back to the queue,
// where another worker takes it. Cancellation is not an error.
func (w *Worker) Run(ctx context.Context) error {
	if w.Slots < 1 || w.Threads < 1 {
		return fmt.Errorf("search: a worker of %d slots × %d threads; both must be at least 1", w.Slots, w.Threads)
	}
	if w.Lease == 0 {
		w.Lease = DefaultLease
	}
	w.name = processName()
	w.mu.Lock()
	if w.datasets == nil {
		w.datasets = map[string]*data.Dataset{}
	}
	w.mu.Unlock()
	host, _ := os.Hostname()
	rec := store.Worker{Name: w.name, Host: host, PID: os.Getpid(), Machine: store.ThisMachine(w.Version),
		Slots: w.Slots, Threads: w.Threads, Started: time.Now()}
	if err := w.Store.PutWorker(ctx, rec); err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Go(func() { // the worker's own heartbeat, for nas ls --workers
		for sleep(ctx, w.Lease/3) == nil {
			if err := w.Store.PutWorker(ctx, rec); err != nil && ctx.Err() == nil {
				stop(err)
			}
		}
	})
	var slots sync.WaitGroup
	for slot := range w.Slots {
		slots.Go(func() {
			if err := w.slot(ctx, slot); err != nil {
				stop(err)
			} else {
				stop(nil) // the experiment has ended: every slot may stop
			}
		})
	}
	slots.Wait()
	stop(nil)
	wg.Wait()
	rec.Stopped = time.Now()
	err := context.Cause(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, w.Store.PutWorker(context.WithoutCancel(ctx), rec))
}

// slot claims and trains trials one after the other until ctx is cancelled, the experiment
// ends, or a training cannot take place.
func (w *Worker) slot(ctx context.Context, slot int) error {
	pool := parallel.NewPool(w.Threads)
	defer pool.Close()
	start := time.Now()
	defer func() {
		w.mu.Lock()
		w.stats.Wall += time.Since(start)
		w.mu.Unlock()
	}()
	delay := pollMin
	for {
		idle := time.Now()
		tr, ended, err := w.claim(ctx)
		switch {
		case err != nil || ended:
			return err
		case tr.ID == 0:
			err = sleep(ctx, delay)
			w.mu.Lock()
			w.stats.Idle += time.Since(idle)
			w.mu.Unlock()
			if err != nil {
				return nil
			}
			delay = min(2*delay, pollMax)
			continue
		}
		delay = pollMin
		if err := w.run(ctx, tr, slot, pool); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// claim leases the next trial of the worker's experiment, or of the running experiments oldest
// first. It returns a zero trial if none is claimable now, and ended if the worker's experiment
// is done or failed.
func (w *Worker) claim(ctx context.Context) (tr store.Trial, ended bool, err error) {
	var exps []store.Experiment
	if w.Experiment != "" {
		e, err := w.Store.Experiment(ctx, w.Experiment)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return tr, false, nil // its coordinator has not started yet
		case err != nil:
			return tr, false, ignoreCancel(ctx, err)
		case e.Status == store.ExperimentDone || e.Status == store.ExperimentFailed:
			return tr, true, nil
		}
		exps = []store.Experiment{e}
	} else if exps, err = w.Store.Experiments(ctx); err != nil {
		return tr, false, ignoreCancel(ctx, err)
	}
	for _, e := range exps {
		if e.Status != store.ExperimentRunning && w.Experiment == "" {
			continue
		}
		tr, err = w.Store.ClaimTrial(ctx, e.ID, w.name, w.Lease)
		if !errors.Is(err, store.ErrNoTrial) {
			return tr, false, ignoreCancel(ctx, err)
		}
	}
	return store.Trial{}, false, nil
}

// ignoreCancel returns nil for an error caused by ctx's cancellation, and err otherwise.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// run trains the claimed trial tr on pool, renewing its lease meanwhile, and records the result
// or hands the trial back.
func (w *Worker) run(ctx context.Context, tr store.Trial, slot int, pool *parallel.Pool) error {
	trainCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for sleep(trainCtx, w.Lease/3) == nil {
			err := w.Store.Heartbeat(trainCtx, tr.ID, w.name, w.Lease)
			if errors.Is(err, store.ErrLeaseLost) {
				close(lost)
				cancel()
				return
			}
		}
	})
	start := time.Now()
	res, err := w.train(trainCtx, tr, slot, pool)
	took := time.Since(start)
	cancel()
	wg.Wait()
	select {
	case <-lost:
		return nil // another worker has the trial now
	default:
	}
	keep := context.WithoutCancel(ctx)
	if err != nil || res.Status == evaluator.StatusCancelled {
		herr := w.Store.FinishTrial(keep, tr.ID, w.name, evaluator.Result{Status: evaluator.StatusCancelled})
		if errors.Is(herr, store.ErrLeaseLost) {
			herr = nil
		}
		if err != nil {
			return errors.Join(fmt.Errorf("trial %d: %w", tr.ID, err), herr)
		}
		return herr
	}
	if err := w.Store.FinishTrial(keep, tr.ID, w.name, res); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			if w.Dropped != nil {
				w.Dropped(tr)
			}
			return nil
		}
		return err
	}
	if cp := w.checkpoints(tr, ""); cp != nil && tr.Phase != store.PhaseFinal {
		if err := cp.Remove(); err != nil { // the result is stored
			return err
		}
	}
	w.mu.Lock()
	w.stats.Trials++
	w.stats.Training += took
	w.stats.Phases.Add(res.Phases)
	w.mu.Unlock()
	if w.Finished != nil {
		w.Finished(tr, res)
	}
	return nil
}

// train trains the network of trial tr under its recipe on pool. The error is for what makes
// the training impossible on this machine; a cancelled training is a StatusCancelled result.
func (w *Worker) train(ctx context.Context, tr store.Trial, slot int, pool *parallel.Pool) (evaluator.Result, error) {
	a, err := w.Store.Arch(ctx, tr.Key.ArchHash)
	if err != nil {
		return evaluator.Result{}, err
	}
	var arch space.Arch
	if err := json.Unmarshal(a.JSON, &arch); err != nil {
		return evaluator.Result{}, fmt.Errorf("network %s: %w", a.Hash, err)
	}
	rec, err := w.Store.Recipe(ctx, tr.Key.RecipeHash)
	if err != nil {
		return evaluator.Result{}, err
	}
	var r evaluator.Recipe
	if err := json.Unmarshal(rec.JSON, &r); err != nil {
		return evaluator.Result{}, fmt.Errorf("recipe %s: %w", rec.Hash, err)
	}
	if h := r.Hash(); h != tr.Key.RecipeHash {
		return evaluator.Result{}, fmt.Errorf("this nas trains recipe %.12s as %.12s (another engine version): run the nas version of the coordinator", tr.Key.RecipeHash, h)
	}
	ds, err := w.dataset(tr.Key.Dataset)
	if err != nil {
		return evaluator.Result{}, err
	}
	r.Threads = pool.Threads()
	opt := evaluator.Options{Seed: tr.Key.Seed, Pool: pool, SkipLatency: !tr.Latency, Split: w.split(ds, r, tr.Key.Seed)}
	if cp := w.checkpoints(tr, arch.Name); cp != nil && r.Epochs > 1 {
		opt.Checkpoints = cp
	}
	var trained *evaluator.Model
	var norm data.Norm
	if w.ModelDir != "" && tr.Phase == store.PhaseFinal {
		opt.Trained = func(m *evaluator.Model, n data.Norm) { trained, norm = m, n }
	}
	if w.Training != nil {
		t := Training{Trial: tr.ID, Name: arch.Name, Baseline: tr.Operator == baselineOperator, Worker: slot, Fidelity: tr.Key.Fidelity}
		opt.Progress = func(p evaluator.Progress) {
			t.Progress = p
			w.Training(t)
		}
		defer func() {
			t.Done = true
			w.Training(t)
		}()
	}
	res, err := evaluator.Evaluate(ctx, &arch, ds, r, opt)
	if err != nil || trained == nil || res.Status != evaluator.StatusOK {
		return res, err
	}
	f, err := modelfile.Trained(trained, norm, &arch, r, tr.Key.Seed, ds, res, w.Version)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(w.ModelDir, 0o755); err != nil {
		return res, err
	}
	// Before FinishTrial stores the result: a stored final result always has its model file.
	return res, modelfile.Save(store.ModelFile(w.ModelDir, tr.Key), f)
}

// checkpoints returns the checkpoints of trial tr, whose network is called name, or nil when
// the worker keeps none.
func (w *Worker) checkpoints(tr store.Trial, name string) *store.FileCheckpoints {
	if w.CheckpointDir == "" {
		return nil
	}
	return &store.FileCheckpoints{Store: w.Store, Dir: w.CheckpointDir, Key: tr.Key,
		Name: fmt.Sprintf("%s (trial %d)", name, tr.ID), Warn: w.Warn}
}

// dataset returns the data set called name, opened once per worker.
func (w *Worker) dataset(name string) (*data.Dataset, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ds, ok := w.datasets[name]; ok {
		return ds, nil
	}
	ds, err := data.Open(name, w.DataDirs...)
	if err != nil {
		return nil, err
	}
	w.datasets[name] = ds
	return ds, nil
}

// maxSplits bounds the prepared splits a worker keeps: one per fidelity level of a search, whose
// trials share the experiment's seed.
const maxSplits = 4

// split returns the training data of ds prepared for r and seed, prepared once per worker: its
// trials share the experiment's seed, so that preparing it for every trial would only repeat
// the same copy of the images.
func (w *Worker) split(ds *data.Dataset, r evaluator.Recipe, seed uint64) *evaluator.Split {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.splits {
		if s.Fits(ds, r, seed) {
			return s
		}
	}
	s := evaluator.NewSplit(ds, r, seed)
	if len(w.splits) == maxSplits {
		w.splits = w.splits[1:]
	}
	w.splits = append(w.splits, s)
	return s
}

// sleep waits for d or until ctx is done, and returns ctx's error in the latter case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
