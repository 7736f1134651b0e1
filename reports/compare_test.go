package reports_test

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

// point is one found network of a synthetic experiment.
type point struct {
	acc     float64
	macs    int64
	seconds float64
}

// runData returns an experiment of strategy and seed whose trials found points, in order, under
// a max_macs constraint of 1000.
func runData(strategy string, seed uint64, points ...point) *reports.Data {
	name := fmt.Sprintf("exp/%s/s%d", strategy, seed)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &reports.Data{Experiment: store.Experiment{ID: int64(seed), Name: name, Strategy: strategy, Seed: seed,
		Status: store.ExperimentDone, Created: created,
		Config: []byte("constraints:\n  max_macs: 1000\nbudget:\n  evaluations: 6\n")}}
	for i, p := range points {
		tr := store.Trial{ID: int64(i + 1), Status: store.TrialDone, Finished: created.Add(time.Duration(i+1) * time.Minute)}
		tr.Key = store.EvalKey{ArchHash: fmt.Sprintf("%s-%d", name, i), Fidelity: 1, Seed: seed}
		tr.Operator = "mutation"
		d.Trials = append(d.Trials, tr)
		d.Evaluations = append(d.Evaluations, store.Evaluation{Experiment: name, Trial: tr,
			Arch:   store.Arch{Hash: tr.Key.ArchHash, MACs: p.macs, Params: p.macs / 10, JSON: []byte("{}")},
			Result: evaluator.Result{Status: evaluator.StatusOK, ValAcc: p.acc, TrainSeconds: p.seconds}})
	}
	return d
}

// sweep is three seeds of nsga2, which find better fronts, and three of random search.
func sweep() []*reports.Data {
	return []*reports.Data{
		runData("nsga2", 1, point{0.5, 500, 2}, point{0.8, 1000, 3}, point{0.7, 250, 2}, point{0.9, 400, 4}),
		runData("random", 1, point{0.5, 500, 1}, point{0.6, 600, 2}, point{0.4, 200, 1}, point{0.55, 900, 2}),
		runData("nsga2", 2, point{0.6, 400, 2}, point{0.85, 300, 3}, point{0.8, 200, 2}, point{0.7, 900, 2}, point{0.9, 100, 5}),
		runData("random", 2, point{0.3, 300, 1}, point{0.5, 800, 1}, point{0.6, 700, 2}, point{0.2, 100, 1}),
		runData("nsga2", 3, point{0.7, 700, 2}, point{0.75, 350, 2}, point{0.8, 300, 2}, point{0.9, 600, 3}),
		runData("random", 3, point{0.4, 400, 1}, point{0.45, 450, 1}, point{0.7, 950, 3}, point{0.5, 500, 1}),
	}
}

func TestCompareAgainstHandComputedCases(t *testing.T) {
	c, err := reports.Compare(sweep(), reports.CompareOptions{GroupBy: reports.GroupByStrategy})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reference != (reports.Reference{Error: 1, MACs: 1000}) {
		t.Errorf("reference %+v, want error 1 and the max_macs of 1000", c.Reference)
	}
	// nsga2 s2 finished five trials, the others four.
	if c.Budget != 4 {
		t.Errorf("budget %d, want 4 evaluations", c.Budget)
	}
	// random s1 spent 1+2+1+2 = 6 s, random s2 5 s, random s3 6 s.
	if c.Compute != 5 {
		t.Errorf("compute %v, want 5 s", c.Compute)
	}
	// nsga2 s1: (0.5 error, 0.5 MACs) dominates 0.25 of the unit box; (0.2, 1.0) lies on the
	// reference's MACs and adds nothing; (0.3, 0.25) makes the union 0.7·0.75 = 0.525; (0.1, 0.4)
	// adds the strip 0.2·0.6 = 0.12 beside it: 0.645.
	want := []float64{0.25, 0.25, 0.525, 0.645}
	for i, s := range c.Experiments[0].Steps {
		if math.Abs(s.Hypervolume-want[i]) > 1e-12 {
			t.Errorf("nsga2 s1 after %d evaluations: hypervolume %v, want %v", i+1, s.Hypervolume, want[i])
		}
	}
	if s := c.Experiments[0].Steps[3]; s.Best != 0.9 || s.Seconds != 11 {
		t.Errorf("nsga2 s1's last step %+v, want best 0.9 after 11 s", s)
	}
	if len(c.Groups) != 2 || c.Groups[0].Name != "nsga2" || c.Groups[1].Name != "random" {
		t.Fatalf("groups %+v, want nsga2 then random", c.Groups)
	}
	g := c.Groups[0]
	hv := []float64{c.Experiments[0].AtBudget.Hypervolume, c.Experiments[2].AtBudget.Hypervolume, c.Experiments[4].AtBudget.Hypervolume}
	mean := (hv[0] + hv[1] + hv[2]) / 3
	if g.Hypervolume.N != 3 || math.Abs(g.Hypervolume.Mean-mean) > 1e-12 {
		t.Errorf("nsga2's hypervolume %+v, want the mean %v of %v", g.Hypervolume, mean, hv)
	}
	// Every nsga2 run's front beats every random run's: U = 9 of 9 pairs, p = 1/C(6,3).
	if len(c.Tests) != 2 || c.Tests[0].Greater != "nsga2" || c.Tests[0].U != 9 || math.Abs(c.Tests[0].P-0.05) > 1e-12 {
		t.Errorf("tests %+v, want nsga2 > random with U 9 and p 0.05 first", c.Tests)
	}
	if c.Tests[1].U != 0 || c.Tests[1].P != 1 {
		t.Errorf("random > nsga2: %+v, want U 0 and p 1", c.Tests[1])
	}
	if len(g.ByEvaluations) != 4 || len(g.ByCompute) != 50 {
		t.Errorf("nsga2 has %d bands by evaluations and %d by compute, want 4 and 50", len(g.ByEvaluations), len(g.ByCompute))
	}
}

