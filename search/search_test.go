package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var allStrategies = []Strategy{
	Random{Batch: 8},
	GA{PopSize: 12, Tournament: 3, Elite: 2, CrossRate: 0.5, MutRate: 0.9},
	NSGA2{PopSize: 12, CrossRate: 0.9, MutRate: 1},
	RegEvo{Population: 12, Sample: 4, Batch: 3},
}

// diffTrials describes the first difference between two trial lists in what a search decides
// (which is everything but where an outcome came from, and which worker ran it), or returns "".
func diffTrials(a, b []Trial[string]) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d trials, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Worker, y.Worker = 0, 0
		if x.Request.Trial != y.Request.Trial || x.Batch != y.Batch || x.Key != y.Key ||
			x.Fidelity != y.Fidelity || x.Level != y.Level || x.Operator != y.Operator ||
			!slices.Equal(x.Parents, y.Parents) || x.Genome != y.Genome ||
			!slices.Equal(x.Outcome.Objectives, y.Outcome.Objectives) ||
			x.Outcome.Failure != y.Outcome.Failure ||
			(x.Source == Duplicate) != (y.Source == Duplicate) {
			return fmt.Sprintf("trial %d differs:\n got %+v\nwant %+v", i, a[i], b[i])
		}
	}
	return ""
}

func TestNSGA2ApproachesZDT1Front(t *testing.T) {
	sp := vec{d: 10}
	ev := EvaluatorFunc[[]float64](func(_ context.Context, req Request[[]float64]) (Outcome, error) {
		return Outcome{Objectives: zdt1(req.Genome)}, nil
	})
	front := func(s Strategy, seed uint64) [][]float64 {
		res, err := Run(context.Background(), sp, ev, nil, Config[[]float64]{Strategy: s, Seed: seed, Objectives: 2, Budget: 4000})
		if err != nil {
			t.Fatal(err)
		}
		var pts [][]float64
		for _, i := range res.Front {
			pts = append(pts, res.Trials[i].Outcome.Objectives)
		}
		return pts
	}
	for seed := range uint64(3) {
		nsga := front(NSGA2{PopSize: 40, CrossRate: 0.9, MutRate: 1}, seed)
		gd := generationalDistance(nsga)
		lo, hi := 1.0, 0.0
		for _, p := range nsga {
			lo, hi = min(lo, p[0]), max(hi, p[0])
		}
		randomGD := generationalDistance(front(Random{Batch: 40}, seed))
		t.Logf("seed %d: nsga2 front of %d points, f1 in [%.3f, %.3f], generational distance %.4f; random's %.4f",
			seed, len(nsga), lo, hi, gd, randomGD)
		if gd > 0.005 {
			t.Errorf("seed %d: generational distance %.4f to the ZDT1 front, want <= 0.005", seed, gd)
		}
		if hi-lo < 0.9 || len(nsga) < 40 {
			t.Errorf("seed %d: front of %d points spans f1 in [%.3f, %.3f]; want >= 40 points spanning >= 0.9", seed, len(nsga), lo, hi)
		}
		if randomGD < 0.1 {
			t.Errorf("seed %d: random search comes within %.4f of the front: the problem is too easy to tell", seed, randomGD)
		}
	}
}

