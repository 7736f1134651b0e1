package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/search/pareto"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// OperatorBaseline is the operator of the trials that evaluate hand-written baselines.
const OperatorBaseline = "baseline"

// DefaultTop is how many of the best networks a report lists unless Options say otherwise.
const DefaultTop = 10

// Options choose what a report shows.
type Options struct {
	// Top is how many of the most accurate networks the report lists; 0 means DefaultTop.
	Top int
	// Accuracy is ValAcc or TestAcc. Empty means TestAcc when every compared network was
	// tested, ValAcc otherwise.
	Accuracy evaluator.Objective
}

// Report is what an experiment found, computed from its stored Data.
type Report struct {
	Experiment Experiment `json:"experiment"`
	// Accuracy is the accuracy that networks are ranked by.
	Accuracy evaluator.Objective `json:"accuracy"`
	// Objectives are Accuracy and the costs measured for every compared network.
	Objectives []evaluator.Objective `json:"objectives"`
	// Fidelity is the highest fidelity of the experiment's successful trials. Only networks
	// evaluated at it are compared: lower rungs of successive halving are not comparable.
	Fidelity float64 `json:"fidelity"`
	Summary  Summary `json:"summary"`
	// Candidates are every finished trial, in the order they were added.
	Candidates []Candidate `json:"candidates"`
	// Top lists the trials of the Options.Top most accurate compared networks, best first.
	Top []int64 `json:"top"`
	// Front lists the compared networks that no other dominates in all Objectives, in
	// increasing order of MACs.
	Front []int64 `json:"front"`
	// Fronts hold the Pareto front of every pair of Objectives.
	Fronts []Front `json:"fronts"`
	// Baselines compares each compared baseline with the found networks.
	Baselines []BaselineComparison `json:"baselines"`
	// Progress has one step per finished trial.
	Progress []Step `json:"progress"`
	// HypervolumeRef is the reference point of the hypervolumes in Progress.
	HypervolumeRef Reference `json:"hypervolume_ref"`
	// Finals lists the candidates with final trainings (nas finalize), most accurate first by
	// their final test accuracy.
	Finals []int64 `json:"finals,omitempty"`
	// Agreement says how well the search's score ranks the finalized networks as their final
	// training does; nil without two finalized networks.
	Agreement *Agreement `json:"agreement,omitempty"`
	// FidelityAgreements compare the fidelities of successive halving, where it ran.
	FidelityAgreements []FidelityAgreement `json:"fidelity_agreements,omitempty"`

	index map[int64]int // trial ID → position in Candidates
}

// Experiment describes the experiment a report is about.
type Experiment struct {
	Name     string        `json:"name"`
	Strategy string        `json:"strategy"`
	Seed     uint64        `json:"seed"`
	Status   string        `json:"status"`
	Created  time.Time     `json:"created"`
	Finished time.Time     `json:"finished"` // zero while running
	Machine  store.Machine `json:"machine"`
	Budget   Budget        `json:"budget"`
}

// Summary counts what an experiment spent and what came of it.
type Summary struct {
	Trials   int `json:"trials"`   // trials of the experiment, finished or not
	Finished int `json:"finished"` // trials with a result
	// Searched counts the trials that are not baselines: those the budget's evaluations count.
	Searched int `json:"searched"`
	// Evaluated counts the finished trials whose result was computed for them; Cached those
	// whose result came from the evaluation cache, computed by another trial.
	Evaluated int `json:"evaluated"`
	Cached    int `json:"cached"`
	// Duplicates counts the finished trials of a network that an earlier trial of the experiment
	// evaluated at the same fidelity: proposals the search made again.
	Duplicates int `json:"duplicates"`
	// Failures counts the finished trials by how they failed (diverged, over_budget, error).
	Failures map[evaluator.Status]int `json:"failures"`
	// LowFidelity counts the successful trials at a fidelity below the report's Fidelity.
	LowFidelity int `json:"low_fidelity"`
	// Compared counts the networks the report compares, Baselines of them baselines.
	Compared  int `json:"compared"`
	Baselines int `json:"baselines"`
	// Best is the trial of the most accurate found (not baseline) network; 0 if there is none.
	Best int64 `json:"best"`
	// ComputeSeconds is the training time of the evaluations computed for this experiment.
	ComputeSeconds float64 `json:"compute_seconds"`
	// WallSeconds is the time from the experiment's creation to its last finished trial.
	WallSeconds float64 `json:"wall_seconds"`
	// FinalTrainings counts the finished final trainings (nas finalize), every seed counted.
	FinalTrainings int `json:"final_trainings,omitempty"`
}

