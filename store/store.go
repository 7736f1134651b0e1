package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gonas/nas/evaluator"
)

// Store is what search and reports need from the database: experiments, architectures, a queue of
// trials that workers lease, their results and an evaluation cache. DB implements it on SQLite
// and on PostgreSQL.
//
// Every method that writes does so in one transaction: it either happens completely or not at
// all, whatever happens to the process.
type Store interface {
	// CreateExperiment stores e (its ID, Status and times are ignored) as a running experiment
	// and returns its ID; if e.Coordinator names an owner, the experiment is created held by it
	// until e.Coordinator.Until. It returns ErrExists if an experiment of that name is stored.
	CreateExperiment(ctx context.Context, e Experiment) (int64, error)
	// Experiment returns the experiment called name, or ErrNotFound.
	Experiment(ctx context.Context, name string) (Experiment, error)
	// Experiments returns every experiment, oldest first.
	Experiments(ctx context.Context) ([]Experiment, error)
	// SetExperimentStatus sets the status of experiment id, and its finish time to now for every
	// status but ExperimentRunning. It returns ErrNotFound if there is no such experiment.
	SetExperimentStatus(ctx context.Context, id int64, status ExperimentStatus) error
	// HoldExperiment makes owner the coordinator of experiment id until now+lease, or extends
	// owner's hold. It returns a *HeldError if another owner holds the experiment and its hold
	// has not expired, and ErrNotFound if there is no such experiment.
	HoldExperiment(ctx context.Context, id int64, owner string, lease time.Duration) error
	// ReleaseExperiment ends owner's hold on experiment id; it does nothing if owner does not
	// hold it.
	ReleaseExperiment(ctx context.Context, id int64, owner string) error

	// PutArch stores a under a.Hash. An architecture already stored under that hash is kept as
	// it is, since a canonical hash names one network whatever its spelling.
	PutArch(ctx context.Context, a Arch) error
	// Arch returns the architecture stored under hash, or ErrNotFound.
	Arch(ctx context.Context, hash string) (Arch, error)
	// PutRecipe stores r under r.Hash; a recipe already stored under that hash is kept.
	PutRecipe(ctx context.Context, r Recipe) error
	// Recipe returns the recipe stored under hash, or ErrNotFound.
	Recipe(ctx context.Context, hash string) (Recipe, error)

	// AddTrials queues trials as pending trials of experiment experimentID and returns their IDs
	// in order. Every architecture they name must have been stored with PutArch. A trial whose
	// key is in the evaluation cache is done at once, with the cached result.
	AddTrials(ctx context.Context, experimentID int64, trials []TrialSpec) ([]int64, error)
	// RecordTrial adds a trial of experiment experimentID that was evaluated outside the queue
	// (by a search that runs its own workers), finished with result r, and caches r as
	// FinishTrial does; the trial and its result are stored together or not at all. It returns
	// the trial's ID.
	RecordTrial(ctx context.Context, experimentID int64, t TrialSpec, r evaluator.Result) (int64, error)
	// Trials returns every trial of experiment experimentID in the order they were added.
	Trials(ctx context.Context, experimentID int64) ([]Trial, error)

	// ClaimTrial leases the next trial of experiment experimentID that needs work to owner until
	// now+lease, and returns it. Trials are taken in order of generation, then ID; a trial
	// whose lease expired counts as pending again. A trial whose key is in the evaluation cache
	// is finished with the cached result instead of being returned, and a trial whose key
	// another worker holds under a live lease is passed over, so the same evaluation is never
	// run twice at once. It returns ErrNoTrial if nothing is claimable now (which does not mean
	// that every trial is done: some may be leased to other workers).
	ClaimTrial(ctx context.Context, experimentID int64, owner string, lease time.Duration) (Trial, error)
	// Heartbeat extends owner's lease on trial trialID to now+lease. It returns ErrLeaseLost if
	// owner no longer holds the trial.
	Heartbeat(ctx context.Context, trialID int64, owner string, lease time.Duration) error
	// FinishTrial records r as the result of trial trialID, which owner must hold, and caches it
	// under the trial's key unless r is a transient failure (StatusError). A cancelled
	// evaluation (StatusCancelled) is not a result: the trial goes back to pending, so that a
	// resumed run does it again. It returns ErrLeaseLost if owner no longer holds the trial, and
	// an error if r's params, MACs or seed contradict the trial's architecture or key.
	FinishTrial(ctx context.Context, trialID int64, owner string, r evaluator.Result) error

	// Lookup returns the cached result of the evaluation key, and false if there is none.
	Lookup(ctx context.Context, key EvalKey) (evaluator.Result, bool, error)
	// Evaluation returns the finished trial trialID with its architecture and result, or
	// ErrNotFound if there is no such trial or it is not finished.
	Evaluation(ctx context.Context, trialID int64) (Evaluation, error)
	// Evaluations returns every finished trial of experiment experimentID with its architecture
	// and result, in the order the trials were added.
	Evaluations(ctx context.Context, experimentID int64) ([]Evaluation, error)

	// PutWorker stores w, or updates the worker of that name, with now as the time it was
	// last seen; a worker calls it at start and then as often as it renews its leases.
	PutWorker(ctx context.Context, w Worker) error
	// Workers returns every worker that has registered, the most recently seen first, with the
	// trials each holds and the results each has computed.
	Workers(ctx context.Context) ([]Worker, error)

	// SaveCheckpoint records c as the last checkpoint of the training c.Key, replacing the one
	// before, which it returns (zero if there was none) so that the caller can remove its file.
	SaveCheckpoint(ctx context.Context, c Checkpoint) (Checkpoint, error)
	// Checkpoint returns the last checkpoint of the training key, or ErrNotFound.
	Checkpoint(ctx context.Context, key EvalKey) (Checkpoint, error)
	// DeleteCheckpoint forgets the checkpoint of the training key, if there is one.
	DeleteCheckpoint(ctx context.Context, key EvalKey) error

	// Close releases the database. Leases held by this process's workers are not released:
	// they expire, and the trials are then claimed again.
	Close() error
}