func TestEvolutionBeatsRandomAtEqualBudget(t *testing.T) {
	const seeds, budget = 20, 300
	sp := bits{n: 32, maxOnes: -1}
	bestOf := func(s Strategy, seed int) float64 {
		f := newNK(32, 4, int64(seed))
		ev := EvaluatorFunc[string](func(_ context.Context, req Request[string]) (Outcome, error) {
			return Outcome{Objectives: []float64{-f.fitness(req.Genome)}}, nil
		})
		res, err := Run(context.Background(), sp, ev, nil, Config[string]{Strategy: s, Seed: uint64(seed), Objectives: 1, Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Trials != budget {
			t.Fatalf("%s: %d trials, want %d", s.Name(), res.Stats.Trials, budget)
		}
		return res.Stats.Best[0]
	}
	random := make([]float64, seeds)
	for seed := range seeds {
		random[seed] = bestOf(Random{Batch: 20}, seed)
	}
	for _, s := range []Strategy{
		GA{PopSize: 20, Tournament: 3, Elite: 2, CrossRate: 0.5, MutRate: 1},
		RegEvo{Population: 20, Sample: 5, Batch: 4},
	} {
		wins, gain := 0, 0.0
		for seed := range seeds {
			b := bestOf(s, seed)
			if b < random[seed] {
				wins++
			}
			gain += random[seed] - b
		}
		t.Logf("%s beats random on %d of %d seeds; mean gain in NK fitness %.4f", s.Name(), wins, seeds, gain/seeds)
		// Under the null hypothesis of no difference, 15 or more wins of 20 has probability 2%.
		if wins < 15 || gain <= 0 {
			t.Errorf("%s beats random on only %d of %d seeds (mean gain %.4f)", s.Name(), wins, seeds, gain/seeds)
		}
	}
}

func TestTrialsDoNotDependOnWorkers(t *testing.T) {
	p := twoObjectives{f: newNK(12, 3, 1), failEvery: 9}
	for _, s := range allStrategies {
		t.Run(s.Name(), func(t *testing.T) {
			var runs [][]Trial[string]
			for _, workers := range []int{1, 4} {
				ev := newRecorder(p.outcome)
				ev.jitter = 300_000 // ns: evaluations finish out of order
				res, err := Run(context.Background(), bits{n: 12, maxOnes: -1}, ev, nil, Config[string]{
					Strategy: s, Seed: 3, Objectives: 2, Budget: 150, Workers: workers,
					Fidelities: []float64{1, 3, 9},
				})
				if err != nil {
					t.Fatal(err)
				}
				runs = append(runs, res.Trials)
			}
			if d := diffTrials(runs[1], runs[0]); d != "" {
				t.Fatalf("4 workers vs 1: %s", d)
			}
			res, err := Run(context.Background(), bits{n: 12, maxOnes: -1}, newRecorder(p.outcome), nil, Config[string]{
				Strategy: s, Seed: 4, Objectives: 2, Budget: 150, Fidelities: []float64{1, 3, 9},
			})
			if err != nil {
				t.Fatal(err)
			}
			if diffTrials(res.Trials, runs[0]) == "" {
				t.Fatal("seeds 3 and 4 gave the same trials")
			}
		})
	}
}

func TestOverBudgetGenomesAreNeverEvaluated(t *testing.T) {
	// Random genomes of 24 bits have 12 ones on average; at most 9 are allowed, so most
	// proposals, random or bred, are over budget.
	sp := bits{n: 24, maxOnes: 9}
	p := twoObjectives{f: newNK(24, 2, 5)}
	for _, s := range allStrategies {
		ev := newRecorder(p.outcome)
		ev.check = sp.Check
		res, err := Run(context.Background(), sp, ev, nil, Config[string]{Strategy: s, Seed: 1, Objectives: 2, Budget: 120})
		if err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		if ev.violation != "" {
			t.Fatalf("%s: %s", s.Name(), ev.violation)
		}
		if ev.total() == 0 || res.Stats.Trials != 120 || res.Stats.Rejected < res.Stats.Trials/2 {
			t.Fatalf("%s: %d evaluations, %d trials, %d rejected proposals; the test proves nothing",
				s.Name(), ev.total(), res.Stats.Trials, res.Stats.Rejected)
		}
	}
}

func TestUnmeetableConstraintIsAnError(t *testing.T) {
	sp := bits{n: 16, maxOnes: 1} // a random 16-bit genome almost never has at most one 1
	ev := newRecorder(twoObjectives{f: newNK(16, 2, 1)}.outcome)
	_, err := Run(context.Background(), sp, ev, nil, Config[string]{Strategy: Random{Batch: 4}, Objectives: 2, Budget: 20, MaxTries: 50})
	var ce *ConstraintError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConstraintError", err)
	}
	if ce.Tries != 50 || !strings.Contains(err.Error(), "cannot meet") || !strings.Contains(err.Error(), "exceed the limit of 1") {
		t.Fatalf("error %q does not say which constraint failed after 50 tries", err)
	}
	if ev.total() != 0 {
		t.Fatalf("%d evaluations of over-budget genomes", ev.total())
	}
}

func TestDuplicatesAreNotEvaluatedAgain(t *testing.T) {
	// 5 bits make 32 genomes; a budget of 200 must re-propose most of them.
	ev := newRecorder(twoObjectives{f: newNK(5, 1, 2)}.outcome)
	res, err := Run(context.Background(), bits{n: 5, maxOnes: -1}, ev, nil, Config[string]{
		Strategy: RegEvo{Population: 8, Sample: 3, Batch: 4}, Objectives: 2, Budget: 200, Workers: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range ev.calls {
		if c != 1 {
			t.Fatalf("%s evaluated %d times", k.key, c)
		}
	}
	s := res.Stats
	if s.Trained != len(ev.calls) || s.Trained+s.Duplicates != 200 || s.Trained > 32 {
		t.Fatalf("stats %+v after %d distinct evaluations", s, len(ev.calls))
	}
	if rate := s.DuplicateRate(); rate != float64(s.Duplicates)/200 || rate < 0.8 {
		t.Fatalf("duplicate rate %v, want %d/200 >= 0.8", rate, s.Duplicates)
	}
	for _, tr := range res.Trials {
		if want := ev.problem(tr.Key, 0); !slices.Equal(tr.Outcome.Objectives, want.Objectives) {
			t.Fatalf("trial %d (%s): objectives %v, want %v", tr.Request.Trial, tr.Source, tr.Outcome.Objectives, want.Objectives)
		}
	}
}

func TestFailuresAreData(t *testing.T) {
	p := twoObjectives{f: newNK(16, 2, 3), failEvery: 3}
	ev := newRecorder(p.outcome)
	res, err := Run(context.Background(), bits{n: 16, maxOnes: -1}, ev, nil, Config[string]{
		Strategy: NSGA2{PopSize: 10, CrossRate: 0.9, MutRate: 1}, Objectives: 2, Budget: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, tr := range res.Trials {
		if tr.Outcome.Failed() && tr.Source != Duplicate {
			failed++
		}
	}
	if failed == 0 || failed != res.Stats.Failures || res.Stats.Trials != 100 {
		t.Fatalf("%d failed trials, stats %+v", failed, res.Stats)
	}
	if len(res.Front) == 0 {
		t.Fatal("empty front")
	}
	for _, i := range res.Front {
		if res.Trials[i].Outcome.Failed() {
			t.Fatalf("failed trial %d on the front", i)
		}
	}
}

func TestSuccessiveHalvingPromotesTheBest(t *testing.T) {
	p := twoObjectives{f: newNK(10, 2, 4)}
	for _, s := range []Strategy{Random{Batch: 27}, RegEvo{Population: 27, Sample: 3, Batch: 27}} {
		ev := newRecorder(p.outcome)
		res, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, ev, nil, Config[string]{
			Strategy: s, Objectives: 2, Budget: 2 * (27 + 9 + 3), Fidelities: []float64{1, 2, 4},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Trials) != 78 {
			t.Fatalf("%s: %d trials, want 78", s.Name(), len(res.Trials))
		}
		for batch := 0; batch < 2; batch++ {
			trials := res.Trials[batch*39 : (batch+1)*39]
			levels := [][]Trial[string]{trials[:27], trials[27:36], trials[36:]}
			for l := 1; l < 3; l++ {
				// The promoted must be the best of the level below: on Pareto fronts for random
				// search, on the first objective for regevo.
				var points [][]float64
				promoted := map[string]bool{}
				for _, tr := range levels[l] {
					promoted[tr.Key] = true
					if tr.Fidelity != []float64{1, 2, 4}[l] || tr.Level != l {
						t.Fatalf("%s: trial %d at fidelity %v, level %d", s.Name(), tr.Request.Trial, tr.Fidelity, tr.Level)
					}
				}
				for _, tr := range levels[l-1] {
					points = append(points, tr.Outcome.Objectives)
				}
				for i, a := range levels[l-1] {
					for j, b := range levels[l-1] {
						if promoted[a.Key] || !promoted[b.Key] {
							continue
						}
						// a stayed behind while b was promoted: a must not be strictly better.
						if s.Name() == "random" && dominates(points[i], points[j]) {
							t.Fatalf("%s: %v stayed at level %d while %v, which it dominates, was promoted", s.Name(), points[i], l-1, points[j])
						}
						if s.Name() == "regevo" && points[i][0] < points[j][0] {
							t.Fatalf("%s: %v stayed at level %d while the worse %v was promoted", s.Name(), points[i], l-1, points[j])
						}
					}
				}
			}
		}
		for k, c := range ev.calls {
			if c != 1 {
				t.Fatalf("%s: %s at fidelity %v evaluated %d times", s.Name(), k.key, k.fidelity, c)
			}
		}
		// Only last-level trials count for the front.
		for _, i := range res.Front {
			if res.Trials[i].Level != 2 {
				t.Fatalf("%s: front holds trial %d of level %d", s.Name(), i, res.Trials[i].Level)
			}
		}
	}
}

func dominates(a, b []float64) bool {
	return a[0] <= b[0] && a[1] <= b[1] && (a[0] < b[0] || a[1] < b[1])
}

func TestBudgetIsSpentExactly(t *testing.T) {
	p := twoObjectives{f: newNK(10, 2, 4)}
	for _, s := range allStrategies {
		for _, budget := range []int{53, 61} {
			res, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, newRecorder(p.outcome), nil, Config[string]{
				Strategy: s, Objectives: 2, Budget: budget, Fidelities: []float64{1, 3},
			})
			if err != nil {
				t.Fatal(err)
			}
			// The last batch is cut to what the budget covers; a cut batch leaves less than one
			// candidate's full cost (2 trials) unspent.
			if n := len(res.Trials); n > budget || n < budget-1 {
				t.Fatalf("%s, budget %d: %d trials", s.Name(), budget, n)
			}
			for i, tr := range res.Trials {
				if tr.Request.Trial != i {
					t.Fatalf("%s: trial %d numbered %d", s.Name(), i, tr.Request.Trial)
				}
			}
		}
	}
}

func TestProgressIsReportedAfterEveryBatch(t *testing.T) {
	var got []Stats
	res, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, newRecorder(twoObjectives{f: newNK(10, 2, 4)}.outcome), nil, Config[string]{
		Strategy:   GA{PopSize: 10, Tournament: 2, Elite: 1, CrossRate: 0.5, MutRate: 1},
		Objectives: 2, Budget: 64, Progress: func(s Stats) { got = append(got, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 10 for the initial population, then 6 generations of 9 children: 64 trials.
	if len(got) != 7 || res.Stats.Batches != 7 {
		t.Fatalf("%d reports, %d batches; want 7", len(got), res.Stats.Batches)
	}
	for i, s := range got {
		if s.Batches != i+1 || s.Trials != 10+9*i || s.Budget != 64 || len(s.Best) != 2 || s.FrontSize < 1 {
			t.Fatalf("report %d: %+v", i, s)
		}
		if i > 0 && s.Best[0] > got[i-1].Best[0] {
			t.Fatalf("best objective rose from %v to %v", got[i-1].Best[0], s.Best[0])
		}
	}
}

func TestCancelStopsBetweenEvaluationsAndResumeCompletes(t *testing.T) {
	p := twoObjectives{f: newNK(14, 2, 6), failEvery: 7}
	cfg := Config[string]{Strategy: NSGA2{PopSize: 10, CrossRate: 0.9, MutRate: 1}, Seed: 9, Objectives: 2, Budget: 120, Workers: 3, Fidelities: []float64{1, 3}}
	want, err := Run(context.Background(), bits{n: 14, maxOnes: -1}, newRecorder(p.outcome), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}

	cache := newMemoryCache()
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	ev := EvaluatorFunc[string](func(ctx context.Context, req Request[string]) (Outcome, error) {
		if calls.Add(1) == 40 {
			cancel()
		}
		if ctx.Err() != nil {
			// An evaluator interrupted mid-training may report a failure or an error.
			if req.Trial%2 == 0 {
				return Outcome{Failure: "cancelled"}, nil
			}
			return Outcome{}, ctx.Err()
		}
		return p.outcome(req.Key, req.Fidelity), nil
	})
	part, err := Run(ctx, bits{n: 14, maxOnes: -1}, ev, cache, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	if len(part.Trials) == 0 || len(part.Trials) >= len(want.Trials) {
		t.Fatalf("interrupted run kept %d trials of %d", len(part.Trials), len(want.Trials))
	}
	if d := diffTrials(part.Trials, want.Trials[:len(part.Trials)]); d != "" {
		t.Fatalf("interrupted run: %s", d)
	}
	for k, o := range cache.m {
		if o.Failure == "cancelled" {
			t.Fatalf("a failure caused by the cancellation was cached for %v", k)
		}
	}

	ev2 := newRecorder(p.outcome)
	got, err := Run(context.Background(), bits{n: 14, maxOnes: -1}, ev2, cache, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTrials(got.Trials, want.Trials); d != "" {
		t.Fatalf("resumed run: %s", d)
	}
	if got.Stats.Reused == 0 || got.Stats.Reused+got.Stats.Trained != want.Stats.Trained {
		t.Fatalf("resumed run reused %d and trained %d; the uninterrupted one trained %d", got.Stats.Reused, got.Stats.Trained, want.Stats.Trained)
	}
}

// memoryCache is a Cache in a map.
type memoryCache struct{ m map[evalKey]Outcome }

func newMemoryCache() *memoryCache { return &memoryCache{m: map[evalKey]Outcome{}} }

func (c *memoryCache) Lookup(_ context.Context, key string, fidelity float64) (Outcome, bool, error) {
	o, ok := c.m[evalKey{key, fidelity}]
	return o, ok, nil
}

func (c *memoryCache) Put(_ context.Context, req Request[string], o Outcome) error {
	c.m[evalKey{req.Key, req.Fidelity}] = o
	return nil
}

func TestBadOutcomesAreErrors(t *testing.T) {
	cases := []struct {
		name string
		o    Outcome
		want string
	}{
		{"too few objectives", Outcome{Objectives: []float64{1}}, "1 objectives, want 2"},
		{"a NaN objective", Outcome{Objectives: []float64{1, math.NaN()}}, "objective 1 is NaN"},
	}
	for _, c := range cases {
		ev := EvaluatorFunc[string](func(context.Context, Request[string]) (Outcome, error) { return c.o, nil })
		_, err := Run(context.Background(), bits{n: 8, maxOnes: -1}, ev, nil, Config[string]{Strategy: Random{Batch: 4}, Objectives: 2, Budget: 8})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestInvalidConfigsAreRejected(t *testing.T) {
	ok := Config[string]{Strategy: Random{Batch: 4}, Objectives: 2, Budget: 10}
	cases := []struct {
		name   string
		change func(*Config[string])
		want   string
	}{
		{"no strategy", func(c *Config[string]) { c.Strategy = nil }, "no Strategy; valid: random, ga, nsga2, regevo"},
		{"no objectives", func(c *Config[string]) { c.Objectives = 0 }, "Objectives is 0"},
		{"budget below the population", func(c *Config[string]) { c.Budget = 3 }, "initial population of 4 takes 4 trials"},
		{"budget below the population's halving", func(c *Config[string]) { c.Budget = 5; c.Fidelities = []float64{1, 2} }, "takes 6 trials"},
		{"decreasing fidelities", func(c *Config[string]) { c.Fidelities = []float64{3, 1} }, "levels must be finite and increase"},
		{"eta of one", func(c *Config[string]) { c.Eta = 1 }, "Eta is 1"},
		{"negative workers", func(c *Config[string]) { c.Workers = -2 }, "Workers is -2"},
		{"more threads than cores", func(c *Config[string]) { c.Workers, c.Threads = 2, 1<<20 }, "Workers × Threads is 2 × 1048576"},
		{"ga population too small", func(c *Config[string]) { c.Strategy = GA{PopSize: 3, Tournament: 3} }, "PopSize is 3; it must be in [Tournament+1, 65536] = [4, 65536]"},
		{"ga elite too large", func(c *Config[string]) { c.Strategy = GA{PopSize: 5, Tournament: 2, Elite: 5} }, "Elite is 5"},
		{"nsga2 rate out of range", func(c *Config[string]) { c.Strategy = NSGA2{PopSize: 4, CrossRate: 1.5} }, "CrossRate is 1.5"},
		{"more initial genomes than the population", func(c *Config[string]) { c.Initial = make([]string, 5) }, "Initial has 5 genomes; the initial population holds 4"},
		{"regevo sample too large", func(c *Config[string]) { c.Strategy = RegEvo{Population: 4, Sample: 5, Batch: 1} }, "Sample is 5"},
	}
	ev := newRecorder(twoObjectives{f: newNK(8, 1, 1)}.outcome)
	for _, c := range cases {
		cfg := ok
		c.change(&cfg)
		_, err := Run(context.Background(), bits{n: 8, maxOnes: -1}, ev, nil, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
	if ev.total() != 0 {
		t.Fatalf("%d evaluations under invalid configurations", ev.total())
	}
}

func TestNewStrategyKnowsEveryName(t *testing.T) {
	for _, name := range StrategyNames {
		s, err := NewStrategy(name)
		if err != nil || s.Name() != name || s.validate() != nil {
			t.Errorf("NewStrategy(%q) = %v, %v", name, s, err)
		}
	}
	if _, err := NewStrategy("cmaes"); err == nil || !strings.Contains(err.Error(), "valid: random, ga, nsga2, regevo") {
		t.Errorf("NewStrategy(\"cmaes\"): err = %v", err)
	}
}

func TestMaxTimeStopsAtABatchBoundary(t *testing.T) {
	p := twoObjectives{f: newNK(10, 2, 4)}
	cfg := Config[string]{Strategy: RegEvo{Population: 10, Sample: 3, Batch: 2}, Seed: 5, Objectives: 2, Budget: 60}
	full, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, newRecorder(p.outcome), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxTime = time.Nanosecond
	cut, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, newRecorder(p.outcome), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Trials) != 10 || cut.Stats.Batches != 1 {
		t.Fatalf("MaxTime of 1ns kept %d trials in %d batches; want the initial 10 in 1", len(cut.Trials), cut.Stats.Batches)
	}
	if d := diffTrials(cut.Trials, full.Trials[:10]); d != "" {
		t.Fatal(d)
	}
}

func TestRequestsCarryWorkerAndThreads(t *testing.T) {
	threads := max(1, runtime.GOMAXPROCS(0)/2) // the default share of 2 workers
	var bad atomic.Value
	ev := EvaluatorFunc[string](func(_ context.Context, req Request[string]) (Outcome, error) {
		if req.Worker < 0 || req.Worker >= 2 || req.Threads != threads {
			bad.Store(fmt.Sprintf("trial %d: worker %d, threads %d", req.Trial, req.Worker, req.Threads))
		}
		return twoObjectives{f: newNK(10, 2, 4)}.outcome(req.Key, req.Fidelity), nil
	})
	_, err := Run(context.Background(), bits{n: 10, maxOnes: -1}, ev, nil, Config[string]{
		Strategy: Random{Batch: 6}, Objectives: 2, Budget: 30, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := bad.Load(); b != nil {
		t.Fatalf("want workers in [0, 2) and %d threads: %s", threads, b)
	}
}

// BenchmarkOverheadPerTrial measures what the search itself costs per trial, with an evaluator
// that costs nothing: proposal, constraint check, ranking, caching and bookkeeping.
func BenchmarkOverheadPerTrial(b *testing.B) {
	p := twoObjectives{f: newNK(32, 2, 1)}
	for _, s := range []Strategy{Random{Batch: 20}, GA{PopSize: 20, Tournament: 3, Elite: 2, CrossRate: 0.5, MutRate: 1},
		NSGA2{PopSize: 20, CrossRate: 0.9, MutRate: 1}, RegEvo{Population: 20, Sample: 5, Batch: 4}} {
		b.Run(s.Name(), func(b *testing.B) {
			ev := EvaluatorFunc[string](func(_ context.Context, req Request[string]) (Outcome, error) {
				return p.outcome(req.Key, req.Fidelity), nil
			})
			for b.Loop() {
				if _, err := Run(context.Background(), bits{n: 32, maxOnes: -1}, ev, newMemoryCache(), Config[string]{
					Strategy: s, Objectives: 2, Budget: 1000, Workers: 2,
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "µs/trial")
		})
	}
}
