package search

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

// Strategy is one of Random, GA, NSGA2 and RegEvo, with its parameters.
type Strategy interface {
	// Name returns the strategy's name as the command line spells it.
	Name() string
	// population returns how many individuals the strategy keeps, which is also the size of
	// the initial batch.
	population() int
	// multiObjective reports whether the strategy ranks on every objective rather than on the
	// first one only.
	multiObjective() bool
	validate() error
}

// Random is random search, the control: every batch is Batch fresh samples of the space. It
// ranks on every objective, so that its front can be compared with NSGA2's.
type Random struct {
	Batch int // samples per batch, >= 1
}

// GA is a generational genetic algorithm with elitism that minimises the first objective: each
// generation keeps the Elite best individuals and fills the rest of the population with children
// of parents picked by tournaments of Tournament contestants, crossed with probability CrossRate
// and mutated with probability MutRate. A child neither crossed nor mutated copies its parent.
type GA struct {
	PopSize    int     // individuals per generation, > Tournament
	Tournament int     // contestants per tournament, >= 1
	Elite      int     // best individuals kept unchanged, in [0, PopSize)
	CrossRate  float64 // in [0, 1]
	MutRate    float64 // in [0, 1]
}

// NSGA2 is the multi-objective NSGA-II of Deb et al. (2002): PopSize children per generation
// from parents picked by binary tournaments on (front, crowding distance), crossed with
// probability CrossRate and mutated with probability MutRate; the next generation is the best
// PopSize of parents and children together by front, then crowding distance ((mu+lambda)
// survival).
type NSGA2 struct {
	PopSize   int     // >= 3
	CrossRate float64 // in [0, 1]
	MutRate   float64 // in [0, 1]
}

// RegEvo is the regularized ("aging") evolution of Real et al. (2019), minimising the first
// objective: a population of Population individuals; each child is a mutation of the best of
// Sample individuals drawn from it, and for each child the oldest individual dies. Children come
// in batches of Batch, all drawn from the same population, so that they can be evaluated at
// once; Batch 1 is the algorithm of the paper.
type RegEvo struct {
	Population int // >= 2
	Sample     int // in [1, Population]
	Batch      int // in [1, Population]
}

// Name returns "random".
func (Random) Name() string { return "random" }

// Name returns "ga".
func (GA) Name() string { return "ga" }

// Name returns "nsga2".
func (NSGA2) Name() string { return "nsga2" }

// Name returns "regevo".
func (RegEvo) Name() string { return "regevo" }

func (s Random) population() int { return s.Batch }
func (s GA) population() int     { return s.PopSize }
func (s NSGA2) population() int  { return s.PopSize }
func (s RegEvo) population() int { return s.Population }

func (Random) multiObjective() bool { return true }
func (GA) multiObjective() bool     { return false }
func (NSGA2) multiObjective() bool  { return true }
func (RegEvo) multiObjective() bool { return false }

// MaxPopulation bounds every strategy's population and batch: far above any budget a machine
// can train, and small enough that counts of trials stay exact.
const MaxPopulation = 1 << 16

func (s Random) validate() error {
	if s.Batch < 1 || s.Batch > MaxPopulation {
		return fmt.Errorf("search: random: Batch is %d; it must be in [1, %d]", s.Batch, MaxPopulation)
	}
	return nil
}

func (s GA) validate() error {
	switch {
	case s.Tournament < 1 || s.Tournament >= MaxPopulation:
		return fmt.Errorf("search: ga: Tournament is %d; it must be in [1, %d]", s.Tournament, MaxPopulation-1)
	case s.PopSize <= s.Tournament || s.PopSize > MaxPopulation:
		return fmt.Errorf("search: ga: PopSize is %d; it must be in [Tournament+1, %d] = [%d, %d], above Tournament so that two parents can be picked", s.PopSize, MaxPopulation, s.Tournament+1, MaxPopulation)
	case s.Elite < 0 || s.Elite >= s.PopSize:
		return fmt.Errorf("search: ga: Elite is %d; it must be in [0, PopSize) = [0, %d)", s.Elite, s.PopSize)
	}
	return validateRates("ga", s.CrossRate, s.MutRate)
}

