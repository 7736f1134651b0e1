package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&finalizeCommand{}) }

type finalizeCommand struct{}

func (*finalizeCommand) Name() string { return "finalize" }

func (*finalizeCommand) Synopsis() string {
	return "train the networks a search found with a full recipe, every seed a final trial"
}

// defaultFinalRecipe is the recipe nas finalize trains with unless given --recipe.
const defaultFinalRecipe = "configs/recipes/standard.yaml"

func (c *finalizeCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "EXPERIMENT [--front | --top K | --trial N,...] [flags]", stderr)
	dbPath := dbFlag(fs)
	front := fs.Bool("front", false, "train the Pareto front of the search's objectives and the baselines (the default)")
	top := fs.Int("top", 0, "train the `K` best networks by the search's first objective and the baselines")
	trialList := fs.String("trial", "", "train the search trials `N,...` (their store IDs) and nothing else")
	recipePath := fs.String("recipe", defaultFinalRecipe, "the full training recipe YAML `FILE`; the test split is always evaluated")
	seedList := fs.String("seeds", "", "train each network once per seed `S,...` (default: the experiment's seed)")
	workers := fs.Int("workers", 0, "`K` trainings at once (default: as many as the cores and trainings allow)")
	threads := fs.Int("threads", 0, "`T` engine threads per training; K×T must not exceed the cores")
	dataDir := fs.String("data-dir", "", "look for the data set in `DIR`/NAME first")
	pos, err := parseArgs(fs, args, oneArg, "experiment name")
	if err != nil {
		return err
	}
	chosen := 0
	for _, set := range []bool{*front, *top != 0, *trialList != ""} {
		if set {
			chosen++
		}
	}
	switch {
	case chosen > 1:
		return badInputf("--front, --top and --trial choose the networks in different ways; give one of them")
	case *top < 0:
		return badInputf("--top %d: want a positive number of networks", *top)
	case *workers < 0 || *threads < 0:
		return badInputf("--workers and --threads must not be negative (0: the machine's choice)")
	}
	opt := search.FinalizeOptions{Top: *top, Workers: *workers, Threads: *threads,
		CheckpointDir: store.CheckpointDir(*dbPath), ModelDir: store.ModelDir(*dbPath)}
	if opt.Trials, err = parseList(*trialList, "--trial", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }); err != nil {
		return err
	}
	if opt.Seeds, err = parseList(*seedList, "--seeds", func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }); err != nil {
		return err
	}
	if opt.Recipe, err = evaluator.LoadRecipe(*recipePath); err != nil {
		if errors.Is(err, os.ErrNotExist) && *recipePath == defaultFinalRecipe {
			return badInputf("%v: run nas from the repository's folder, or give the recipe with --recipe FILE", err)
		}
		return badInput(err)
	}
	if *dataDir != "" {
		opt.DataDirs = []string{*dataDir}
	}
	var mu sync.Mutex
	opt.Warn = func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(stderr, "nas finalize: warning:", msg)
	}
	opt.Training = func(t search.Training) {
		if !t.Done && !t.Progress.Done {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		p := t.Progress
		if t.Done {
			fmt.Fprintf(stderr, "%s (trial %d): done, %s\n", t.Name, t.Trial, p.Elapsed.Round(1e9))
			return
		}
		fmt.Fprintf(stderr, "%s (trial %d): epoch %d/%d, train loss %.4f, train acc %.2f%%\n", t.Name, t.Trial, p.Epoch, p.Epochs, p.Loss, 100*p.Acc)
	}

	st, err := openStoreExisting(*dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	name := pos[0]
	sum, err := search.Finalize(ctx, st, name, opt)
	var (
		finalizeErr *search.FinalizeError
		config      *space.ConfigError
		notFound    *data.NotFoundError
	)
	switch {
	case errors.Is(err, store.ErrNotFound) && sum == nil:
		return badInputf("%v: nas ls lists the experiments", err)
	case errors.As(err, &finalizeErr), errors.As(err, &config), errors.As(err, &notFound):
		return badInput(err)
	}
	if sum != nil {
		fmt.Fprintf(stderr, "%s: %d networks × %d seeds: %d trained now, %d from the store\n",
			name, len(sum.Finals), len(sum.Seeds), sum.Trained, sum.Reused)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; run the same command again to go on where it stopped")
	}
	if err != nil {
		return err
	}
	d, err := reports.Fetch(ctx, st, name)
	if err != nil {
		return err
	}
	r, err := reports.New(d, reports.Options{})
	if err != nil {
		return err
	}
	for _, t := range r.FinalTables() {
		if err := reports.WriteTable(stdout, t, false); err != nil {
			return err
		}
	}
	return printModelFiles(ctx, st, store.ModelDir(*dbPath), sum, stdout)
}

// printModelFiles says where the model file of each final trial of sum is, in dir.
func printModelFiles(ctx context.Context, st store.Store, dir string, sum *search.FinalSummary, w io.Writer) error {
	if dir == "" {
		_, err := fmt.Fprintln(w, "\nA PostgreSQL database keeps no model files; nas train --save FILE trains and keeps one.")
		return err
	}
	fmt.Fprintln(w, "\nModel files (nas eval FILE; nas export TRIAL --format onnx|pytorch|yaml exports the trained weights):")
	for _, f := range sum.Finals {
		for k, id := range f.Trials {
			if id == 0 || f.Results[k].Status != evaluator.StatusOK {
				continue
			}
			ev, err := st.Evaluation(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  trial %d (trial %d's network, seed %d): %s\n", id, f.Source.Trial.ID, ev.Trial.Key.Seed, store.ModelFile(dir, ev.Trial.Key))
		}
	}
	return nil
}

// parseList parses a comma-separated list of flag's values with parse; empty gives none.
func parseList[T any](s, flag string, parse func(string) (T, error)) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, badInputf("%s %s: %q is not a number", flag, s, f)
		}
		out = append(out, v)
	}
	return out, nil
}