// ExperimentStatus says where an experiment stands.
type ExperimentStatus string

// The states of an experiment.
const (
	ExperimentRunning     ExperimentStatus = "running"
	ExperimentDone        ExperimentStatus = "done"
	ExperimentFailed      ExperimentStatus = "failed"
	ExperimentInterrupted ExperimentStatus = "interrupted"
)

// Experiment is one search run: its configuration as the user wrote it and where it ran.
type Experiment struct {
	ID       int64
	Name     string
	Config   []byte // the configuration file as given, byte for byte
	Seed     uint64
	Strategy string
	Status   ExperimentStatus
	Created  time.Time
	Updated  time.Time
	Finished time.Time // zero while running
	Machine  Machine
	// Coordinator is the process that runs the experiment's search, if any holds it.
	Coordinator Hold
}

// Hold is a lease on an experiment: Owner coordinates it from Since until Until, unless it
// renews the hold first. Owner is empty when nobody holds the experiment.
type Hold struct {
	Owner        string
	Since, Until time.Time
}

// HeldError says that another coordinator holds an experiment.
type HeldError struct {
	Experiment string
	Hold       Hold
}

// Error names the holder, since when it holds the experiment and when its hold expires.
func (e *HeldError) Error() string {
	return fmt.Sprintf("experiment %q is held by the coordinator %s since %s (its hold expires at %s unless renewed); wait for that search to end, or, if it died, for its hold to expire",
		e.Experiment, e.Hold.Owner, e.Hold.Since.UTC().Format(time.DateTime+" UTC"), e.Hold.Until.UTC().Format(time.TimeOnly))
}

// Recipe is a training recipe as the store keeps it, under the hash that trials name. The store
// does not interpret JSON.
type Recipe struct {
	Hash string
	JSON []byte // the evaluator.Recipe
}

