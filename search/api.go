package search

import (
	"context"
	"math/rand"
)

// Space is what search needs from a search space for genomes of type G. Genomes are values:
// Mutate and Crossover return new genomes and never modify their arguments, so one genome may be
// shared by several individuals. Every method draws randomness from rng only (never from time or
// the global generator), which is what makes a search replayable.
type Space[G any] interface {
	// Random draws a genome from the space's prior.
	Random(rng *rand.Rand) G
	// Mutate returns a variant of g.
	Mutate(g G, rng *rand.Rand) G
	// Crossover returns a child that mixes a and b.
	Crossover(a, b G, rng *rand.Rand) G
	// Key returns g's canonical identity: genomes that decode to the same network have the same
	// key, and a key is evaluated only once per fidelity.
	Key(g G) string
	// Check returns an error naming the violated constraint when g is over budget (from analytic
	// counts, without training), and nil when g may be evaluated.
	Check(g G) error
}

// Request asks for one evaluation.
type Request[G any] struct {
	Trial  int // the trial's index in the search, from 0
	Batch  int // the batch that proposed it; 0 is the initial population
	Key    string
	Genome G
	// Fidelity is the evaluation budget in the evaluator's unit (epochs, fraction of the data);
	// it is 0 when Config.Fidelities is empty, meaning the evaluator's full recipe.
	Fidelity float64
	// Operator says how the genome was made: "init", "seed" (from Config.Initial), "random",
	// "mutate", "crossover", "crossover+mutate" or "copy". Parents holds the keys of the genomes
	// it was made from.
	Operator string
	Parents  []string
	// Worker is which of the Config.Workers evaluation slots runs the request, in
	// [0, Workers), so that an evaluator can keep one engine pool per slot.
	Worker int
	// Threads is how many engine threads the evaluation may use (Config.Threads). No outcome
	// may depend on Worker or Threads.
	Threads int
}

// Outcome is the result of one evaluation.
type Outcome struct {
	// Objectives are the values to minimise (negate what is to be maximised), exactly
	// Config.Objectives of them. They are ignored when Failure is set.
	Objectives []float64 `json:"objectives,omitempty"`
	// Failure says why the candidate failed (diverged, over a memory budget, invalid); empty on
	// success. A failure is data: it is cached, the candidate ranks below every success, and
	// the search goes on.
	Failure string `json:"failure,omitempty"`
	// Detail is the evaluator's full record (an evaluator.Result, say). Search does not read it;
	// it hands it to Cache.Put unchanged so that the store can keep it.
	Detail any `json:"-"`
}

// Failed reports whether the candidate failed.
func (o Outcome) Failed() bool { return o.Failure != "" }

// Evaluator evaluates candidates. Evaluate is called from up to Config.Workers goroutines at
// once. It returns an error only when the evaluation could not take place (the context was
// cancelled, the data set is missing): the search then stops with that error, and the candidate
// is evaluated again when the search is resumed. A candidate that was evaluated and failed is an
// Outcome with Failure set, not an error.
type Evaluator[G any] interface {
	Evaluate(ctx context.Context, req Request[G]) (Outcome, error)
}

// EvaluatorFunc adapts a function to the Evaluator interface.
type EvaluatorFunc[G any] func(ctx context.Context, req Request[G]) (Outcome, error)

// Evaluate returns f(ctx, req).
func (f EvaluatorFunc[G]) Evaluate(ctx context.Context, req Request[G]) (Outcome, error) {
	return f(ctx, req)
}

// Cache remembers outcomes by key and fidelity across runs; deduplication and resume both rest
// on it. Search calls it from one goroutine at a time.
type Cache[G any] interface {
	// Lookup returns the outcome stored for key at fidelity, and false if there is none.
	Lookup(ctx context.Context, key string, fidelity float64) (Outcome, bool, error)
	// Put stores the outcome of req. It is called as soon as each evaluation ends, so that an
	// interrupted search loses only the evaluations in flight; its context is never cancelled.
	Put(ctx context.Context, req Request[G], o Outcome) error
}

// Queue is a Cache that is also a queue of work, such as a database that worker processes on
// any number of machines take trials from. RunQueued hands it each fidelity level of a batch
// whole, so that every worker can take part, and consumes the outcomes in proposal order.
type Queue[G any] interface {
	// Lookup is Cache.Lookup.
	Lookup(ctx context.Context, key string, fidelity float64) (Outcome, bool, error)
	// EvaluateLevel records trials, every trial of one fidelity level of a batch in proposal
	// order, and returns the outcomes of those whose Source is Trained, in that order, once
	// every trial is evaluated. The others come with their Source and, unless they duplicate a
	// trial of the same level, their Outcome. It keeps the outcomes itself (Lookup finds them),
	// and its errors are those of Evaluator.Evaluate.
	EvaluateLevel(ctx context.Context, trials []Trial[G]) ([]Outcome, error)
}
