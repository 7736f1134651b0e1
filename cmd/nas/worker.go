package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/store"
)

func init() { register(&workerCommand{}) }

type workerCommand struct{}

func (*workerCommand) Name() string { return "worker" }

func (*workerCommand) Synopsis() string {
	return "train the queued trials of running searches, on this machine or any other"
}

func (c *workerCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "[--db FILE] [--experiment NAME] [--slots K] [--threads T]", stderr)
	dbPath := dbFlag(fs)
	experiment := fs.String("experiment", "", "train only the trials of experiment `NAME`, and exit once it has ended (default: every running experiment, until interrupted)")
	slots := fs.Int("slots", 1, "`K` trainings at once")
	threads := fs.Int("threads", 0, "`T` engine threads per training; K×T must not exceed the cores (default: the cores divided among the slots)")
	lease := fs.Duration("lease", search.DefaultLease, "how long the lease on a trial outlasts this process if it dies")
	dataDir := fs.String("data-dir", "", "look for data sets in `DIR`/NAME first")
	if _, err := parseArgs(fs, args, noArgs, ""); err != nil {
		return err
	}
	cores := runtime.GOMAXPROCS(0)
	if *threads == 0 && *slots > 0 {
		*threads = max(1, cores / *slots)
	}
	switch {
	case *slots < 1 || *threads < 1:
		return badInputf("--slots and --threads must be at least 1")
	case *slots**threads > cores:
		return badInputf("%d slots × %d threads = %d; this machine has %d usable cores, and slots × threads must not exceed them", *slots, *threads, *slots**threads, cores)
	case *lease <= 0:
		return badInputf("--lease must be positive, such as 30s (got %v)", *lease)
	}
	// A worker may start before its coordinator has made the database: it makes it, and waits
	// for work.
	st, err := openStoreWrite(*dbPath)
	if err != nil {
		return err
	}
	defer st.Close()

	var mu sync.Mutex
	w := &search.Worker{Store: st, Experiment: *experiment, Slots: *slots, Threads: *threads, Lease: *lease,
		CheckpointDir: store.CheckpointDir(*dbPath), ModelDir: store.ModelDir(*dbPath),
		Warn: func(msg string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(stderr, "worker: warning:", msg)
		},
		Finished: func(tr store.Trial, r evaluator.Result) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(stdout, trialLine(tr, r))
		},
		Dropped: func(tr store.Trial) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "worker: trial %d was trained after another worker took it over (the lease expired unrenewed); result dropped\n", tr.ID)
		}}
	if *dataDir != "" {
		w.DataDirs = []string{*dataDir}
	}
	what := "every running experiment"
	if *experiment != "" {
		what = fmt.Sprintf("experiment %q", *experiment)
	}
	fmt.Fprintf(stderr, "worker: %d trainings at once × %d threads on the trials of %s in %s\n", *slots, *threads, what, *dbPath)
	err = w.Run(ctx)
	s := w.Stats()
	if s.Wall > 0 {
		fmt.Fprintf(stderr, "worker: %d trials in %s of slot time: %.1f%% training, %.1f%% waiting for trials, %.1f%% the rest (store, loading)\n",
			s.Trials, s.Wall.Round(time.Millisecond), 100*s.Training.Seconds()/s.Wall.Seconds(),
			100*s.Idle.Seconds()/s.Wall.Seconds(), 100*(s.Wall-s.Training-s.Idle).Seconds()/s.Wall.Seconds())
		if p := s.Phases; s.Training > 0 {
			t := s.Training.Seconds()
			fmt.Fprintf(stderr, "worker: of the training, %.1f%% training steps; build %.1f%%, data %.1f%%, first steps %.1f%%, "+
				"waiting %.1f%%, validation %.1f%%, latency %.1f%%, the rest (reading the trial) %.1f%%\n",
				100*p.Steps/t, 100*p.Build/t, 100*p.Data/t, 100*p.FirstStep/t, 100*p.Wait/t, 100*p.Validation/t,
				100*p.Latency/t, 100*(t-p.Total())/t)
		}
	}
	var notFound *data.NotFoundError
	if errors.As(err, &notFound) {
		return badInput(err)
	}
	return err
}

// trialLine sums up a trial a worker has trained.
func trialLine(tr store.Trial, r evaluator.Result) string {
	acc := fmt.Sprintf("val_acc %.2f%%", 100*r.ValAcc)
	if r.Status != evaluator.StatusOK {
		acc = fmt.Sprintf("%s: %s", r.Status, r.Message)
	}
	return fmt.Sprintf("trial %d (generation %d, %s, fidelity %g): %s, %.1fs", tr.ID, tr.Generation, tr.Operator, tr.Key.Fidelity, acc, r.TrainSeconds)
}
