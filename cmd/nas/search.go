package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&searchCommand{}) }

type searchCommand struct{}

func (*searchCommand) Name() string { return "search" }

func (*searchCommand) Synopsis() string {
	return "run or resume the search experiment of a YAML file, every trial into the store"
}

func (c *searchCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "EXPERIMENT.yaml [flags]", stderr)
	dbPath := dbFlag(fs)
	name := fs.String("name", "", "the experiment's `NAME` in the store (default: the YAML's name)")
	workers := fs.Int("workers", -1, "`K` trainings at once in this process; 0 only coordinates, leaving the trials to nas worker (default: the YAML's, else the machine's choice)")
	threads := fs.Int("threads", 0, "`T` engine threads per training; K×T must not exceed the cores")
	lease := fs.Duration("lease", search.DefaultLease, "how long the hold on the experiment and the leases on trials outlast this process if it dies")
	dataDir := fs.String("data-dir", "", "look for the data set in `DIR`/NAME first")
	asJSON := fs.Bool("json", false, "print a machine-readable summary on stdout at the end")
	seeds := fs.String("seeds", "", "a sweep: run the experiment once per seed of `LIST` (such as 1-5 or 1,3,7), named EXP/STRATEGY/sSEED")
	strategies := fs.String("strategies", "", "a sweep: run the experiment once per strategy of `LIST` (such as nsga2,random), with the same budget")
	pos, err := parseArgs(fs, args, oneArg, "experiment file")
	if err != nil {
		return err
	}
	if *workers < -1 || *threads < 0 {
		return badInputf("--workers and --threads must not be negative")
	}
	if *lease <= 0 {
		return badInputf("--lease must be positive, such as 30s (got %v)", *lease)
	}
	if _, inSweep := sweepRunOf(ctx); !inSweep && (*seeds != "" || *strategies != "") {
		if *name != "" {
			return badInputf("--name cannot be given with --seeds or --strategies: a sweep names its runs EXP/STRATEGY/sSEED")
		}
		return c.sweep(ctx, pos[0], *seeds, *strategies, args, stdout, stderr)
	}
	e, err := search.LoadExperiment(pos[0])
	if err != nil {
		return badInput(err)
	}
	if err := applySweepRun(ctx, e); err != nil {
		return badInput(err)
	}
	var k, t int // only coordinating
	if *workers != 0 {
		if k, t, err = e.Parallelism(max(*workers, 0), *threads); err != nil {
			return badInput(err)
		}
	}
	st, err := openStoreWrite(*dbPath)
	if err != nil {
		return err
	}
	defer st.Close()

	expName := *name
	if expName == "" {
		expName = e.Name
	}
	if k > 0 {
		fmt.Fprintf(stderr, "%s: %s on %s, %d evaluations, %d trainings at once × %d threads, store %s\n",
			expName, e.Strategy.Name(), e.Dataset, e.Evaluations, k, t, st.Where())
	} else {
		fmt.Fprintf(stderr, "%s: %s on %s, %d evaluations, coordinating only: nas worker --db %s trains the trials\n",
			expName, e.Strategy.Name(), e.Dataset, e.Evaluations, st.Where())
	}
	v := newSearchView(stderr, e)
	opt := search.RunOptions{Name: *name, Workers: k, Threads: t, NoWorkers: k == 0, Lease: *lease,
		Progress: v.batch, Training: v.training, CheckpointDir: store.CheckpointDir(*dbPath), ModelDir: store.ModelDir(*dbPath), Warn: v.warn}
	if *dataDir != "" {
		opt.DataDirs = []string{*dataDir}
	}
	sum, err := search.RunExperiment(ctx, st, e, opt)
	v.close()
	if sum != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(sum); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			printSummary(stdout, sum)
		}
	}
	var (
		held       *store.HeldError
		conflict   *search.ConflictError
		constraint *search.ConstraintError
		config     *space.ConfigError
		notFound   *data.NotFoundError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &held):
		return err
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted; run the same command again to resume %q", expName)
	case errors.As(err, &conflict):
		return badInputf("%v (--name NAME starts a new one)", err)
	case errors.As(err, &constraint), errors.As(err, &config), errors.As(err, &notFound):
		return badInput(err)
	}
	return err
}

// searchView renders a search's progress: a line per batch and, on a terminal, a bar over the
// budget that moves with the trainings in flight.
type searchView struct {
	w          io.Writer
	objectives []evaluator.Objective
	start      time.Time

	mu       sync.Mutex
	bar      *progressbar.ProgressBar // nil when w is not a terminal
	stats    search.Stats             // as of the last batch
	finished int                      // trainings finished since the last batch
	inFlight map[int]search.Training  // by worker
}

func newSearchView(w io.Writer, e *search.Experiment) *searchView {
	v := &searchView{w: w, objectives: e.Objectives, start: time.Now(), inFlight: map[int]search.Training{}}
	v.stats.Budget = e.Evaluations
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.bar = progressbar.NewOptions64(int64(e.Evaluations)*100,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish())
	}
	return v
}

// batch prints the line of a finished batch.
func (v *searchView) batch(s search.Stats) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stats, v.finished = s, 0
	if v.bar != nil {
		v.bar.Clear()
	}
	fmt.Fprintln(v.w, batchLine(s, v.objectives, time.Since(v.start)))
	v.render()
}