// Worker is a process that trains queued trials: its name (also its lease owner), where it
// runs, and what it has done.
type Worker struct {
	Name    string // e.g. "host:pid"
	Host    string
	PID     int
	Machine Machine
	Slots   int // trainings at once
	Threads int // engine threads per training
	Started time.Time
	Seen    time.Time // the last PutWorker
	Stopped time.Time // zero unless it stopped cleanly

	// Filled in by Workers.
	Holding      []int64 // IDs of the trials it holds under a live lease
	Results      int     // results it has computed
	TrainSeconds float64 // their training time
}

// Machine describes the computer an experiment ran on, so that times can be compared honestly.
type Machine struct {
	CPUModel   string
	Cores      int
	GoVersion  string
	NASVersion string
}

// Arch is an architecture as the store keeps it. The store does not interpret JSON; the caller
// computes the canonical Hash, the counts and the one-line Family summary.
type Arch struct {
	Hash   string
	Name   string
	Family string // e.g. "resnet-bottleneck+se"
	Params int64
	MACs   int64
	JSON   []byte // the space.Arch, from which the network can be rebuilt
}

// EvalKey names one evaluation: the same key always means the same training, so its result is
// computed once and then taken from the cache, also by other experiments.
type EvalKey struct {
	ArchHash   string
	Dataset    string
	RecipeHash string
	Fidelity   float64 // the budget level, e.g. epochs; must not be NaN
	Seed       uint64
}

// TrialSpec is what the search decides about a trial before it runs.
type TrialSpec struct {
	Key        EvalKey
	Generation int
	Parents    []string // hashes of the parent architectures, if any
	Operator   string   // what made the architecture: "init", "seed" (a baseline in the first population), "mutate", "crossover", "crossover+mutate", "baseline", "train", "final"
	// Latency asks the worker to measure the trained network's latency.
	Latency bool
	// Phase is PhaseSearch (the default when empty) or PhaseFinal.
	Phase Phase
	// Source is the ID of the search trial a final trial trains again; 0 for none.
	Source int64
}

// Phase says what a trial is for.
type Phase string

// The phases of a trial.
const (
	// PhaseSearch is a search's evaluation at its fidelity, scored on the validation split.
	PhaseSearch Phase = "search"
	// PhaseFinal is a final training by nas finalize with a full recipe, tested on the test
	// split.
	PhaseFinal Phase = "final"
)

// Checkpoint is the store's record of a training's last checkpoint: a file beside the database
// whose bytes have the given SHA-256.
type Checkpoint struct {
	Key     EvalKey
	Epoch   int    // epochs the checkpoint holds
	Path    string // the file, relative to the checkpoint folder (see CheckpointDir)
	SHA256  string // hex
	Bytes   int64
	Created time.Time
}

// TrialStatus says where a trial stands in the queue.
type TrialStatus string

// The states of a trial. A running trial whose lease has expired is claimable like a pending one.
const (
	TrialPending TrialStatus = "pending"
	TrialRunning TrialStatus = "running"
	TrialDone    TrialStatus = "done"
)

// Trial is one queued, running or finished evaluation of an experiment.
type Trial struct {
	ID           int64
	ExperimentID int64
	TrialSpec
	Status     TrialStatus
	LeaseOwner string    // empty unless running
	LeaseUntil time.Time // zero unless running
	Attempts   int       // how many times the trial was claimed; above 1 means a worker died or gave up
	ResultID   int64     // zero until done
	Created    time.Time
	Started    time.Time // the last claim; zero if never claimed
	Finished   time.Time // zero until done
}

// Evaluation is a finished trial with its architecture and result, the unit of every report.
type Evaluation struct {
	Experiment string
	Trial      Trial
	Arch       Arch
	ResultID   int64
	Cached     bool // the result was computed by another trial and taken from the cache
	Result     evaluator.Result
	Worker     string // the worker that computed the result; empty if it ran outside the queue
}

// Errors returned by Store methods; test for them with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrNoTrial   = errors.New("no trial to claim")
	ErrLeaseLost = errors.New("lease lost: another worker holds or finished the trial")
	ErrReadOnly  = errors.New("store opened read-only")
)