func (s NSGA2) validate() error {
	if s.PopSize < 3 || s.PopSize > MaxPopulation {
		return fmt.Errorf("search: nsga2: PopSize is %d; it must be in [3, %d]", s.PopSize, MaxPopulation)
	}
	return validateRates("nsga2", s.CrossRate, s.MutRate)
}

func (s RegEvo) validate() error {
	switch {
	case s.Population < 2 || s.Population > MaxPopulation:
		return fmt.Errorf("search: regevo: Population is %d; it must be in [2, %d]", s.Population, MaxPopulation)
	case s.Sample < 1 || s.Sample > s.Population:
		return fmt.Errorf("search: regevo: Sample is %d; it must be in [1, Population] = [1, %d]", s.Sample, s.Population)
	case s.Batch < 1 || s.Batch > s.Population:
		return fmt.Errorf("search: regevo: Batch is %d; it must be in [1, Population] = [1, %d]", s.Batch, s.Population)
	}
	return nil
}

func validateRates(name string, cross, mut float64) error {
	if !(cross >= 0 && cross <= 1) {
		return fmt.Errorf("search: %s: CrossRate is %v; it must be in [0, 1]", name, cross)
	}
	if !(mut >= 0 && mut <= 1) {
		return fmt.Errorf("search: %s: MutRate is %v; it must be in [0, 1]", name, mut)
	}
	return nil
}

// StrategyNames lists the names NewStrategy accepts.
var StrategyNames = []string{"random", "ga", "nsga2", "regevo"}

// NewStrategy returns the strategy called name with default parameters sized for budgets of a
// few hundred evaluations.
func NewStrategy(name string) (Strategy, error) {
	switch name {
	case "random":
		return Random{Batch: 16}, nil
	case "ga":
		return GA{PopSize: 20, Tournament: 3, Elite: 2, CrossRate: 0.5, MutRate: 1}, nil
	case "nsga2":
		return NSGA2{PopSize: 20, CrossRate: 0.9, MutRate: 1}, nil
	case "regevo":
		return RegEvo{Population: 20, Sample: 5, Batch: 4}, nil
	}
	return nil, fmt.Errorf("search: unknown strategy %q; valid: %s", name, strings.Join(StrategyNames, ", "))
}

// Defaults used for zero fields of Config.
const (
	DefaultWorkers  = 1
	DefaultMaxTries = 1000
	DefaultEta      = 3
)

// Config says how to search genomes of type G.
type Config[G any] struct {
	Strategy Strategy
	// Seed seeds every random draw of the search.
	Seed uint64
	// Objectives is how many objectives every successful Outcome carries, >= 1.
	Objectives int
	// Budget is the number of trials (evaluations, each at one fidelity, duplicates included).
	// It must cover the initial population. The last batch is cut to what the budget covers, so
	// the search ends with Budget trials, or up to len(Fidelities)-1 fewer when one more
	// candidate's successive halving would not fit, unless MaxTime or the context stops it first.
	Budget int
	// MaxTime, if positive, stops the search at the first batch boundary after it has elapsed.
	// The trials up to that point are still those of an unlimited search.
	MaxTime time.Duration
	// Workers is how many evaluations run at once (K). 0 means DefaultWorkers. The trials do
	// not depend on it.
	Workers int
	// Threads is how many engine threads each evaluation may use (T), passed on in
	// Request.Threads; Workers·Threads must not exceed the usable cores (GOMAXPROCS). 0 means
	// the cores divided among the workers, at least 1.
	Threads int
	// MaxTries bounds how many proposals are drawn for one slot before the search gives up
	// with a ConstraintError. 0 means DefaultMaxTries.
	MaxTries int
	// Fidelities, if it has two or more levels, turns on successive halving: every batch is
	// evaluated at Fidelities[0], and the best ceil(n/Eta) of each level by Pareto front, then
	// crowding distance (or by the first objective for single-objective strategies) go on to
	// the next. Levels must increase. Fidelity is part of the cache key; an empty list means
	// one level, 0.
	Fidelities []float64
	// Eta is the successive-halving reduction factor, >= 2. 0 means DefaultEta.
	Eta int
	// Initial are genomes that the initial population starts with, in order, before the random
	// ones, with operator "seed": hand-written networks, say, to be improved on. One that fails
	// the space's Check is left out and counted as rejected. There may be at most as many as the
	// population. The search stays deterministic: the random genomes of the initial population
	// are the first ones a search without Initial draws.
	Initial []G
	// Progress, if set, is called after every batch with the statistics so far, from the
	// search's goroutine; the search waits for it to return.
	Progress func(Stats)
}