// batchLine sums up the search after a batch.
func batchLine(s search.Stats, objs []evaluator.Objective, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gen %d: %d/%d evaluations", s.Batches-1, s.Trials, s.Budget)
	if s.Best != nil {
		best := make([]string, len(objs))
		for i, o := range objs {
			best[i] = string(o) + " " + formatObjective(o, s.Best[i])
		}
		fmt.Fprintf(&b, ", best %s, front %d", strings.Join(best, " "), s.FrontSize)
	}
	fmt.Fprintf(&b, ", duplicates %d (%.0f%%)", s.Duplicates, 100*s.DuplicateRate())
	if s.Reused > 0 {
		fmt.Fprintf(&b, ", reused %d", s.Reused)
	}
	if s.Failures > 0 {
		fmt.Fprintf(&b, ", failed %d", s.Failures)
	}
	fmt.Fprintf(&b, ", %s", elapsed.Round(time.Second))
	if s.Trained > 0 && s.Trials < s.Budget {
		// Trials still to come take as long as those trained so far; duplicates cost nothing.
		perTrial := elapsed / time.Duration(s.Trained)
		left := time.Duration(float64(s.Budget-s.Trials)*(1-s.DuplicateRate())) * perTrial
		fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
	}
	return b.String()
}

// formatObjective writes an objective's best value, the Cost a search minimises, as the user
// thinks of it.
func formatObjective(o evaluator.Objective, v float64) string {
	switch o {
	case evaluator.ValAcc:
		return reports.Percent(-v)
	case evaluator.Latency:
		return fmt.Sprintf("%.2fms", v)
	}
	return reports.Metric(v)
}

// training updates the bar with a training's state.
func (v *searchView) training(t search.Training) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.Done {
		delete(v.inFlight, t.Worker)
		if !t.Baseline {
			v.finished++
		}
	} else {
		v.inFlight[t.Worker] = t
	}
	v.render()
}

// render sets the bar to the trials done and the fractions of those in flight.
func (v *searchView) render() {
	if v.bar == nil {
		return
	}
	done := 100 * float64(v.stats.Trials+v.finished)
	var desc []string
	for w := range len(v.inFlight) + 8 {
		t, ok := v.inFlight[w]
		if !ok {
			continue
		}
		p := t.Progress
		frac := 0.0
		if p.Epochs > 0 && p.Steps > 0 {
			frac = (float64(p.Epoch-1) + float64(p.Step)/float64(p.Steps)) / float64(p.Epochs)
		}
		if !t.Baseline {
			done += 100 * frac
		}
		epoch := ""
		if p.Epochs > 1 {
			epoch = fmt.Sprintf(" epoch %d/%d", p.Epoch, p.Epochs)
		}
		desc = append(desc, fmt.Sprintf("%s%s %.0f%% loss %.3f", t.Name, epoch, 100*frac, p.Loss))
	}
	v.bar.Describe(strings.Join(desc, " | "))
	v.bar.Set64(int64(done))
}

// warn prints a warning above the bar.
func (v *searchView) warn(msg string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		v.bar.Clear()
	}
	fmt.Fprintln(v.w, "warning:", msg)
	v.render()
}

func (v *searchView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		v.bar.Clear()
		v.bar = nil
	}
}

// printSummary prints the front and the baselines as a table.
func printSummary(w io.Writer, s *search.Summary) {
	fmt.Fprintf(w, "%s (%s): %d evaluations, %d trained, %d reused, %d duplicates (%.0f%%), %d failed\n",
		s.Experiment, s.Status, s.Stats.Trials, s.Stats.Trained, s.Stats.Reused, s.Stats.Duplicates, 100*s.DuplicateRate, s.Stats.Failures)
	if len(s.Seeded) > 0 {
		fmt.Fprintf(w, "baselines in the first population: %s\n", strings.Join(s.Seeded, ", "))
	}
	if len(s.Front)+len(s.Baselines) == 0 {
		return
	}
	table := reports.Table{
		Title:  fmt.Sprintf("Pareto front (%s) and baselines", objectiveList(s.Objectives)),
		Header: []string{"trial", "name", "family", "val acc", "params", "MACs", "latency", "gen", "operator"},
		Right:  []bool{true, false, false, true, true, true, true, true, false},
	}
	rows := append(append([]search.Entry{}, s.Front...), s.Baselines...)
	for _, e := range rows {
		trial, gen := fmt.Sprint(e.Trial), fmt.Sprint(e.Batch)
		if e.Trial < 0 {
			trial, gen = "-", "-"
		}
		acc := fmt.Sprintf("%.2f%%", 100*e.ValAcc)
		if e.Status != "ok" {
			acc = string(e.Status)
		}
		latency := "-"
		if e.LatencyMs > 0 {
			latency = fmt.Sprintf("%.2f ms", e.LatencyMs)
		}
		table.Rows = append(table.Rows, []string{trial, e.Name, e.Family, acc, reports.Metric(float64(e.Params)), reports.Metric(float64(e.MACs)), latency, gen, e.Operator})
	}
	reports.WriteTable(w, table, false)
}

func objectiveList(objs []evaluator.Objective) string {
	names := make([]string, len(objs))
	for i, o := range objs {
		if o == evaluator.ValAcc {
			names[i] = "max " + string(o)
		} else {
			names[i] = "min " + string(o)
		}
	}
	return strings.Join(names, ", ")
}
