package search

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonas/nas/space"
)

// noFidelity is validExperiment without its fidelity levels: one level, as most experiments.
var noFidelity = strings.Replace(validExperiment, "fidelity:\n  by: epochs\n  levels: [1, 2]\n  eta: 2\n", "", 1)

func TestBudgetCoversTheFirstPopulationWhateverTheFidelity(t *testing.T) {
	for _, tc := range []struct{ name, yaml, budget, want string }{
		{"one level", noFidelity, "evaluations: 5", "must be between 6, the trials of the initial population of 6, and 1000000 (got 5)"},
		{"two levels", validExperiment, "evaluations: 8", "must be between 9, the trials of the initial population of 6, and 1000000 (got 8)"},
		{"a budget beyond the bound", noFidelity, "evaluations: 2000000", "(got 2000000)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseProbe(t, strings.Replace(tc.yaml, "evaluations: 20", tc.budget, 1))
			var ce *space.ConfigError
			if !errors.As(err, &ce) || ce.Field != "budget.evaluations" || ce.Line == 0 || !strings.Contains(ce.Msg, tc.want) {
				t.Fatalf("error %v, want probe.yaml:LINE: field budget.evaluations %s", err, tc.want)
			}
		})
	}
	if _, err := parseProbe(t, strings.Replace(noFidelity, "evaluations: 20", "evaluations: 6", 1)); err != nil {
		t.Errorf("a budget of exactly the population: %v", err)
	}
}

func TestBudgetTimeErrorsNameTheField(t *testing.T) {
	for _, bad := range []string{"time: soon", "time: [1]", "time: -1m"} {
		_, err := parseProbe(t, strings.Replace(validExperiment, "time: 90s", bad, 1))
		var ce *space.ConfigError
		if !errors.As(err, &ce) || ce.Field != "budget.time" || ce.Line != 23 {
			t.Errorf("%s: error %v, want probe.yaml:23: field budget.time", bad, err)
		}
	}
}

func TestStrategySizesHaveBothBounds(t *testing.T) {
	for _, tc := range []struct{ old, new, field, want string }{
		{"population: 6", "population: 100000000000", "strategy.population", "must be in [2, 65536]"},
		{"population: 6", "population: 1", "strategy.population", "must be in [2, 65536]"},
	} {
		_, err := parseProbe(t, strings.Replace(validExperiment, tc.old, tc.new, 1))
		var ce *space.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.want) {
			t.Errorf("%s: error %v, want field %s %s", tc.new, err, tc.field, tc.want)
		}
	}
	for _, s := range []Strategy{Random{Batch: MaxPopulation + 1}, NSGA2{PopSize: MaxPopulation + 1, CrossRate: 1, MutRate: 1},
		GA{PopSize: MaxPopulation + 1, Tournament: 2}} {
		if err := s.validate(); err == nil || !strings.Contains(err.Error(), "65536]") {
			t.Errorf("%s of %d: error %v, want the upper bound", s.Name(), MaxPopulation+1, err)
		}
	}
}
