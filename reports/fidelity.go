package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/search/rank"
)

// MinTrustedTau is the Kendall τ-b below which a report warns that a cheap fidelity ranks
// networks too differently from an expensive one for a search at the cheap one to mean much.
const MinTrustedTau = 0.5

// fewNetworks is the number of networks below which a rank correlation is too uncertain to
// vouch for a fidelity, even if it is high.
const fewNetworks = 5

// FidelityAgreement is the rank correlation between two fidelities of successive halving over
// the networks evaluated at both: those the lower rung promoted. Promotion keeps the best of the
// lower rung only, so the correlation is measured over a narrower range of networks than the
// search ranks, which tends to make it lower.
type FidelityAgreement struct {
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	Networks int     `json:"networks"`
	// KendallTau (τ-b) and Spearman (ρ) of the validation accuracies at the two fidelities; nil
	// when undefined (every score equal at one of them).
	KendallTau *float64 `json:"kendall_tau"`
	Spearman   *float64 `json:"spearman_rho"`
	// Trusted says that τ is at least MinTrustedTau.
	Trusted bool `json:"trusted"`
}

// fidelityAgreements computes FidelityAgreements: one for each pair of consecutive fidelities of
// the found networks, and one between the lowest and the highest when there are more than two.
func (r *Report) fidelityAgreements() {
	acc := map[float64]map[string]float64{} // fidelity → network hash → val. accuracy
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Status != evaluator.StatusOK || c.Duplicate || c.Baseline() {
			continue
		}
		if acc[c.Fidelity] == nil {
			acc[c.Fidelity] = map[string]float64{}
		}
		acc[c.Fidelity][c.Hash] = c.ValAcc
	}
	var levels []float64
	for f := range acc {
		levels = append(levels, f)
	}
	slices.Sort(levels)
	var pairs [][2]float64
	for i := 1; i < len(levels); i++ {
		pairs = append(pairs, [2]float64{levels[i-1], levels[i]})
	}
	if len(levels) > 2 {
		pairs = append(pairs, [2]float64{levels[0], levels[len(levels)-1]})
	}
	for _, p := range pairs {
		var hashes []string
		for h := range acc[p[1]] {
			if _, ok := acc[p[0]][h]; ok {
				hashes = append(hashes, h)
			}
		}
		if len(hashes) < 2 {
			continue
		}
		slices.Sort(hashes)
		lo, hi := make([]float64, len(hashes)), make([]float64, len(hashes))
		for i, h := range hashes {
			lo[i], hi[i] = acc[p[0]][h], acc[p[1]][h]
		}
		a := FidelityAgreement{Low: p[0], High: p[1], Networks: len(hashes),
			KendallTau: defined(rank.KendallTau(lo, hi)), Spearman: defined(rank.Spearman(lo, hi))}
		a.Trusted = a.KendallTau != nil && *a.KendallTau >= MinTrustedTau
		r.FidelityAgreements = append(r.FidelityAgreements, a)
	}
}

// defined returns a pointer to v, or nil if v is NaN.
func defined(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// coefficient writes a rank correlation, or says why it is undefined.
func coefficient(v *float64) string {
	if v == nil {
		return "undefined (every score equal)"
	}
	return fmt.Sprintf("%.3f", *v)
}

// agreementVerdict says whether a Kendall τ over n networks lets a cheap fidelity stand for an
// expensive one, with a warning when it does not.
func agreementVerdict(tau *float64, n int) string {
	switch {
	case tau == nil:
		return "WARNING: the cheap fidelity scores these networks all alike, so it cannot rank them"
	case *tau < MinTrustedTau:
		return fmt.Sprintf("WARNING: τ %.2f is below %g: the cheap fidelity orders networks too differently from the expensive one for the search's choices to mean much", *tau, MinTrustedTau)
	case n < fewNetworks:
		return fmt.Sprintf("τ is at least %g, but over only %d networks: too few to be sure", MinTrustedTau, n)
	}
	return fmt.Sprintf("good: τ is at least %g", MinTrustedTau)
}

// fidelityTable lists the FidelityAgreements; ok is false when there are none.
func (r *Report) fidelityTable() (t Table, ok bool) {
	if len(r.FidelityAgreements) == 0 {
		return t, false
	}
	t = Table{Title: "Does the cheap fidelity rank networks as the expensive one does?",
		Note:   fmt.Sprintf("Rank correlation of the validation accuracies of the networks that successive halving evaluated at both fidelities (the promoted ones): 1 is the same order, 0 no relation. A Kendall τ below %g warns that the search ranks by a fidelity that says little.", MinTrustedTau),
		Header: []string{"from fidelity", "to fidelity", "networks", "Kendall τ-b", "Spearman ρ", "verdict"},
		Right:  []bool{true, true, true, true, true, false}}
	for _, a := range r.FidelityAgreements {
		t.Rows = append(t.Rows, []string{strconv.FormatFloat(a.Low, 'g', -1, 64), strconv.FormatFloat(a.High, 'g', -1, 64),
			strconv.Itoa(a.Networks), coefficient(a.KendallTau), coefficient(a.Spearman), agreementVerdict(a.KendallTau, a.Networks)})
	}
	return t, true
}
