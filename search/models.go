package search

import (
	"slices"
	"sort"

	"github.com/MaxHalford/eaopt"
)

// The strategies are eaopt Models. eaopt's GA calls Apply once per generation and then sorts
// the population by fitness, which rank has already done. Each Apply proposes one batch, has it
// evaluated as a whole by run.breed (eaopt's own evaluation is serial), and chooses the
// survivors; eaopt's GA loop, RNG plumbing, tournament selection and Individual operators do
// the rest.

// breeder is run.breed bound to the search's context: eaopt calls a Model without one.
type breeder[G any] func(n int, next func() proposal[G]) ([]*genome[G], error)

// newModel returns the eaopt Model of strategy s, whose batches breed proposes.
func newModel[G any](r *run[G], s Strategy, breed breeder[G]) eaopt.Model {
	switch s := s.(type) {
	case Random:
		return randomModel[G]{r, breed, s}
	case GA:
		return gaModel[G]{r, breed, s}
	case NSGA2:
		return nsga2Model[G]{r, breed, s}
	case RegEvo:
		return regEvoModel[G]{r, breed, s}
	}
	panic("search: unknown strategy " + s.Name())
}

type randomModel[G any] struct {
	r     *run[G]
	breed breeder[G]
	s     Random
}

// Apply replaces the population with a batch of fresh samples.
func (m randomModel[G]) Apply(pop *eaopt.Population) error {
	kids, err := m.breed(m.s.Batch, func() proposal[G] {
		return proposal[G]{g: m.r.sp.Random(pop.RNG), op: "random"}
	})
	if err != nil {
		return err
	}
	pop.Individuals = m.r.rank(kids)
	return nil
}

// Validate checks the strategy's parameters.
func (m randomModel[G]) Validate() error { return m.s.validate() }

type gaModel[G any] struct {
	r     *run[G]
	breed breeder[G]
	s     GA
}

// Apply keeps the elite and replaces the rest of the population with children.
func (m gaModel[G]) Apply(pop *eaopt.Population) error {
	parents := members[G](pop)
	kids, err := m.breed(len(parents)-m.s.Elite, m.r.variation(pop, m.s.Tournament, m.s.CrossRate, m.s.MutRate))
	if err != nil {
		return err
	}
	pop.Individuals = m.r.rank(append(parents[:m.s.Elite:m.s.Elite], kids...))
	return nil
}

// Validate checks the strategy's parameters.
func (m gaModel[G]) Validate() error { return m.s.validate() }

type nsga2Model[G any] struct {
	r     *run[G]
	breed breeder[G]
	s     NSGA2
}

// Apply makes as many children as there are parents and keeps the best half of both together.
// Binary tournaments on fitness are tournaments on (front, crowding distance), since fitness is
// the position in that order.
func (m nsga2Model[G]) Apply(pop *eaopt.Population) error {
	parents := members[G](pop)
	kids, err := m.breed(len(parents), m.r.variation(pop, 2, m.s.CrossRate, m.s.MutRate))
	if err != nil {
		return err
	}
	pop.Individuals = m.r.rank(append(slices.Clip(parents), kids...))[:len(parents)]
	return nil
}

// Validate checks the strategy's parameters.
func (m nsga2Model[G]) Validate() error { return m.s.validate() }

type regEvoModel[G any] struct {
	r     *run[G]
	breed breeder[G]
	s     RegEvo
}

// Apply adds a batch of mutated tournament winners and removes as many of the oldest.
func (m regEvoModel[G]) Apply(pop *eaopt.Population) error {
	sel := eaopt.SelTournament{NContestants: uint(m.s.Sample)}
	kids, err := m.breed(m.s.Batch, func() proposal[G] {
		won, _, err := sel.Apply(1, pop.Individuals, pop.RNG)
		if err != nil {
			panic("search: regevo: " + err.Error()) // Validate keeps Sample <= Population
		}
		parent := won[0].Genome.(*genome[G]).key
		won[0].Mutate(pop.RNG)
		return proposal[G]{g: won[0].Genome.(*genome[G]).g, op: "mutate", parents: []string{parent}}
	})
	if err != nil {
		return err
	}
	alive := members[G](pop)
	sort.Slice(alive, func(a, b int) bool { return alive[a].birth < alive[b].birth })
	pop.Individuals = m.r.rank(append(alive[len(kids):], kids...))
	return nil
}

// Validate checks the strategy's parameters.
func (m regEvoModel[G]) Validate() error { return m.s.validate() }

// members returns the genomes of pop's individuals, in the population's order.
func members[G any](pop *eaopt.Population) []*genome[G] {
	ms := make([]*genome[G], len(pop.Individuals))
	for i, indi := range pop.Individuals {
		ms[i] = indi.Genome.(*genome[G])
	}
	return ms
}

// variation returns a proposal function that picks two parents of pop by tournaments of the
// given size, crosses them with probability cross, and mutates the child with probability mut.
func (r *run[G]) variation(pop *eaopt.Population, contestants int, cross, mut float64) func() proposal[G] {
	sel := eaopt.SelTournament{NContestants: uint(contestants)}
	return func() proposal[G] {
		parents, _, err := sel.Apply(2, pop.Individuals, pop.RNG)
		if err != nil {
			panic("search: " + err.Error()) // validation keeps the population large enough
		}
		child := parents[0] // a clone: changing it changes no member of pop
		p := proposal[G]{op: "copy", parents: []string{child.Genome.(*genome[G]).key}}
		if pop.RNG.Float64() < cross {
			child.Crossover(parents[1], pop.RNG)
			p.op = "crossover"
			p.parents = append(p.parents, parents[1].Genome.(*genome[G]).key)
		}
		if pop.RNG.Float64() < mut {
			child.Mutate(pop.RNG)
			if p.op == "copy" {
				p.op = "mutate"
			} else {
				p.op = "crossover+mutate"
			}
		}
		p.g = child.Genome.(*genome[G]).g
		return p
	}
}
