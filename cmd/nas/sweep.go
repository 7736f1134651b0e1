package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gonas/nas/search"
)

// sweepRun is one run of a sweep: the experiment under one strategy and one seed.
type sweepRun struct {
	strategy string
	seed     uint64
}

type sweepKey struct{}

// sweepRunOf returns the run of a sweep that ctx carries, if any.
func sweepRunOf(ctx context.Context) (sweepRun, bool) {
	r, ok := ctx.Value(sweepKey{}).(sweepRun)
	return r, ok
}

// applySweepRun turns e into the run of a sweep that ctx carries; without one, e is unchanged.
func applySweepRun(ctx context.Context, e *search.Experiment) error {
	r, ok := sweepRunOf(ctx)
	if !ok {
		return nil
	}
	return e.Variant(r.strategy, r.seed)
}

// sweep runs the experiment of the file at path once per seed and strategy, one after another,
// seed by seed so that a sweep cut short still compares the strategies over the seeds it ran.
// Each run is an ordinary search named EXP/STRATEGY/sSEED, resumed if the store holds it: running
// the same sweep again resumes where it stopped. Empty lists mean the YAML's seed or strategy.
func (c *searchCommand) sweep(ctx context.Context, path, seedList, strategyList string, args []string, stdout, stderr io.Writer) error {
	e, err := search.LoadExperiment(path)
	if err != nil {
		return badInput(err)
	}
	seeds := []uint64{e.Seed}
	if seedList != "" {
		if seeds, err = search.ParseSeeds(seedList); err != nil {
			return badInputf("--seeds: %w", err)
		}
	}
	strategies := []string{e.Strategy.Name()}
	if strategyList != "" {
		strategies = strings.Split(strategyList, ",")
		seen := map[string]bool{}
		for i, s := range strategies {
			s = strings.TrimSpace(s)
			if _, err := search.NewStrategy(s); err != nil {
				return badInputf("--strategies: %q is not a strategy; valid: %s", s, strings.Join(search.StrategyNames, ", "))
			}
			if seen[s] {
				return badInputf("--strategies: %s is given twice", s)
			}
			seen[s], strategies[i] = true, s
		}
	}
	// Check every run before the first one starts, so that a bad combination fails at once.
	for _, s := range strategies {
		v, err := search.LoadExperiment(path)
		if err != nil {
			return badInput(err)
		}
		if err := v.Variant(s, seeds[0]); err != nil {
			return badInput(err)
		}
	}
	n, total := 0, len(seeds)*len(strategies)
	for _, seed := range seeds {
		for _, s := range strategies {
			n++
			fmt.Fprintf(stderr, "sweep %d/%d: %s\n", n, total, search.SweepName(e.Name, s, seed))
			if err := c.Run(context.WithValue(ctx, sweepKey{}, sweepRun{s, seed}), args, stdout, stderr); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "sweep done; compare the runs with: nas compare '%s/*' --group-by strategy\n", e.Name)
	return nil
}
