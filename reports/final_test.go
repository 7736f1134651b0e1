package reports_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

// withFinals adds to the fixture final trainings of the trials named, one per test accuracy
// given (NaN: a failed training), as nas finalize records them.
func withFinals(t *testing.T, finals map[string][]float64) (*reports.Data, map[string]int64) {
	t.Helper()
	d := fixtureData(t, "")
	ids := map[string]int64{}
	next := int64(1000)
	for _, ev := range d.Evaluations {
		accs, ok := finals[ev.Arch.Name]
		if !ok || ids[ev.Arch.Name] != 0 {
			continue
		}
		ids[ev.Arch.Name] = ev.Trial.ID
		for seed, acc := range accs {
			f := ev
			f.Trial.ID, f.Trial.Phase, f.Trial.Source, f.Trial.Operator = next, store.PhaseFinal, ev.Trial.ID, "final"
			f.Trial.Key.Fidelity, f.Trial.Key.Seed = 30, uint64(seed+1)
			f.Result.Status, f.Result.Tested, f.Result.TestAcc, f.Result.ValAcc = evaluator.StatusOK, true, acc, 0
			f.Result.TrainSeconds = 100
			if math.IsNaN(acc) {
				f.Result.Status, f.Result.Tested, f.Result.TestAcc = evaluator.StatusDiverged, false, 0
			}
			next++
			d.Evaluations = append(d.Evaluations, f)
			d.Trials = append(d.Trials, f.Trial)
		}
	}
	if len(ids) != len(finals) {
		t.Fatalf("the fixture has %d of the networks %v", len(ids), finals)
	}
	return d, ids
}

func TestFinalResultsStandBesideTheSearchScore(t *testing.T) {
	plain := fixtureReport(t, reports.Options{})
	// Search validation accuracies: g0-resnext 0.912, g0-basic-se 0.908, g0-basic-w8 0.885.
	d, ids := withFinals(t, map[string][]float64{
		"g0-resnext":  {0.95, 0.97},
		"g0-basic-se": {0.98},
		"g0-basic-w8": {0.90},
		"g2-ror":      {math.NaN()},
	})
	r, err := reports.New(d, reports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy != evaluator.FinalAcc {
		t.Errorf("with final trainings the report ranks by %s, want %s", r.Accuracy, evaluator.FinalAcc)
	}
	if r.Summary.Trials != plain.Summary.Trials || r.Summary.Searched != plain.Summary.Searched || r.Summary.FinalTrainings != 5 {
		t.Errorf("summary counts %d trials, %d searched, %d final trainings; want %d, %d and 5", r.Summary.Trials,
			r.Summary.Searched, r.Summary.FinalTrainings, plain.Summary.Trials, plain.Summary.Searched)
	}
	if len(r.Candidates) != len(plain.Candidates) {
		t.Errorf("final trials became %d candidates", len(r.Candidates)-len(plain.Candidates))
	}
	resnext := r.Candidate(ids["g0-resnext"]).Final
	if resnext == nil || resnext.OK != 2 || math.Abs(resnext.TestAcc-0.96) > 1e-12 || math.Abs(resnext.TestSD-math.Sqrt(2e-4)) > 1e-12 {
		t.Errorf("g0-resnext's final: %+v, want 2 seeds, mean 0.96, sd √(2·0.01²/1)", resnext)
	}
	if ror := r.Candidate(ids["g2-ror"]); ror.Final == nil || ror.Final.OK != 0 || ror.Value(evaluator.FinalAcc) != ror.ValAcc {
		t.Errorf("g2-ror's failed final training: %+v; its final accuracy must fall back to its search score", ror.Final)
	}
	want := []int64{ids["g0-basic-se"], ids["g0-resnext"], ids["g0-basic-w8"], ids["g2-ror"]}
	if len(r.Finals) != 4 || r.Finals[0] != want[0] || r.Finals[1] != want[1] || r.Finals[2] != want[2] || r.Finals[3] != want[3] {
		t.Errorf("Finals = %v, want %v (best final first, the failed one last)", r.Finals, want)
	}
	// Search order resnext > basic-se > basic-w8, final order basic-se > resnext > basic-w8: one
	// discordant pair of three, τ = (2−1)/3; rank differences 1, −1, 0, ρ = 1 − 6·2/(3·8).
	a := r.Agreement
	if a == nil || a.Networks != 3 || a.KendallTau == nil || math.Abs(*a.KendallTau-1.0/3) > 1e-12 || a.Spearman == nil || math.Abs(*a.Spearman-0.5) > 1e-12 {
		t.Errorf("Agreement = %+v, want 3 networks, τ 1/3, ρ 0.5", a)
	}
	// The front uses the final accuracy: g0-basic-se, finalized at 98%, is on it.
	onFront := false
	for _, id := range r.Front {
		onFront = onFront || id == ids["g0-basic-se"]
	}
	checkFront(t, compared(r), r.Front, r.Objectives...)
	if !onFront {
		t.Errorf("front %v lacks g0-basic-se (trial %d) at 98%% final accuracy", r.Front, ids["g0-basic-se"])
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Final training", "96.00% ± 1.41 (2 seeds)", "Kendall τ-b", "0.333", "Spearman ρ", "0.500"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the text report lacks %q", s)
		}
	}
}