// Candidate is one finished trial as reports show it.
type Candidate struct {
	Trial      int64            `json:"trial"`
	Name       string           `json:"name"`
	Hash       string           `json:"hash"`
	Family     string           `json:"family"` // the store's summary, e.g. "basic+se"
	Group      string           `json:"group"`  // the block group the plots colour by
	Operator   string           `json:"operator"`
	Generation int              `json:"generation"`
	Fidelity   float64          `json:"fidelity"`
	Status     evaluator.Status `json:"status"`
	Message    string           `json:"message,omitempty"`
	// Cached marks a result computed by another trial; Duplicate a network that an earlier trial
	// of this experiment evaluated at the same fidelity.
	Cached    bool `json:"cached"`
	Duplicate bool `json:"duplicate"`
	// Compared marks the networks the report compares: successful, at the report's fidelity,
	// and not duplicates.
	Compared bool  `json:"compared"`
	Params   int64 `json:"params"`
	MACs     int64 `json:"macs"`
	// ValAcc and TestAcc are zero when not measured; Tested says whether TestAcc was.
	ValAcc       float64 `json:"val_acc"`
	TestAcc      float64 `json:"test_acc"`
	Tested       bool    `json:"tested"`
	LatencyMs    float64 `json:"latency_ms"` // zero when not measured
	TrainSeconds float64 `json:"train_seconds"`
	// Curve is the accuracy after each epoch.
	Curve []EpochAccuracy `json:"curve"`
	// Final sums up the network's final trainings; nil if it has none.
	Final *Final `json:"final,omitempty"`
}

// Final is what a network's final trainings (nas finalize, one per seed) measured.
type Final struct {
	// Trials are the final trials; OK of them succeeded.
	Trials []int64 `json:"trials"`
	OK     int     `json:"ok"`
	// TestAcc is the mean test accuracy of the successful ones, TestSD its sample standard
	// deviation (0 with one seed).
	TestAcc float64 `json:"test_acc"`
	TestSD  float64 `json:"test_sd"`
	// Fidelity is the final trainings' budget in passes over the training split.
	Fidelity     float64 `json:"fidelity"`
	TrainSeconds float64 `json:"train_seconds"` // the mean over the successful ones
}

// Agreement is the rank correlation between the search's score of the finalized networks (their
// validation accuracy at the search's fidelity) and their mean final test accuracy: near 1, the
// search's cheap fidelity ranks networks as full training does; near 0, its ranking says little.
type Agreement struct {
	Networks int `json:"networks"`
	// KendallTau (τ-b) and Spearman (ρ) are nil when undefined (every score equal).
	KendallTau *float64 `json:"kendall_tau"`
	Spearman   *float64 `json:"spearman_rho"`
}

// EpochAccuracy is a network's accuracy after one epoch of training; ValAcc is zero when the
// training had no validation split.
type EpochAccuracy struct {
	Epoch    int     `json:"epoch"`
	TrainAcc float64 `json:"train_acc"`
	ValAcc   float64 `json:"val_acc"`
}

// Baseline reports whether c evaluates a hand-written baseline rather than a found network.
func (c *Candidate) Baseline() bool { return c.Operator == OperatorBaseline }

// Label is c's name, or "trial N" for an unnamed network.
func (c *Candidate) Label() string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("trial %d", c.Trial)
}

// Front is the Pareto front of the compared networks in two objectives.
type Front struct {
	X evaluator.Objective `json:"x"`
	Y evaluator.Objective `json:"y"`
	// Trials are the members in increasing order of X.
	Trials []int64 `json:"trials"`
}

// BaselineComparison lists the found networks that Pareto-dominate a baseline in accuracy and
// MACs, and in accuracy and parameters, most accurate first.
type BaselineComparison struct {
	Baseline     int64   `json:"baseline"`
	BeatenMACs   []int64 `json:"dominated_macs"`
	BeatenParams []int64 `json:"dominated_params"`
}

