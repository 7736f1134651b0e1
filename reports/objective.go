package reports

import (
	"fmt"
	"strings"

	"github.com/gonas/nas/evaluator"
)

// Accuracies and Costs list the objectives of each kind in the order reports show them.
var (
	Accuracies = []evaluator.Objective{evaluator.ValAcc, evaluator.TestAcc, evaluator.FinalAcc}
	Costs      = []evaluator.Objective{evaluator.MACs, evaluator.Params, evaluator.Latency}
)

// result returns c's figures as the Result they came from; its test accuracy is that of its
// final trainings for FinalAcc.
func (c *Candidate) result(o evaluator.Objective) evaluator.Result {
	r := evaluator.Result{ValAcc: c.ValAcc, TestAcc: c.TestAcc, MACs: c.MACs, Params: c.Params, LatencyB1Ms: c.LatencyMs}
	if o == evaluator.FinalAcc {
		r.TestAcc = c.ValAcc
		if c.Final != nil && c.Final.OK > 0 {
			r.TestAcc = c.Final.TestAcc
		}
	}
	return r
}

// Value returns c's figure for o.
func (c *Candidate) Value(o evaluator.Objective) float64 { return o.Of(c.result(o)) }

// cost returns c's figure for o as a value to minimise, as package pareto wants it.
func (c *Candidate) cost(o evaluator.Objective) float64 { return o.Cost(c.result(o)) }

// Format writes c's figure for o as the tables show it: accuracies in percent, counts with
// thousands separators, latency in milliseconds.
func (c *Candidate) Format(o evaluator.Objective) string {
	switch o {
	case evaluator.ValAcc, evaluator.TestAcc, evaluator.FinalAcc:
		return Percent(c.Value(o))
	case evaluator.MACs, evaluator.Params:
		return Thousands(int64(c.Value(o)))
	case evaluator.Latency:
		return fmt.Sprintf("%.2f", c.LatencyMs)
	}
	panic("reports: unknown objective " + string(o))
}

// formatter returns the column function that formats candidates' figures for o.
func formatter(o evaluator.Objective) func(*Candidate) string {
	return func(c *Candidate) string { return c.Format(o) }
}

// Percent writes an accuracy fraction as a percentage with two decimals, e.g. "91.23%".
func Percent(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// Thousands writes n with commas between groups of three digits, e.g. "31,030,016".
func Thousands(n int64) string {
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

// Metric writes n with a k, M or G suffix and three significant digits, e.g. "31.0M": the one
// short spelling of parameter and MAC counts in tables, plots and progress lines.
func Metric(n float64) string {
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
