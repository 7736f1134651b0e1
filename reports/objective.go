package reports

import (
	"fmt"
	"strings"
)

// Objective is a figure that networks are compared by: an accuracy, which is maximised, or a
// cost, which is minimised.
type Objective string

// The objectives. Accuracies are fractions in [0, 1]; Latency is the measured latency of one
// sample (batch 1) in milliseconds.
const (
	ValAcc  Objective = "val_acc"
	TestAcc Objective = "test_acc"
	// FinalAcc is the mean test accuracy of a network's final trainings (nas finalize) where
	// it has them, and its search score (validation accuracy) where it has not.
	FinalAcc Objective = "final_acc"
	MACs     Objective = "macs"
	Params   Objective = "params"
	Latency  Objective = "latency"
)

// Accuracies and Costs list the objectives of each kind in the order reports show them.
var (
	Accuracies = []Objective{ValAcc, TestAcc, FinalAcc}
	Costs      = []Objective{MACs, Params, Latency}
)

// ParseObjective returns the objective called s, or an error naming the valid ones among
// allowed.
func ParseObjective(s string, allowed []Objective) (Objective, error) {
	for _, o := range allowed {
		if string(o) == s {
			return o, nil
		}
	}
	names := make([]string, len(allowed))
	for i, o := range allowed {
		names[i] = string(o)
	}
	return "", fmt.Errorf("unknown objective %q; valid: %s", s, strings.Join(names, ", "))
}

// Maximised reports whether larger values of o are better (the accuracies).
func (o Objective) Maximised() bool { return o == ValAcc || o == TestAcc || o == FinalAcc }

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
	panic("reports: unknown objective " + string(o))
}

// Value returns c's figure for o.
func (o Objective) Value(c *Candidate) float64 {
	switch o {
	case ValAcc:
		return c.ValAcc
	case TestAcc:
		return c.TestAcc
	case FinalAcc:
		if c.Final != nil && c.Final.OK > 0 {
			return c.Final.TestAcc
		}
		return c.ValAcc
	case MACs:
		return float64(c.MACs)
	case Params:
		return float64(c.Params)
	case Latency:
		return c.LatencyMs
	}
	panic("reports: unknown objective " + string(o))
}

// cost returns c's figure for o as a value to minimise, as package pareto wants it.
func (o Objective) cost(c *Candidate) float64 {
	if o.Maximised() {
		return -o.Value(c)
	}
	return o.Value(c)
}

// Format writes c's figure for o as the tables show it: accuracies in percent, counts with
// thousands separators, latency in milliseconds.
func (o Objective) Format(c *Candidate) string {
	switch o {
	case ValAcc, TestAcc, FinalAcc:
		return percent(o.Value(c))
	case MACs, Params:
		return thousands(int64(o.Value(c)))
	case Latency:
		return fmt.Sprintf("%.2f", c.LatencyMs)
	}
	panic("reports: unknown objective " + string(o))
}

// percent writes an accuracy fraction as a percentage with two decimals.
func percent(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// metric writes n with a k, M or G suffix and three significant digits, e.g. "31.0M".
func metric(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3gk", n/1e3)
	}
	return fmt.Sprintf("%.3g", n)
}