// Reference is the reference point of a hypervolume in error (1 − accuracy) and MACs: 1.1 times
// the largest error (at most 1) and the most MACs of the compared networks, baselines included.
type Reference struct {
	Error float64 `json:"error"`
	MACs  float64 `json:"macs"`
}

// Step is the state of the search after a number of finished trials: the best accuracy of the
// found networks so far, and the hypervolume of their front in error and MACs as a fraction of
// the box between zero and the reference point, which is the same for every step.
type Step struct {
	Evaluations int     `json:"evaluations"`
	Trial       int64   `json:"trial"`
	Best        float64 `json:"best"`
	Hypervolume float64 `json:"hypervolume"`
}

// New computes the report of d. It returns an error if the Options ask for an accuracy that was
// not measured, or if a stored architecture cannot be decoded.
func New(d *Data, opt Options) (*Report, error) {
	if opt.Top < 0 {
		return nil, fmt.Errorf("top %d: must not be negative", opt.Top)
	}
	if opt.Top == 0 {
		opt.Top = DefaultTop
	}
	e := d.Experiment
	r := &Report{
		Experiment: Experiment{Name: e.Name, Strategy: e.Strategy, Seed: e.Seed, Status: string(e.Status),
			Created: e.Created.UTC(), Finished: e.Finished.UTC(), Machine: e.Machine, Budget: budgetOf(e.Config)},
		index: map[int64]int{},
	}
	if err := r.addCandidates(d); err != nil {
		return nil, err
	}
	compared := r.compared()
	if err := r.chooseObjectives(compared, opt.Accuracy); err != nil {
		return nil, err
	}
	r.summarise(d)
	r.Top = ids(r.top(compared, opt.Top))
	r.Front = ids(nondominated(compared, evaluator.MACs, r.Objectives...))
	for i, a := range r.Objectives {
		for _, b := range r.Objectives[i+1:] {
			r.Fronts = append(r.Fronts, Front{X: b, Y: a, Trials: ids(nondominated(compared, b, a, b))})
		}
	}
	r.compareBaselines(compared)
	r.progress(compared)
	r.fidelityAgreements()
	return r, nil
}

// addCandidates turns d's evaluations into Candidates and marks duplicates and the compared ones.
func (r *Report) addCandidates(d *Data) error {
	var finals []store.Evaluation
	for _, ev := range d.Evaluations {
		if ev.Trial.Phase == store.PhaseFinal {
			finals = append(finals, ev)
			continue
		}
		var a space.Arch
		if err := json.Unmarshal(ev.Arch.JSON, &a); err != nil {
			return fmt.Errorf("trial %d: architecture %s: %w", ev.Trial.ID, ev.Arch.Hash, err)
		}
		res := ev.Result
		c := Candidate{Trial: ev.Trial.ID, Name: ev.Arch.Name, Hash: ev.Arch.Hash, Family: ev.Arch.Family,
			Group: groupOf(&a).name, Operator: ev.Trial.Operator, Generation: ev.Trial.Generation,
			Fidelity: ev.Trial.Key.Fidelity, Status: res.Status, Message: res.Message, Cached: ev.Cached,
			Params: ev.Arch.Params, MACs: ev.Arch.MACs, ValAcc: measured(res.ValAcc), Tested: res.Tested,
			LatencyMs: measured(res.LatencyB1Ms), TrainSeconds: measured(res.TrainSeconds)}
		if res.Tested {
			c.TestAcc = measured(res.TestAcc)
		}
		for _, ep := range res.Epochs {
			c.Curve = append(c.Curve, EpochAccuracy{Epoch: ep.Epoch, TrainAcc: measured(ep.TrainAcc), ValAcc: measured(ep.ValAcc)})
		}
		r.index[c.Trial] = len(r.Candidates)
		r.Candidates = append(r.Candidates, c)
	}
	type seenKey struct {
		hash     string
		fidelity float64
	}
	seen := map[seenKey]bool{}
	r.Fidelity = math.Inf(-1)
	for i := range r.Candidates {
		c := &r.Candidates[i]
		k := seenKey{c.Hash, c.Fidelity}
		c.Duplicate = seen[k]
		seen[k] = true
		if c.Status == evaluator.StatusOK {
			r.Fidelity = max(r.Fidelity, c.Fidelity)
		}
	}
	if math.IsInf(r.Fidelity, -1) {
		r.Fidelity = 0
	}
	for i := range r.Candidates {
		c := &r.Candidates[i]
		c.Compared = c.Status == evaluator.StatusOK && c.Fidelity == r.Fidelity && !c.Duplicate
	}
	r.addFinals(finals)
	return nil
}

