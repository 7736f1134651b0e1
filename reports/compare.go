package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/search/pareto"
)

// Grouping says which experiments a Comparison pools.
type Grouping string

// The groupings: every experiment alone, or the experiments of one strategy together (the seeds
// of a sweep).
const (
	GroupByNone     Grouping = "none"
	GroupByStrategy Grouping = "strategy"
)

// Groupings lists the valid groupings.
var Groupings = []Grouping{GroupByNone, GroupByStrategy}

// CompareOptions choose how experiments are compared.
type CompareOptions struct {
	GroupBy Grouping // empty means GroupByNone
	// RefMACs, if positive, is the MACs of the hypervolume's reference point. Otherwise it is
	// the largest max_macs constraint of the experiments, or, if one sets none, 1.1 times the most
	// MACs of a found network of any of them.
	RefMACs float64
}

// Comparison sets experiments side by side: how the best validation accuracy and the hypervolume
// of the found networks grow with evaluations and compute, one curve per experiment, and, per
// group, the spread over its experiments at an equal budget, with one-sided Mann–Whitney tests
// between groups. Every hypervolume is measured against one shared Reference.
type Comparison struct {
	GroupBy Grouping `json:"group_by"`
	// Reference is the hypervolume's reference point, in validation error and MACs;
	// ReferenceFrom says where its MACs come from. A hypervolume is the fraction of the box
	// between zero and Reference that the found networks dominate.
	Reference     Reference `json:"reference"`
	ReferenceFrom string    `json:"reference_from"`
	// Budget is the equal budget in evaluations: the fewest any compared experiment finished.
	// Compute is the equal budget in training seconds: the least any of them spent.
	Budget      int             `json:"budget"`
	Compute     float64         `json:"compute_seconds"`
	Experiments []ExperimentRun `json:"experiments"`
	Groups      []ComparedGroup `json:"groups"`
	Tests       []GroupTest     `json:"tests"`
}

// ExperimentRun is one compared experiment and its search's course.
type ExperimentRun struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	Seed     uint64 `json:"seed"`
	Group    string `json:"group"`
	// Steps has one entry per finished trial of the search (baselines not counted).
	Steps []RunStep `json:"steps"`
	// AtBudget is the step at the Comparison's Budget.
	AtBudget RunStep `json:"at_budget"`
}

// RunStep is the state of a search after a number of its trials: the training seconds they took
// (those of duplicates not counted, those of results from the cache counted, since another
// experiment paid for them), the best validation accuracy of the found networks and the
// hypervolume of their front in error and MACs.
type RunStep struct {
	Evaluations int     `json:"evaluations"`
	Seconds     float64 `json:"seconds"`
	Best        float64 `json:"best"`
	Hypervolume float64 `json:"hypervolume"`
}

// ComparedGroup is a group of experiments and the spread of their results at the equal budget.
type ComparedGroup struct {
	Name        string   `json:"name"`
	Experiments []string `json:"experiments"`
	Hypervolume Spread   `json:"hypervolume"`
	Best        Spread   `json:"best"`
	// ByEvaluations and ByCompute are the median and interquartile band of the hypervolume over
	// the group's experiments, against evaluations (1 to Budget) and against compute (a grid of
	// 50 points up to Compute).
	ByEvaluations []Band `json:"by_evaluations"`
	ByCompute     []Band `json:"by_compute"`
}

// Spread sums up values over a group's experiments; SD is the sample standard deviation (0 for
// one value) and Q1, Q3 the quartiles, interpolated linearly as numpy's default does.
type Spread struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	Median float64 `json:"median"`
	Q1     float64 `json:"q1"`
	Q3     float64 `json:"q3"`
}

// Band is the median and the interquartile range of a group's curves at X.
type Band struct {
	X      float64 `json:"x"`
	Median float64 `json:"median"`
	Q1     float64 `json:"q1"`
	Q3     float64 `json:"q3"`
}

// GroupTest is the one-sided Mann–Whitney test of whether Greater's hypervolumes at the equal
// budget tend to exceed Less's.
type GroupTest struct {
	Greater string `json:"greater"`
	Less    string `json:"less"`
	MannWhitney
}

// computeGrid is the number of points of the curves against compute.
const computeGrid = 50

// Compare compares the experiments of ds, in the order given. It returns an error if fewer than
// two are given, if one is given twice, or if an experiment cannot be read.
func Compare(ds []*Data, opt CompareOptions) (*Comparison, error) {
	if opt.GroupBy == "" {
		opt.GroupBy = GroupByNone
	}
	if !slices.Contains(Groupings, opt.GroupBy) {
		return nil, fmt.Errorf("group by %q: valid: %s, %s", opt.GroupBy, GroupByNone, GroupByStrategy)
	}
	if len(ds) < 2 {
		return nil, fmt.Errorf("a comparison needs at least two experiments, got %d", len(ds))
	}
	c := &Comparison{GroupBy: opt.GroupBy, Reference: Reference{Error: 1}}
	var found [][]*Candidate
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Experiment.Name] {
			return nil, fmt.Errorf("experiment %s is given twice", d.Experiment.Name)
		}
		seen[d.Experiment.Name] = true
		r, err := New(d, Options{Accuracy: evaluator.ValAcc})
		if err != nil {
			return nil, fmt.Errorf("experiment %s: %w", d.Experiment.Name, err)
		}
		var cs []*Candidate
		for i := range r.Candidates {
			if !r.Candidates[i].Baseline() {
				cs = append(cs, &r.Candidates[i])
			}
		}
		found = append(found, cs)
		run := ExperimentRun{Name: d.Experiment.Name, Strategy: d.Experiment.Strategy, Seed: d.Experiment.Seed}
		run.Group = run.Name
		if opt.GroupBy == GroupByStrategy {
			run.Group = run.Strategy
		}
		c.Experiments = append(c.Experiments, run)
	}
	c.chooseReference(ds, found, opt.RefMACs)
	c.Budget, c.Compute = math.MaxInt, math.Inf(1)
	for i, cs := range found {
		run := &c.Experiments[i]
		run.Steps = c.steps(cs)
		c.Budget = min(c.Budget, len(run.Steps))
		seconds := 0.0
		if n := len(run.Steps); n > 0 {
			seconds = run.Steps[n-1].Seconds
		}
		c.Compute = min(c.Compute, seconds)
	}
	for i := range c.Experiments {
		run := &c.Experiments[i]
		if c.Budget > 0 {
			run.AtBudget = run.Steps[c.Budget-1]
		}
	}
	c.group()
	return c, nil
}

