package space

import (
	"slices"
	"strings"
)

// FamilySummary sums up the network in one line: the block families of its stages in order of
// first use, joined by "+", leaving out the downsampling steps between stages (transition,
// reduction_a, reduction_b), then "se", "ror" and "sd" (stochastic depth) where used; e.g. "basic+dense+se".
func (a *Arch) FamilySummary() string {
	var names []string
	se := false
	add := func(b Block) {
		se = se || b.SE != nil
		if b.Family == "" || lookup(b.Family).step {
			return
		}
		if !slices.Contains(names, b.Family) {
			names = append(names, b.Family)
		}
	}
	for _, s := range a.Stages {
		add(s.Block)
		for _, b := range s.List {
			add(b)
		}
	}
	if se {
		names = append(names, "se")
	}
	if a.RoR {
		names = append(names, "ror")
	}
	if a.StochasticDepth != nil {
		names = append(names, "sd")
	}
	return strings.Join(names, "+")
}
