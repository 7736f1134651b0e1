package reports_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

// rung is one evaluation of successive halving: a network, the fidelity and the accuracy.
type rung struct {
	hash     string
	fidelity float64
	acc      float64
}

// halving returns an experiment whose trials are the rungs, in order.
func halving(rungs ...rung) *reports.Data {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &reports.Data{Experiment: store.Experiment{ID: 1, Name: "sh", Strategy: "nsga2", Seed: 1, Status: store.ExperimentDone, Created: created}}
	for i, r := range rungs {
		tr := store.Trial{ID: int64(i + 1), Status: store.TrialDone, Finished: created.Add(time.Minute)}
		tr.Key = store.EvalKey{ArchHash: r.hash, Fidelity: r.fidelity, Seed: 1}
		tr.Operator = "mutation"
		d.Trials = append(d.Trials, tr)
		d.Evaluations = append(d.Evaluations, store.Evaluation{Experiment: "sh", Trial: tr,
			Arch:   store.Arch{Hash: r.hash, MACs: 1000, Params: 100, JSON: []byte("{}")},
			Result: evaluator.Result{Status: evaluator.StatusOK, ValAcc: r.acc}})
	}
	return d
}

func TestFidelityAgreementOfSuccessiveHalving(t *testing.T) {
	// Six networks at fidelity 1; the best four promoted to 3, where f overtakes d: of the six
	// pairs of promoted networks only (d, f) is discordant, τ = (5−1)/6. The ranks at 1 are
	// c 1, b 2, f 3, d 4 and at 3 c 1, b 2, d 3, f 4: Σd² = 2, ρ = 1 − 6·2/(4·15) = 0.8.
	// At 9, d beats f again: τ = −1 from 3 to 9, and 1 from 1 to 9.
	r, err := reports.New(halving(
		rung{"a", 1, 0.50}, rung{"b", 1, 0.60}, rung{"c", 1, 0.55}, rung{"d", 1, 0.70}, rung{"e", 1, 0.40}, rung{"f", 1, 0.65},
		rung{"d", 3, 0.80}, rung{"f", 3, 0.85}, rung{"b", 3, 0.75}, rung{"c", 3, 0.70},
		rung{"d", 9, 0.90}, rung{"f", 9, 0.88},
	), reports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		low, high float64
		n         int
		tau, rho  float64
		trusted   bool
	}{
		{1, 3, 4, 2.0 / 3, 0.8, true},
		{3, 9, 2, -1, -1, false},
		{1, 9, 2, 1, 1, true},
	}
	if len(r.FidelityAgreements) != len(want) {
		t.Fatalf("%d agreements, want %d: %+v", len(r.FidelityAgreements), len(want), r.FidelityAgreements)
	}
	for i, w := range want {
		a := r.FidelityAgreements[i]
		if a.Low != w.low || a.High != w.high || a.Networks != w.n || a.KendallTau == nil || math.Abs(*a.KendallTau-w.tau) > 1e-12 ||
			a.Spearman == nil || math.Abs(*a.Spearman-w.rho) > 1e-12 || a.Trusted != w.trusted {
			t.Errorf("agreement %d: %+v (τ %v, ρ %v), want %+v", i, a, deref(a.KendallTau), deref(a.Spearman), w)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Does the cheap fidelity rank networks as the expensive one does?", "0.667",
		"but over only 4 networks", "WARNING: τ -1.00 is below 0.5"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the text report lacks %q:\n%s", s, text.String())
		}
	}
}

func TestOneFidelityHasNoAgreementTable(t *testing.T) {
	r, err := reports.New(halving(rung{"a", 1, 0.5}, rung{"b", 1, 0.6}), reports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if len(r.FidelityAgreements) != 0 || strings.Contains(text.String(), "cheap fidelity") {
		t.Errorf("a search at one fidelity reports an agreement: %+v", r.FidelityAgreements)
	}
}

func TestFinalAgreementWarnsWhenLow(t *testing.T) {
	// τ = 1/3 between the search's scores and the final trainings (see
	// TestFinalResultsStandBesideTheSearchScore).
	d, _ := withFinals(t, map[string][]float64{"g0-resnext": {0.95, 0.97}, "g0-basic-se": {0.98}, "g0-basic-w8": {0.90}})
	r, err := reports.New(d, reports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "WARNING: τ 0.33 is below 0.5") {
		t.Errorf("no warning for τ 1/3:\n%s", text.String())
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