// withDefaults returns c with its zero fields set to their defaults, or an error naming the
// first invalid field.
func (c Config[G]) withDefaults() (Config[G], error) {
	if c.Strategy == nil {
		return c, fmt.Errorf("search: no Strategy; valid: %s", strings.Join(StrategyNames, ", "))
	}
	if err := c.Strategy.validate(); err != nil {
		return c, err
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxTries == 0 {
		c.MaxTries = DefaultMaxTries
	}
	if c.Eta == 0 {
		c.Eta = DefaultEta
	}
	if len(c.Fidelities) == 0 {
		c.Fidelities = []float64{0}
	}
	switch {
	case c.Objectives < 1:
		return c, fmt.Errorf("search: Objectives is %d; it must be at least 1", c.Objectives)
	case c.Workers < 1:
		return c, fmt.Errorf("search: Workers is %d; it must be at least 1", c.Workers)
	case c.Threads < 0:
		return c, fmt.Errorf("search: Threads is %d; it must be at least 1, or 0 for a share of the cores", c.Threads)
	case c.MaxTries < 1:
		return c, fmt.Errorf("search: MaxTries is %d; it must be at least 1", c.MaxTries)
	case c.Eta < 2:
		return c, fmt.Errorf("search: Eta is %d; it must be at least 2", c.Eta)
	}
	cores := runtime.GOMAXPROCS(0)
	if c.Threads == 0 {
		c.Threads = max(1, cores/c.Workers)
	} else if c.Workers*c.Threads > cores {
		return c, fmt.Errorf("search: Workers × Threads is %d × %d = %d; this machine has %d usable cores", c.Workers, c.Threads, c.Workers*c.Threads, cores)
	}
	for i, f := range c.Fidelities {
		if math.IsNaN(f) || math.IsInf(f, 0) || (i > 0 && f <= c.Fidelities[i-1]) {
			return c, fmt.Errorf("search: Fidelities %v: level %d is %v; levels must be finite and increase", c.Fidelities, i, f)
		}
	}
	if n, pop := len(c.Initial), c.Strategy.population(); n > pop {
		return c, fmt.Errorf("search: Initial has %d genomes; the initial population holds %d", n, pop)
	}
	if need := c.cost(c.Strategy.population()); c.Budget < need {
		return c, fmt.Errorf("search: Budget is %d; the initial population of %d takes %d trials", c.Budget, c.Strategy.population(), need)
	}
	return c, nil
}

// cost returns how many trials a batch of n candidates takes under successive halving. No
// fidelity levels is one level, and Eta 0 is DefaultEta, as withDefaults has it.
func (c Config[G]) cost(n int) int {
	eta := c.Eta
	if eta == 0 {
		eta = DefaultEta
	}
	total := 0
	for range max(1, len(c.Fidelities)) {
		total += n
		n = promoted(n, eta)
	}
	return total
}

// promoted returns how many of n candidates go on to the next fidelity level: ceil(n/eta), so
// that every batch has at least one candidate at the last level.
func promoted(n, eta int) int { return (n + eta - 1) / eta }
