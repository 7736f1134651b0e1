package search

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/MaxHalford/eaopt"

	"github.com/gonas/nas/search/pareto"
)

// Source says where a trial's outcome came from.
type Source int

// The sources of an outcome.
const (
	Trained   Source = iota // evaluated by the Evaluator in this run
	Reused                  // found in the Cache, from an earlier (interrupted) run
	Duplicate               // its key was already evaluated at this fidelity in this run
)

// String returns "trained", "reused" or "duplicate".
func (s Source) String() string {
	switch s {
	case Trained:
		return "trained"
	case Reused:
		return "reused"
	case Duplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Trial is one evaluation of the search, in proposal order.
type Trial[G any] struct {
	Request[G]
	Level   int // index of Fidelity in Config.Fidelities
	Outcome Outcome
	Source  Source
}

// Stats sums up a search so far.
type Stats struct {
	Batches    int `json:"batches"`    // batches done, the initial population included
	Trials     int `json:"trials"`     // trials done, duplicates included
	Budget     int `json:"budget"`     // Config.Budget
	Trained    int `json:"trained"`    // trials evaluated by the Evaluator in this run
	Reused     int `json:"reused"`     // trials found in the Cache from an earlier run
	Duplicates int `json:"duplicates"` // trials whose key was already evaluated at that fidelity in this run
	Failures   int `json:"failures"`   // failed trials, duplicates not counted
	Rejected   int `json:"rejected"`   // proposals over the space's constraints, redrawn without evaluation
	// Best holds, for each objective, the least value of any successful trial at the last
	// fidelity level; nil until there is one.
	Best []float64 `json:"best"`
	// FrontSize is how many such trials are Pareto-optimal.
	FrontSize int           `json:"front_size"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// DuplicateRate returns the fraction of trials that were duplicates.
func (s Stats) DuplicateRate() float64 {
	if s.Trials == 0 {
		return 0
	}
	return float64(s.Duplicates) / float64(s.Trials)
}

// Result is what a search found.
type Result[G any] struct {
	// Trials are all the trials of the completed batches, in proposal order (Trials[i].Trial
	// is i).
	Trials []Trial[G]
	// Front holds the indices in Trials of the Pareto-optimal successful trials at the last
	// fidelity level, duplicates excluded, in increasing order. With one objective it holds
	// the best trial and any that tie with it.
	Front []int
	Stats Stats
}

// ConstraintError is returned when no proposal for a slot passed the space's Check in MaxTries
// draws: the space (or its neighbourhood of the current population) cannot meet its constraints.
type ConstraintError struct {
	Tries int
	Err   error // the last violation Check reported
}

// Error says which constraint could not be met.
func (e *ConstraintError) Error() string {
	return fmt.Sprintf("search: the space cannot meet its constraints: %d proposals in a row were over budget; the last: %v", e.Tries, e.Err)
}

// Unwrap returns the last violation.
func (e *ConstraintError) Unwrap() error { return e.Err }

// Run searches sp with cfg.Strategy: it proposes candidates, skips those that fail sp.Check,
// takes the outcomes of keys already evaluated from cache (which may be nil), and evaluates the
// rest with ev, cfg.Workers at a time. It returns when the budget is spent, MaxTime has elapsed,
// or ctx is cancelled; in the last case it returns the trials of the completed batches with
// ctx's error, and running the same search again over the same cache resumes it.
func Run[G any](ctx context.Context, sp Space[G], ev Evaluator[G], cache Cache[G], cfg Config[G]) (*Result[G], error) {
	return search(ctx, sp, cfg, &run[G]{ev: ev, cache: cache})
}

// RunQueued is Run with the evaluations handed to q a fidelity level of a batch at a time,
// instead of to an Evaluator in this process; Config.Workers and Config.Threads are then
// unused. Its trials are those of Run with an Evaluator that gives the same outcomes, whatever
// the number, speed or order of the workers behind q.
func RunQueued[G any](ctx context.Context, sp Space[G], q Queue[G], cfg Config[G]) (*Result[G], error) {
	return search(ctx, sp, cfg, &run[G]{queue: q})
}

// search runs the search of Run and RunQueued; r holds how to evaluate.
func search[G any](ctx context.Context, sp Space[G], cfg Config[G], r *run[G]) (*Result[G], error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	seeds := rand.New(rand.NewSource(int64(cfg.Seed)))
	r.sp, r.cfg = sp, cfg
	r.multi = cfg.Strategy.multiObjective()
	r.start = time.Now()
	r.seen = make(map[evalKey]Outcome)
	r.stats.Budget = cfg.Budget

	var seeded []G
	for _, g := range cfg.Initial {
		if sp.Check(g) != nil {
			r.stats.Rejected++
			continue
		}
		seeded = append(seeded, g)
	}
	init := rand.New(rand.NewSource(seeds.Int63()))
	first, err := r.breed(ctx, cfg.Strategy.population(), func() proposal[G] {
		if len(seeded) > 0 {
			g := seeded[0]
			seeded = seeded[1:]
			return proposal[G]{g: g, op: seedOperator}
		}
		return proposal[G]{g: sp.Random(init), op: "init"}
	})
	if err == nil {
		ordered := r.rank(first)
		ga, gerr := eaopt.GAConfig{
			NPops:        1,
			PopSize:      uint(len(ordered)),
			NGenerations: uint(cfg.Budget), // every generation takes at least one trial
			HofSize:      1,
			Model:        newModel(r, cfg.Strategy, func(n int, next func() proposal[G]) ([]*genome[G], error) { return r.breed(ctx, n, next) }),
			RNG:          rand.New(rand.NewSource(seeds.Int63())),
			EarlyStop:    func(*eaopt.GA) bool { return r.done(ctx) },
			Callback:     func(*eaopt.GA) { r.report() },
		}.NewGA()
		if gerr != nil {
			panic("search: invalid eaopt configuration: " + gerr.Error())
		}
		next := 0
		err = ga.Minimize(func(*rand.Rand) eaopt.Genome {
			next++
			return ordered[next-1].Genome
		})
	}
	if ctx.Err() != nil {
		err = ctx.Err() // a cancelled search reports the cancellation, whatever it broke
	}
	return r.result(), err
}

// The operator of a genome of Config.Initial.
const seedOperator = "seed"

// evalKey identifies an evaluation.
type evalKey struct {
	key      string
	fidelity float64
}

// run is the state of one search.
type run[G any] struct {
	sp    Space[G]
	ev    Evaluator[G] // evaluates when queue is nil
	cache Cache[G]     // may be nil
	queue Queue[G]     // evaluates whole levels, and is the cache, when set
	cfg   Config[G]
	multi bool // rank on every objective rather than the first
	start time.Time

	batch  int // index of the batch being proposed
	births int // genomes made so far; a genome's birth orders it by age
	trials []Trial[G]
	seen   map[evalKey]Outcome // outcomes of the evaluations of this run, by key and fidelity
	front  []int               // indices in trials of the current Pareto front
	stats  Stats
}

// proposal is a genome with what made it.
type proposal[G any] struct {
	g       G
	op      string
	parents []string
}

// done reports whether the search must stop before the next batch.
func (r *run[G]) done(ctx context.Context) bool {
	return r.cfg.Budget-len(r.trials) < r.cfg.cost(1) ||
		(r.cfg.MaxTime > 0 && time.Since(r.start) >= r.cfg.MaxTime) ||
		ctx.Err() != nil
}

// propose draws from next until a proposal passes the space's constraints, MaxTries at most.
func (r *run[G]) propose(next func() proposal[G]) (proposal[G], error) {
	var last error
	for range r.cfg.MaxTries {
		p := next()
		if last = r.sp.Check(p.g); last == nil {
			return p, nil
		}
		r.stats.Rejected++
	}
	return proposal[G]{}, &ConstraintError{Tries: r.cfg.MaxTries, Err: last}
}

// breed proposes a batch of n candidates drawn by next and evaluates it. It returns fewer than n
// members if the budget does not cover the whole batch.
func (r *run[G]) breed(ctx context.Context, n int, next func() proposal[G]) ([]*genome[G], error) {
	ps := make([]proposal[G], n)
	for i := range ps {
		p, err := r.propose(next)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return r.evaluate(ctx, ps)
}

// evaluate evaluates a batch, by successive halving when there are several fidelity levels,
// and records its trials in proposal order.
func (r *run[G]) evaluate(ctx context.Context, ps []proposal[G]) ([]*genome[G], error) {
	n := len(ps)
	for n > 0 && r.cfg.cost(n) > r.cfg.Budget-len(r.trials) {
		n--
	}
	if n == 0 {
		panic("search: a batch was proposed after the budget was spent") // run.done prevents it
	}
	members := make([]*genome[G], n)
	for i, p := range ps[:n] {
		members[i] = &genome[G]{sp: r.sp, g: p.g, op: p.op, parents: p.parents, key: r.sp.Key(p.g), birth: r.births}
		r.births++
	}
	var trials []Trial[G]
	alive := members
	for level, fid := range r.cfg.Fidelities {
		if level > 0 {
			keep := r.order(alive)[:promoted(len(alive), r.cfg.Eta)]
			sort.Ints(keep) // evaluate in proposal order
			next := make([]*genome[G], len(keep))
			for i, k := range keep {
				next[i] = alive[k]
			}
			alive = next
		}
		ts, err := r.evaluateLevel(ctx, alive, level, fid, len(r.trials)+len(trials))
		if err != nil {
			return nil, err
		}
		for i, m := range alive {
			m.level = level
			m.obj = r.objectives(ts[i].Outcome)
		}
		trials = append(trials, ts...)
	}
	for _, t := range trials {
		r.record(t)
	}
	r.batch++
	return members, nil
}

// evaluateLevel returns the trials of evaluating ms at one fidelity level, numbered from base:
// outcomes of evaluations done earlier in this run are reused as duplicates, those in the cache
// are reused, and the others are evaluated.
func (r *run[G]) evaluateLevel(ctx context.Context, ms []*genome[G], level int, fid float64, base int) ([]Trial[G], error) {
	trials := make([]Trial[G], len(ms))
	var jobs []int              // indices of trials to evaluate
	firsts := map[evalKey]int{} // the first trial of each key in this level
	copies := map[int]int{}     // duplicate trial -> the trial of this level it copies
	for i, m := range ms {
		trials[i] = Trial[G]{
			Request: Request[G]{
				Trial: base + i, Batch: r.batch, Key: m.key, Genome: m.g, Fidelity: fid,
				Operator: m.op, Parents: m.parents,
			},
			Level: level,
		}
		k := evalKey{m.key, fid}
		if o, ok := r.seen[k]; ok {
			trials[i].Outcome, trials[i].Source = o, Duplicate
			continue
		}
		if j, ok := firsts[k]; ok {
			copies[i] = j
			trials[i].Source = Duplicate
			continue
		}
		firsts[k] = i
		o, ok, err := r.lookup(ctx, m.key, fid)
		if err != nil {
			return nil, fmt.Errorf("search: cache lookup of %s at fidelity %v: %w", m.key, fid, err)
		}
		if ok {
			if err := r.check(o); err != nil {
				return nil, fmt.Errorf("search: cached outcome of %s at fidelity %v: %w", m.key, fid, err)
			}
			trials[i].Outcome, trials[i].Source = o, Reused
			continue
		}
		jobs = append(jobs, i)
	}
	train := r.train
	if r.queue != nil {
		train = r.dispatch
	}
	if err := train(ctx, trials, jobs); err != nil {
		return nil, err
	}
	for i, j := range copies {
		trials[i].Outcome = trials[j].Outcome
	}
	return trials, nil
}

// lookup returns the outcome that the cache or the queue holds for key at fidelity fid.
func (r *run[G]) lookup(ctx context.Context, key string, fid float64) (Outcome, bool, error) {
	switch {
	case r.queue != nil:
		return r.queue.Lookup(ctx, key, fid)
	case r.cache != nil:
		return r.cache.Lookup(ctx, key, fid)
	}
	return Outcome{}, false, nil
}

// dispatch hands the level's trials to the queue and stores the outcomes of trials[j], for every
// j in jobs, in their trials.
func (r *run[G]) dispatch(ctx context.Context, trials []Trial[G], jobs []int) error {
	outs, err := r.queue.EvaluateLevel(ctx, trials)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("search: evaluating trials %d to %d: %w", trials[0].Trial, trials[len(trials)-1].Trial, err)
	}
	if len(outs) != len(jobs) {
		panic(fmt.Sprintf("search: the queue returned %d outcomes for %d evaluations", len(outs), len(jobs)))
	}
	for i, j := range jobs {
		t := &trials[j]
		if err := r.check(outs[i]); err != nil {
			return fmt.Errorf("search: queued outcome of trial %d (%s at fidelity %v): %w", t.Trial, t.Key, t.Fidelity, err)
		}
		t.Outcome = outs[i]
	}
	return nil
}

// train evaluates trials[j] for every j in jobs, Workers at a time, storing each outcome in its
// trial and in the cache as soon as it arrives.
func (r *run[G]) train(ctx context.Context, trials []Trial[G], jobs []int) error {
	if len(jobs) == 0 {
		return nil
	}
	evalCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		job int
		o   Outcome
		err error
	}
	queue := make(chan int)
	results := make(chan done)
	var wg sync.WaitGroup
	for w := range min(r.cfg.Workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				req := trials[j].Request
				req.Worker, req.Threads = w, r.cfg.Threads
				o, err := r.ev.Evaluate(evalCtx, req)
				results <- done{j, o, err}
			}
		}()
	}
	go func() {
	feed:
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-evalCtx.Done():
				break feed
			}
		}
		close(queue)
		wg.Wait()
		close(results)
	}()

	var first error
	stop := func(err error) {
		if first == nil {
			first = err
			cancel()
		}
	}
	finished := 0
	for d := range results {
		t := &trials[d.job]
		switch {
		case d.err != nil:
			stop(fmt.Errorf("search: evaluating trial %d (%s at fidelity %v): %w", t.Trial, t.Key, t.Fidelity, d.err))
			continue
		case d.o.Failed() && evalCtx.Err() != nil:
			// The failure may be the cancellation's doing; leave it to the resumed run.
			continue
		}
		if err := r.check(d.o); err != nil {
			stop(fmt.Errorf("search: evaluator's outcome for trial %d (%s at fidelity %v): %w", t.Trial, t.Key, t.Fidelity, err))
			continue
		}
		if r.cache != nil {
			if err := r.cache.Put(context.WithoutCancel(ctx), t.Request, d.o); err != nil {
				stop(fmt.Errorf("search: caching trial %d (%s at fidelity %v): %w", t.Trial, t.Key, t.Fidelity, err))
				continue
			}
		}
		t.Outcome = d.o
		finished++
	}
	if err := ctx.Err(); err != nil && (first != nil || finished < len(jobs)) {
		return err // the cancellation is the cause; report it as such
	}
	return first
}

// check returns an error if o is a success with the wrong number of objectives or a NaN one.
func (r *run[G]) check(o Outcome) error {
	if o.Failed() {
		return nil
	}
	if len(o.Objectives) != r.cfg.Objectives {
		return fmt.Errorf("%d objectives, want %d", len(o.Objectives), r.cfg.Objectives)
	}
	for i, v := range o.Objectives {
		if math.IsNaN(v) {
			return fmt.Errorf("objective %d is NaN; report a diverged candidate as a Failure", i)
		}
	}
	return nil
}

// objectives returns the values an outcome is ranked by: its objectives, or +Inf in every
// objective for a failure, so that every success dominates it.
func (r *run[G]) objectives(o Outcome) []float64 {
	if !o.Failed() {
		return o.Objectives
	}
	worst := make([]float64, r.cfg.Objectives)
	for i := range worst {
		worst[i] = math.Inf(1)
	}
	return worst
}

// record appends t to the trials and updates the statistics and the front.
func (r *run[G]) record(t Trial[G]) {
	i := len(r.trials)
	r.trials = append(r.trials, t)
	r.stats.Trials++
	switch t.Source {
	case Trained:
		r.stats.Trained++
	case Reused:
		r.stats.Reused++
	case Duplicate:
		r.stats.Duplicates++
		return
	}
	r.seen[evalKey{t.Key, t.Fidelity}] = t.Outcome
	if t.Outcome.Failed() {
		r.stats.Failures++
		return
	}
	if t.Level != len(r.cfg.Fidelities)-1 {
		return
	}
	p := t.Outcome.Objectives
	if r.stats.Best == nil {
		r.stats.Best = slices.Clone(p)
	}
	for k, v := range p {
		r.stats.Best[k] = min(r.stats.Best[k], v)
	}
	for _, j := range r.front {
		if pareto.Dominates(r.trials[j].Outcome.Objectives, p) {
			return
		}
	}
	r.front = slices.DeleteFunc(r.front, func(j int) bool {
		return pareto.Dominates(p, r.trials[j].Outcome.Objectives)
	})
	r.front = append(r.front, i)
	r.stats.FrontSize = len(r.front)
}

// order returns the indices of ms from best to worst: a higher fidelity level first, then a
// lower Pareto front (on the objectives the strategy ranks by), then a larger crowding distance,
// then the order of ms.
func (r *run[G]) order(ms []*genome[G]) []int {
	byLevel := make([]int, len(ms))
	for i := range byLevel {
		byLevel[i] = i
	}
	sort.SliceStable(byLevel, func(a, b int) bool { return ms[byLevel[a]].level > ms[byLevel[b]].level })
	out := make([]int, 0, len(ms))
	for lo := 0; lo < len(byLevel); {
		hi := lo
		for hi < len(byLevel) && ms[byLevel[hi]].level == ms[byLevel[lo]].level {
			hi++
		}
		group := byLevel[lo:hi]
		points := make([][]float64, len(group))
		for k, i := range group {
			points[k] = ms[i].obj
			if !r.multi {
				points[k] = points[k][:1]
			}
		}
		for _, front := range pareto.Fronts(points) {
			crowd := pareto.Crowding(points, front)
			pos := make([]int, len(front))
			for k := range pos {
				pos[k] = k
			}
			sort.SliceStable(pos, func(a, b int) bool { return crowd[pos[a]] > crowd[pos[b]] })
			for _, k := range pos {
				out = append(out, group[front[k]])
			}
		}
		lo = hi
	}
	return out
}

// rank returns ms as eaopt individuals from best to worst, each with its position as fitness,
// which is what eaopt sorts and selects on.
func (r *run[G]) rank(ms []*genome[G]) eaopt.Individuals {
	indis := make(eaopt.Individuals, len(ms))
	for pos, i := range r.order(ms) {
		ms[i].fitness, ms[i].scored = float64(pos), true
		indis[pos] = eaopt.Individual{Genome: ms[i], Fitness: float64(pos), Evaluated: true}
	}
	return indis
}

// report sends the statistics to the Progress callback.
func (r *run[G]) report() {
	if r.cfg.Progress == nil {
		return
	}
	s := r.stats
	s.Batches = r.batch
	s.Best = slices.Clone(s.Best)
	s.Elapsed = time.Since(r.start)
	r.cfg.Progress(s)
}

// result returns the trials and front so far.
func (r *run[G]) result() *Result[G] {
	res := &Result[G]{Trials: r.trials, Front: slices.Clone(r.front), Stats: r.stats}
	slices.Sort(res.Front)
	res.Stats.Batches = r.batch
	res.Stats.Best = slices.Clone(res.Stats.Best)
	res.Stats.Elapsed = time.Since(r.start)
	return res
}
