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

// model is the eaopt Model of a strategy: each Apply breeds one batch of proposals and chooses
// the next population from the old one and the batch.
type model[G any] struct {
	breed    breeder[G]
	validate func() error
	// batch returns how many proposals to breed from pop and the function that draws each.
	batch func(pop *eaopt.Population) (int, func() proposal[G])
	// next returns the next population, ranked, from pop and the batch's members kids.
	next func(pop *eaopt.Population, kids []*genome[G]) eaopt.Individuals
}

// Apply breeds a batch and replaces the population with the next one.
func (m model[G]) Apply(pop *eaopt.Population) error {
	kids, err := m.breed(m.batch(pop))
	if err != nil {
		return err
	}
	pop.Individuals = m.next(pop, kids)
	return nil
}

// Validate checks the strategy's parameters.
func (m model[G]) Validate() error { return m.validate() }

// newModel returns the eaopt Model of strategy s, whose batches breed proposes.
func newModel[G any](r *run[G], s Strategy, breed breeder[G]) eaopt.Model {
	switch s := s.(type) {
	case Random:
		// Each batch of fresh samples replaces the population.
		return model[G]{breed: breed, validate: s.validate,
			batch: func(pop *eaopt.Population) (int, func() proposal[G]) {
				return s.Batch, func() proposal[G] { return proposal[G]{g: r.sp.Random(pop.RNG), op: "random"} }
			},
			next: func(_ *eaopt.Population, kids []*genome[G]) eaopt.Individuals { return r.rank(kids) },
		}
	case GA:
		// The elite stays; children replace the rest.
		return model[G]{breed: breed, validate: s.validate,
			batch: func(pop *eaopt.Population) (int, func() proposal[G]) {
				return len(pop.Individuals) - s.Elite, r.variation(pop, s.Tournament, s.CrossRate, s.MutRate)
			},
			next: func(pop *eaopt.Population, kids []*genome[G]) eaopt.Individuals {
				return r.rank(append(members[G](pop)[:s.Elite:s.Elite], kids...))
			},
		}
	case NSGA2:
		// As many children as parents; the best half of both together stays. Binary
		// tournaments on fitness are tournaments on (front, crowding distance), since fitness
		// is the position in that order.
		return model[G]{breed: breed, validate: s.validate,
			batch: func(pop *eaopt.Population) (int, func() proposal[G]) {
				return len(pop.Individuals), r.variation(pop, 2, s.CrossRate, s.MutRate)
			},
			next: func(pop *eaopt.Population, kids []*genome[G]) eaopt.Individuals {
				parents := members[G](pop)
				return r.rank(append(slices.Clip(parents), kids...))[:len(parents)]
			},
		}
	case RegEvo:
		// A batch of mutated tournament winners comes in; as many of the oldest go.
		return model[G]{breed: breed, validate: s.validate,
			batch: func(pop *eaopt.Population) (int, func() proposal[G]) {
				sel := eaopt.SelTournament{NContestants: uint(s.Sample)}
				return s.Batch, func() proposal[G] {
					won, _, err := sel.Apply(1, pop.Individuals, pop.RNG)
					if err != nil {
						panic("search: regevo: " + err.Error()) // Validate keeps Sample <= Population
					}
					parent := won[0].Genome.(*genome[G]).key
					won[0].Mutate(pop.RNG)
					return proposal[G]{g: won[0].Genome.(*genome[G]).g, op: "mutate", parents: []string{parent}}
				}
			},
			next: func(pop *eaopt.Population, kids []*genome[G]) eaopt.Individuals {
				alive := members[G](pop)
				sort.Slice(alive, func(a, b int) bool { return alive[a].birth < alive[b].birth })
				return r.rank(append(alive[len(kids):], kids...))
			},
		}
	}
	panic("search: unknown strategy " + s.Name())
}

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