func TestSpreadIsTheSampleSpreadWithLinearQuartiles(t *testing.T) {
	// Four runs of one strategy and their best accuracies at the budget: 0.2, 0.4, 0.6, 0.8.
	var ds []*reports.Data
	for i, acc := range []float64{0.6, 0.2, 0.8, 0.4} {
		ds = append(ds, runData("ga", uint64(i+1), point{acc, 500, 1}))
	}
	c, err := reports.Compare(ds, reports.CompareOptions{GroupBy: reports.GroupByStrategy})
	if err != nil {
		t.Fatal(err)
	}
	// Mean 0.5; sd √((0.09+0.01+0.01+0.09)/3); quartiles at positions 0.75 and 2.25 of the
	// sorted values: 0.2 + 0.75·0.2 = 0.35 and 0.6 + 0.25·0.2 = 0.65.
	b := c.Groups[0].Best
	if math.Abs(b.Mean-0.5) > 1e-12 || math.Abs(b.SD-math.Sqrt(0.2/3)) > 1e-12 || math.Abs(b.Median-0.5) > 1e-12 ||
		math.Abs(b.Q1-0.35) > 1e-12 || math.Abs(b.Q3-0.65) > 1e-12 {
		t.Errorf("spread %+v, want mean 0.5, sd %v, median 0.5, quartiles 0.35 and 0.65", b, math.Sqrt(0.2/3))
	}
}

func TestCompareRefusesFewerThanTwoOrRepeatedExperiments(t *testing.T) {
	one := runData("nsga2", 1, point{0.5, 500, 1})
	if _, err := reports.Compare([]*reports.Data{one}, reports.CompareOptions{}); err == nil {
		t.Error("one experiment compared")
	}
	if _, err := reports.Compare([]*reports.Data{one, one}, reports.CompareOptions{}); err == nil {
		t.Error("an experiment compared with itself")
	}
}

func TestCompareReferenceWithoutConstraintsIsSharedAndStated(t *testing.T) {
	a, b := runData("nsga2", 1, point{0.5, 500, 1}), runData("random", 1, point{0.5, 2000, 1})
	a.Experiment.Config, b.Experiment.Config = nil, nil
	c, err := reports.Compare([]*reports.Data{a, b}, reports.CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reference.MACs != 2200 || c.ReferenceFrom == "" {
		t.Errorf("reference %+v from %q, want 1.1 × 2000 MACs", c.Reference, c.ReferenceFrom)
	}
	// The same network is measured against the same box in both: 0.5 · (1 − 500/2200).
	if hv := c.Experiments[0].Steps[0].Hypervolume; math.Abs(hv-0.5*(1-500.0/2200)) > 1e-12 {
		t.Errorf("hypervolume %v", hv)
	}
	c, err = reports.Compare([]*reports.Data{a, b}, reports.CompareOptions{RefMACs: 4000})
	if err != nil || c.Reference.MACs != 4000 {
		t.Errorf("a given reference: %+v, %v", c.Reference, err)
	}
}

func TestComparisonOutputsMatchGoldenFiles(t *testing.T) {
	c, err := reports.Compare(sweep(), reports.CompareOptions{GroupBy: reports.GroupByStrategy})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"compare.txt", func(b *bytes.Buffer) error { return c.WriteText(b) }},
		{"compare.md", func(b *bytes.Buffer) error { return c.WriteMarkdown(b) }},
		{"compare.csv", func(b *bytes.Buffer) error { return c.WriteCSV(b) }},
		{"compare.json", func(b *bytes.Buffer) error { return c.WriteJSON(b) }},
		{"compare.html", func(b *bytes.Buffer) error { return c.WriteHTML(b) }},
	} {
		t.Run(o.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := o.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, o.file, b.Bytes())
		})
	}
	for _, f := range c.Figures() {
		t.Run(f.Name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, f.Name+".svg", b.Bytes())
		})
	}
}
