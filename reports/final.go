package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/search/rank"
	"github.com/gonas/nas/store"
)

// addFinals attaches the final trainings finals to the candidates they came from, and computes
// Finals and Agreement.
func (r *Report) addFinals(finals []store.Evaluation) {
	var accs = map[int64][]float64{}
	var secs = map[int64]float64{}
	for _, ev := range finals {
		c := r.Candidate(ev.Trial.Source)
		if c == nil {
			continue // a final trial of a search trial that did not finish: nothing to compare
		}
		if c.Final == nil {
			c.Final = &Final{Fidelity: ev.Trial.Key.Fidelity}
		}
		c.Final.Trials = append(c.Final.Trials, ev.Trial.ID)
		if ev.Result.Status == evaluator.StatusOK && ev.Result.Tested {
			c.Final.OK++
			accs[c.Trial] = append(accs[c.Trial], ev.Result.TestAcc)
			secs[c.Trial] += measured(ev.Result.TrainSeconds)
		}
	}
	var finalized []*Candidate
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Final == nil {
			continue
		}
		if f := c.Final; f.OK > 0 {
			f.TestAcc, f.TestSD = meanSD(accs[c.Trial])
			f.TrainSeconds = secs[c.Trial] / float64(f.OK)
		}
		finalized = append(finalized, c)
	}
	slices.SortStableFunc(finalized, func(a, b *Candidate) int {
		return cmp.Or(cmp.Compare(min(b.Final.OK, 1), min(a.Final.OK, 1)), cmp.Compare(b.Final.TestAcc, a.Final.TestAcc))
	})
	r.Finals = ids(finalized)
	var search, final []float64
	for _, c := range finalized {
		if c.Final.OK > 0 {
			search, final = append(search, c.ValAcc), append(final, c.Final.TestAcc)
		}
	}
	if len(search) >= 2 {
		r.Agreement = &Agreement{Networks: len(search), KendallTau: defined(rank.KendallTau(search, final)),
			Spearman: defined(rank.Spearman(search, final))}
	}
}

// meanSD returns the mean of xs and their sample standard deviation (0 for one value).
func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// finalCell writes c's final test accuracy as mean ± sd over its seeds, or "-" without one.
func finalCell(c *Candidate) string {
	f := c.Final
	switch {
	case f == nil:
		return "-"
	case f.OK == 0:
		return fmt.Sprintf("failed (%d)", len(f.Trials))
	case f.OK == 1:
		return Percent(f.TestAcc)
	}
	return fmt.Sprintf("%.2f%% ± %.2f (%d seeds)", 100*f.TestAcc, 100*f.TestSD, f.OK)
}

// FinalTables returns the final trainings beside the search's score and the rank agreement between
// the two; none when no network was finalized.
func (r *Report) FinalTables() []Table {
	if len(r.Finals) == 0 {
		return nil
	}
	t := Table{Title: "Final training",
		Note: "The networks trained again with a full recipe by nas finalize: test accuracy, mean ± standard deviation over seeds, beside the search's validation accuracy at its fidelity.",
		Header: []string{"trial", "network", "operator", "search val. accuracy", "final test accuracy",
			"MACs", "parameters", "final train time"},
		Right: []bool{true, false, false, true, true, true, true, true}}
	for _, c := range r.candidates(r.Finals) {
		t.Rows = append(t.Rows, []string{strconv.FormatInt(c.Trial, 10), c.Label(), c.Operator,
			fmt.Sprintf("%s (fidelity %g)", c.Format(evaluator.ValAcc), c.Fidelity), finalCell(c),
			c.Format(evaluator.MACs), c.Format(evaluator.Params), seconds(c.Final.TrainSeconds)})
	}
	ts := []Table{t}
	if a := r.Agreement; a != nil {
		ts = append(ts, Table{Title: "Does the search's fidelity rank networks as final training does?",
			Note: "Rank correlation between the search's validation accuracy and the mean final test accuracy of the finalized networks: 1 is the same order, 0 no relation, −1 the reverse.",
			Rows: [][]string{
				{"networks", strconv.Itoa(a.Networks)},
				{"Kendall τ-b", coefficient(a.KendallTau)},
				{"Spearman ρ", coefficient(a.Spearman)},
				{"verdict", agreementVerdict(a.KendallTau, a.Networks)},
			}, Right: []bool{false, true}})
	}
	return ts
}

// acc and sd are the mean and standard deviation of f, or 0 for no final training.
func (f *Final) acc() float64 {
	if f == nil {
		return 0
	}
	return f.TestAcc
}

func (f *Final) sd() float64 {
	if f == nil {
		return 0
	}
	return f.TestSD
}