// measured returns f, or zero for a figure that was not measured (NaN, or infinite).
func measured(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// compared returns the compared candidates in trial order.
func (r *Report) compared() []*Candidate {
	var cs []*Candidate
	for i := range r.Candidates {
		if r.Candidates[i].Compared {
			cs = append(cs, &r.Candidates[i])
		}
	}
	return cs
}

// Candidate returns the candidate of trial id, or nil if the report has none.
func (r *Report) Candidate(id int64) *Candidate {
	i, ok := r.index[id]
	if !ok {
		return nil
	}
	return &r.Candidates[i]
}

// chooseObjectives sets Accuracy and Objectives.
func (r *Report) chooseObjectives(compared []*Candidate, acc evaluator.Objective) error {
	switch acc {
	case "":
		acc = evaluator.ValAcc
		switch {
		case len(r.Finals) > 0:
			acc = evaluator.FinalAcc
		case len(compared) > 0 && measuredFor(compared, evaluator.TestAcc) == nil:
			acc = evaluator.TestAcc
		}
	case evaluator.ValAcc, evaluator.TestAcc, evaluator.FinalAcc:
		if err := measuredFor(compared, acc); err != nil {
			return err
		}
	default:
		return fmt.Errorf("accuracy %q: want %s, %s or %s", acc, evaluator.ValAcc, evaluator.TestAcc, evaluator.FinalAcc)
	}
	r.Accuracy = acc
	r.Objectives = []evaluator.Objective{acc, evaluator.MACs, evaluator.Params}
	if len(compared) > 0 && measuredFor(compared, evaluator.Latency) == nil {
		r.Objectives = append(r.Objectives, evaluator.Latency)
	}
	return nil
}

// measuredFor returns an error naming the first of cs for which o was not measured.
func measuredFor(cs []*Candidate, o evaluator.Objective) error {
	for _, c := range cs {
		if (o == evaluator.TestAcc && !c.Tested) || (o == evaluator.Latency && c.LatencyMs <= 0) {
			return fmt.Errorf("%s was not measured for trial %d (%s)", o, c.Trial, c.Label())
		}
	}
	return nil
}

// Measured returns nil if o was measured for every compared network, and otherwise an error
// naming one for which it was not.
func (r *Report) Measured(o evaluator.Objective) error { return measuredFor(r.compared(), o) }

func (r *Report) summarise(d *Data) {
	s := &r.Summary
	s.Finished = len(r.Candidates)
	for _, t := range d.Trials {
		switch {
		case t.Phase == store.PhaseFinal:
			if t.Status == store.TrialDone {
				s.FinalTrainings++
			}
			continue
		case t.Operator != OperatorBaseline:
			s.Searched++
		}
		s.Trials++
	}
	s.Failures = map[evaluator.Status]int{}
	var last time.Time
	for _, t := range d.Trials {
		if t.Phase != store.PhaseFinal && t.Status == store.TrialDone && t.Finished.After(last) {
			last = t.Finished
		}
	}
	if !last.IsZero() {
		s.WallSeconds = last.Sub(d.Experiment.Created).Seconds()
	}
	var best *Candidate
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Cached {
			s.Cached++
		} else {
			s.Evaluated++
			s.ComputeSeconds += c.TrainSeconds
		}
		if c.Duplicate {
			s.Duplicates++
		}
		switch {
		case c.Status != evaluator.StatusOK:
			s.Failures[c.Status]++
		case c.Fidelity != r.Fidelity:
			s.LowFidelity++
		case c.Compared:
			s.Compared++
			if c.Baseline() {
				s.Baselines++
			} else if best == nil || r.better(c, best) {
				best = c
			}
		}
	}
	if best != nil {
		s.Best = best.Trial
	}
}

