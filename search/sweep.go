package search

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// SweepName is the name of the run of experiment base under strategy and seed in a sweep:
// base/strategy/sSEED.
func SweepName(base, strategy string, seed uint64) string {
	return fmt.Sprintf("%s/%s/s%d", base, strategy, seed)
}

// Variant turns e into the run of a sweep under the strategy called strategy and seed, named
// SweepName(e.Name, strategy, seed), with the same budget, space, recipe and objectives. The
// strategy keeps the YAML's parameters if the YAML names it; otherwise it takes NewStrategy's
// defaults, its population (or random search's batch) set to that of the YAML's strategy, so that
// both train as many networks at once. e is changed in place: load it again for the next run.
func (e *Experiment) Variant(strategy string, seed uint64) error {
	if strategy != e.Strategy.Name() {
		s, err := NewStrategy(strategy)
		if err != nil {
			return err
		}
		pop := e.Strategy.population()
		switch v := s.(type) {
		case Random:
			v.Batch = pop
			s = v
		case GA:
			v.PopSize, v.Elite = pop, min(v.Elite, pop-1)
			s = v
		case NSGA2:
			v.PopSize = pop
			s = v
		case RegEvo:
			v.Population, v.Sample, v.Batch = pop, min(v.Sample, pop), min(v.Batch, pop)
			s = v
		}
		if err := s.validate(); err != nil {
			return fmt.Errorf("%s with the population of %d of %s: %w", strategy, pop, e.Name, err)
		}
		e.Strategy = s
	}
	e.Seed = seed
	e.Name = SweepName(e.Name, strategy, seed)
	return nil
}

// ParseSeeds reads a list of seeds written as numbers and ranges separated by commas, such as
// "1-5" or "1,3,10-12", in the order written; a seed may not repeat.
func ParseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseUint(hi, 10, 64)
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("seeds %q: %q is not a seed or a range LOW-HIGH of seeds (such as 1-5)", s, part)
		}
		if b-a >= 10000 {
			return nil, fmt.Errorf("seeds %q: the range %q holds more than 10000 seeds", s, part)
		}
		for v := a; ; v++ {
			if seen[v] {
				return nil, fmt.Errorf("seeds %q: seed %d is given twice", s, v)
			}
			seen[v] = true
			seeds = append(seeds, v)
			if v == b {
				break
			}
		}
	}
	return seeds, nil
}

// ConfigMaxMACs returns the constraints.max_macs of an experiment's YAML, or 0 when it sets none
// or cannot be read (reports read stored configurations, which the search checked when it began).
func ConfigMaxMACs(config []byte) int64 {
	var f struct {
		Constraints struct {
			MaxMACs quantity `yaml:"max_macs"`
		} `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(config, &f); err != nil {
		return 0
	}
	return int64(f.Constraints.MaxMACs)
}