// chooseReference sets Reference.MACs and ReferenceFrom.
func (c *Comparison) chooseReference(ds []*Data, found [][]*Candidate, refMACs float64) {
	if refMACs > 0 {
		c.Reference.MACs, c.ReferenceFrom = refMACs, "given"
		return
	}
	var constraint int64
	everyOne := true
	for _, d := range ds {
		m := search.ConfigMaxMACs(d.Experiment.Config)
		constraint = max(constraint, m)
		everyOne = everyOne && m > 0
	}
	if everyOne {
		c.Reference.MACs, c.ReferenceFrom = float64(constraint), "the largest max_macs constraint of the experiments"
		return
	}
	for _, cs := range found {
		for _, f := range cs {
			if f.Compared {
				c.Reference.MACs = max(c.Reference.MACs, 1.1*float64(f.MACs))
			}
		}
	}
	c.Reference.MACs = max(c.Reference.MACs, 1)
	c.ReferenceFrom = "1.1 × the most MACs of a network found by any of the experiments"
}

// steps returns the course of a search whose found networks' trials are cs, in trial order.
func (c *Comparison) steps(cs []*Candidate) []RunStep {
	var steps []RunStep
	var points [][]float64
	var s RunStep
	for _, f := range cs {
		s.Evaluations++
		if !f.Duplicate {
			s.Seconds += f.TrainSeconds
		}
		if f.Compared {
			s.Best = max(s.Best, f.ValAcc)
			points = append(points, []float64{(1 - f.ValAcc) / c.Reference.Error, float64(f.MACs) / c.Reference.MACs})
			s.Hypervolume = pareto.Hypervolume2D(points, [2]float64{1, 1})
		}
		steps = append(steps, s)
	}
	return steps
}

// group computes Groups and Tests.
func (c *Comparison) group() {
	index := map[string]int{}
	for _, run := range c.Experiments {
		i, ok := index[run.Group]
		if !ok {
			i = len(c.Groups)
			index[run.Group] = i
			c.Groups = append(c.Groups, ComparedGroup{Name: run.Group})
		}
		c.Groups[i].Experiments = append(c.Groups[i].Experiments, run.Name)
	}
	byName := map[string]*ExperimentRun{}
	for i := range c.Experiments {
		byName[c.Experiments[i].Name] = &c.Experiments[i]
	}
	finals := make([][]float64, len(c.Groups))
	for gi := range c.Groups {
		g := &c.Groups[gi]
		var hv, best []float64
		for _, name := range g.Experiments {
			run := byName[name]
			hv, best = append(hv, run.AtBudget.Hypervolume), append(best, run.AtBudget.Best)
		}
		finals[gi] = hv
		g.Hypervolume, g.Best = spreadOf(hv), spreadOf(best)
		for e := 1; e <= c.Budget; e++ {
			vals := make([]float64, len(g.Experiments))
			for i, name := range g.Experiments {
				vals[i] = byName[name].Steps[e-1].Hypervolume
			}
			g.ByEvaluations = append(g.ByEvaluations, band(float64(e), vals))
		}
		if c.Compute > 0 {
			for k := 1; k <= computeGrid; k++ {
				x := c.Compute * float64(k) / computeGrid
				vals := make([]float64, len(g.Experiments))
				for i, name := range g.Experiments {
					vals[i] = hypervolumeAt(byName[name].Steps, x)
				}
				g.ByCompute = append(g.ByCompute, band(x, vals))
			}
		}
	}
	for i := range c.Groups {
		for j := range c.Groups {
			if i != j {
				c.Tests = append(c.Tests, GroupTest{Greater: c.Groups[i].Name, Less: c.Groups[j].Name,
					MannWhitney: MannWhitneyGreater(finals[i], finals[j])})
			}
		}
	}
}

// hypervolumeAt returns the hypervolume of the last of steps whose seconds do not exceed x.
func hypervolumeAt(steps []RunStep, x float64) float64 {
	i, _ := slices.BinarySearchFunc(steps, x, func(s RunStep, x float64) int {
		return cmp.Or(cmp.Compare(s.Seconds, x), -1) // the first step past x
	})
	if i == 0 {
		return 0
	}
	return steps[i-1].Hypervolume
}

// band returns the median and quartiles of vals at x.
func band(x float64, vals []float64) Band {
	s := spreadOf(vals)
	return Band{X: x, Median: s.Median, Q1: s.Q1, Q3: s.Q3}
}

// spreadOf sums up xs.
func spreadOf(xs []float64) Spread {
	s := Spread{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
	}
	sorted := slices.Sorted(slices.Values(xs))
	s.Q1, s.Median, s.Q3 = quantile(sorted, 0.25), quantile(sorted, 0.5), quantile(sorted, 0.75)
	return s
}

// quantile returns the q-quantile of sorted, interpolating linearly between the values at the
// positions around q·(n−1).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