// rank orders candidates best first: more accurate, then fewer MACs, then earlier.
func (r *Report) rank(a, b *Candidate) int {
	return cmp.Or(
		cmp.Compare(b.Value(r.Accuracy), a.Value(r.Accuracy)),
		cmp.Compare(a.MACs, b.MACs),
		cmp.Compare(a.Trial, b.Trial))
}

// better reports whether a ranks before b.
func (r *Report) better(a, b *Candidate) bool { return r.rank(a, b) < 0 }

// top returns the k best of cs, best first.
func (r *Report) top(cs []*Candidate, k int) []*Candidate {
	sorted := slices.Clone(cs)
	slices.SortFunc(sorted, r.rank)
	return sorted[:min(k, len(sorted))]
}

// nondominated returns the members of cs that no other member dominates in objs, in increasing
// order of by's cost, then of the costs of objs in turn.
func nondominated(cs []*Candidate, by evaluator.Objective, objs ...evaluator.Objective) []*Candidate {
	points := make([][]float64, len(cs))
	for i, c := range cs {
		points[i] = make([]float64, len(objs))
		for j, o := range objs {
			points[i][j] = c.cost(o)
		}
	}
	var front []*Candidate
	if fronts := pareto.Fronts(points); len(fronts) > 0 {
		for _, i := range fronts[0] {
			front = append(front, cs[i])
		}
	}
	order := append([]evaluator.Objective{by}, objs...)
	slices.SortFunc(front, func(a, b *Candidate) int {
		for _, o := range order {
			if c := cmp.Compare(a.cost(o), b.cost(o)); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Trial, b.Trial)
	})
	return front
}

// ParetoFront returns the compared networks that no other dominates in x and y, in increasing
// order of x. It returns an error if x or y was not measured for every compared network.
func (r *Report) ParetoFront(x, y evaluator.Objective) ([]*Candidate, error) {
	cs := r.compared()
	for _, o := range []evaluator.Objective{x, y} {
		if err := measuredFor(cs, o); err != nil {
			return nil, err
		}
	}
	return nondominated(cs, x, y, x), nil
}

func (r *Report) compareBaselines(compared []*Candidate) {
	var found []*Candidate
	for _, c := range r.top(compared, len(compared)) {
		if !c.Baseline() {
			found = append(found, c)
		}
	}
	beaten := func(b *Candidate, cost evaluator.Objective) []int64 {
		var by []int64
		for _, f := range found {
			if pareto.Dominates([]float64{f.cost(r.Accuracy), f.cost(cost)}, []float64{b.cost(r.Accuracy), b.cost(cost)}) {
				by = append(by, f.Trial)
			}
		}
		return by
	}
	for _, b := range compared {
		if b.Baseline() {
			r.Baselines = append(r.Baselines, BaselineComparison{Baseline: b.Trial,
				BeatenMACs: beaten(b, evaluator.MACs), BeatenParams: beaten(b, evaluator.Params)})
		}
	}
}

func (r *Report) progress(compared []*Candidate) {
	ref := &r.HypervolumeRef
	for _, c := range compared {
		ref.Error = max(ref.Error, min(1, 1.1*(1-c.Value(r.Accuracy))))
		ref.MACs = max(ref.MACs, 1.1*float64(c.MACs))
	}
	var points [][]float64
	var best float64
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Compared && !c.Baseline() {
			best = max(best, c.Value(r.Accuracy))
			points = append(points, []float64{(1 - c.Value(r.Accuracy)) / ref.Error, float64(c.MACs) / ref.MACs})
		}
		hv := 0.0
		if len(points) > 0 {
			hv = pareto.Hypervolume2D(points, [2]float64{1, 1})
		}
		r.Progress = append(r.Progress, Step{Evaluations: i + 1, Trial: c.Trial, Best: best, Hypervolume: hv})
	}
}

// ids returns the trials of cs.
func ids(cs []*Candidate) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Trial
	}
	return out
}

// candidates returns the candidates of trials.
func (r *Report) candidates(trials []int64) []*Candidate {
	out := make([]*Candidate, len(trials))
	for i, id := range trials {
		out[i] = r.Candidate(id)
	}
	return out
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
