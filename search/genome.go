package search

import (
	"math/rand"

	"github.com/MaxHalford/eaopt"
)

// genome adapts a genome of a Space to eaopt.Genome. Its fitness is not an objective but its
// position in its population's order (see run.rank), which is what lets eaopt's sorting and
// tournaments serve every strategy, single- or multi-objective, with fidelity levels or not.
type genome[G any] struct {
	sp      Space[G]
	g       G
	op      string   // what made it, as in Request.Operator
	parents []string // keys of the genomes it was made from
	key     string
	birth   int       // genomes made before this one in the search; orders by age
	level   int       // the highest fidelity level it was evaluated at
	obj     []float64 // its objectives at that level, +Inf everywhere if it failed
	fitness float64
	scored  bool // fitness is set
}

// Evaluate returns the genome's fitness. Search evaluates whole batches itself before eaopt
// sees them, so eaopt asking for an unscored genome is a bug in a Model.
func (x *genome[G]) Evaluate() (float64, error) {
	if !x.scored {
		panic("search: eaopt evaluated a genome outside a batch")
	}
	return x.fitness, nil
}

// Mutate replaces the genome by a mutation of it.
func (x *genome[G]) Mutate(rng *rand.Rand) {
	x.g = x.sp.Mutate(x.g, rng)
	x.scored = false
}

// Crossover replaces the genome by a child of it and mate. Only the receiver changes: eaopt
// passes the mate's Individual by value, so a change to the mate would be lost, or worse, would
// alter a genome that other individuals share.
func (x *genome[G]) Crossover(mate eaopt.Genome, rng *rand.Rand) {
	x.g = x.sp.Crossover(x.g, mate.(*genome[G]).g, rng)
	x.scored = false
}

// Clone returns a copy; the genome value itself is shared, since a Space never modifies one.
func (x *genome[G]) Clone() eaopt.Genome {
	c := *x
	return &c
}
