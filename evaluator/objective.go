package evaluator

import (
	"fmt"
	"strings"
)

// Objective is a figure of a Result that networks are compared by: an accuracy, which is
// maximised, or a cost, which is minimised. A search optimises some of them; reports rank and
// plot networks by them.
type Objective string

// The objectives. Accuracies are fractions in [0, 1].
const (
	ValAcc  Objective = "val_acc"  // validation accuracy
	TestAcc Objective = "test_acc" // test accuracy, for reports: a search never sees the test split
	// FinalAcc is the test accuracy of a final training (nas finalize); reports take a network's
	// mean over its final trainings, and its validation accuracy where it has none.
	FinalAcc Objective = "final_acc"
	MACs     Objective = "macs"    // multiply-accumulates of one sample's forward pass
	Params   Objective = "params"  // learned parameters
	Latency  Objective = "latency" // measured milliseconds of a batch-1 forward pass
)

// Maximised reports whether larger values of o are better (the accuracies).
func (o Objective) Maximised() bool { return o == ValAcc || o == TestAcc || o == FinalAcc }

// Of returns r's figure for o.
func (o Objective) Of(r Result) float64 {
	switch o {
	case ValAcc:
		return r.ValAcc
	case TestAcc, FinalAcc:
		return r.TestAcc
	case MACs:
		return float64(r.MACs)
	case Params:
		return float64(r.Params)
	case Latency:
		return r.LatencyB1Ms
	}
	panic(fmt.Sprintf("evaluator: unknown objective %q", string(o)))
}

// Cost returns r's figure for o as a value to minimise: an accuracy negated, a cost as it is.
func (o Objective) Cost(r Result) float64 {
	if o.Maximised() {
		return -o.Of(r)
	}
	return o.Of(r)
}

// Label names o for axes and column headers.
func (o Objective) Label() string {
	switch o {
	case ValAcc:
		return "val. accuracy"
	case TestAcc:
		return "test accuracy"
	case FinalAcc:
		return "final accuracy"
	case MACs:
		return "MACs"
	case Params:
		return "parameters"
	case Latency:
		return "latency (ms)"
	}
	panic(fmt.Sprintf("evaluator: unknown objective %q", string(o)))
}

// ParseObjective returns the objective called s, or an error naming the valid ones among
// allowed.
func ParseObjective(s string, allowed []Objective) (Objective, error) {
	for _, o := range allowed {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown objective %q; valid: %s", s, ObjectiveNames(allowed))
}

// ObjectiveNames joins the names of objs with commas.
func ObjectiveNames(objs []Objective) string {
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}
