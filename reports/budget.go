package reports

import (
	"time"

	"github.com/goccy/go-yaml"

	"github.com/gonas/nas/evaluator"
)

// Budget is what an experiment's configuration allows it to spend. Zero fields are limits the
// configuration does not set (or that reports could not read from it).
type Budget struct {
	// Evaluations is the number of trials the search may run, baselines not counted.
	Evaluations int `json:"evaluations,omitempty"`
	// Time is the wall time the search may take (nanoseconds in JSON).
	Time time.Duration `json:"time,omitempty"`
}

// budgetOf reads the budget from an experiment's configuration YAML: the evaluations and time of
// its top-level budget mapping. Reports only show the budget, so a configuration it cannot read
// gives a zero Budget rather than an error; search has validated it when it started.
func budgetOf(config []byte) Budget {
	var f struct {
		Budget struct {
			Evaluations int                `yaml:"evaluations"`
			Time        evaluator.Duration `yaml:"time"`
		} `yaml:"budget"`
	}
	if err := yaml.Unmarshal(config, &f); err != nil {
		return Budget{}
	}
	b := Budget{Evaluations: f.Budget.Evaluations, Time: time.Duration(f.Budget.Time)}
	if b.Evaluations < 0 || b.Time < 0 {
		return Budget{}
	}
	return b
}
