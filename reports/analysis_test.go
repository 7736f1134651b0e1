package reports_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/reports/reporttest"
	"github.com/gonas/nas/search/pareto"
	"github.com/gonas/nas/store"
)

// dominates reports whether a is at least as good as b in every objective of objs and better in
// one, computed here from the definition rather than by package pareto.
func dominates(a, b *reports.Candidate, objs ...evaluator.Objective) bool {
	better := false
	for _, o := range objs {
		va, vb := a.Value(o), b.Value(o)
		if o.Maximised() {
			va, vb = -va, -vb
		}
		if va > vb {
			return false
		}
		better = better || va < vb
	}
	return better
}

// compared returns the report's compared candidates.
func compared(r *reports.Report) []*reports.Candidate {
	var cs []*reports.Candidate
	for i := range r.Candidates {
		if r.Candidates[i].Compared {
			cs = append(cs, &r.Candidates[i])
		}
	}
	return cs
}

// checkFront fails unless front is exactly the set of members of cs that none of cs dominates in
// objs.
func checkFront(t *testing.T, cs []*reports.Candidate, front []int64, objs ...evaluator.Objective) {
	t.Helper()
	var want []int64
	for _, c := range cs {
		if !slices.ContainsFunc(cs, func(d *reports.Candidate) bool { return dominates(d, c, objs...) }) {
			want = append(want, c.Trial)
		}
	}
	got := slices.Clone(front)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("front in %v is %v, want %v", objs, got, want)
	}
}

func TestFrontsAreTheNondominatedNetworks(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	cs := compared(r)
	if want := []evaluator.Objective{evaluator.ValAcc, evaluator.MACs, evaluator.Params, evaluator.Latency}; !slices.Equal(r.Objectives, want) {
		t.Fatalf("objectives %v, want %v", r.Objectives, want)
	}
	checkFront(t, cs, r.Front, r.Objectives...)
	if len(r.Fronts) != 6 {
		t.Errorf("%d fronts, want one per pair of 4 objectives: 6", len(r.Fronts))
	}
	for _, f := range r.Fronts {
		checkFront(t, cs, f.Trials, f.X, f.Y)
		xs := make([]float64, len(f.Trials))
		for i, id := range f.Trials {
			xs[i] = r.Candidate(id).Value(f.X)
		}
		if !slices.IsSorted(xs) {
			t.Errorf("front %s/%s is not in increasing order of %s: %v", f.Y, f.X, f.X, xs)
		}
	}
	front, err := r.ParetoFront(evaluator.Params, evaluator.ValAcc)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(front))
	for i, c := range front {
		ids[i] = c.Trial
	}
	checkFront(t, cs, ids, evaluator.Params, evaluator.ValAcc)
}

func TestComparedAreTheSuccessfulFirstEvaluationsAtTheTopFidelity(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	if r.Fidelity != reporttest.Fidelity {
		t.Errorf("fidelity %g, want %d", r.Fidelity, reporttest.Fidelity)
	}
	seen := map[string]bool{}
	for _, c := range r.Candidates {
		want := c.Status == evaluator.StatusOK && c.Fidelity == reporttest.Fidelity && !seen[c.Hash]
		if c.Compared != want {
			t.Errorf("trial %d (%s, %s, fidelity %g, duplicate %v): compared %v, want %v",
				c.Trial, c.Label(), c.Status, c.Fidelity, c.Duplicate, c.Compared, want)
		}
		if c.Duplicate != seen[c.Hash] {
			t.Errorf("trial %d: duplicate %v, want %v", c.Trial, c.Duplicate, seen[c.Hash])
		}
		seen[c.Hash] = true
	}
	s := r.Summary
	if s.Trials != 17 || s.Finished != 17 || s.Searched != 12 || s.Cached != 2 || s.Evaluated != 15 || s.Duplicates != 1 ||
		s.LowFidelity != 1 || s.Compared != 13 || s.Baselines != 5 {
		t.Errorf("summary %+v", s)
	}
	if s.Failures[evaluator.StatusDiverged] != 1 || s.Failures[evaluator.StatusOverBudget] != 1 {
		t.Errorf("failures %v, want one diverged and one over budget", s.Failures)
	}
	if r.Experiment.Budget != (reports.Budget{Evaluations: 20, Time: 7200e9}) {
		t.Errorf("budget %+v, want the fixture config's 20 evaluations and 2h", r.Experiment.Budget)
	}
	if s.WallSeconds != 17*60 {
		t.Errorf("wall time %gs, want 17 minutes (from creation to the 17th trial's end)", s.WallSeconds)
	}
}

func TestTopIsTheMostAccurateBestFirst(t *testing.T) {
	r := fixtureReport(t, reports.Options{Top: 4})
	if len(r.Top) != 4 {
		t.Fatalf("top %v, want 4 trials", r.Top)
	}
	cs := compared(r)
	slices.SortStableFunc(cs, func(a, b *reports.Candidate) int { return cmp.Compare(b.ValAcc, a.ValAcc) })
	for i, id := range r.Top {
		if got, want := r.Candidate(id).ValAcc, cs[i].ValAcc; got != want {
			t.Errorf("top %d has accuracy %g, want %g", i+1, got, want)
		}
	}
	if best := r.Candidate(r.Summary.Best); best == nil || best.Baseline() {
		t.Fatalf("best found %d is not a found network", r.Summary.Best)
	}
	for _, c := range cs {
		if !c.Baseline() && c.ValAcc > r.Candidate(r.Summary.Best).ValAcc {
			t.Errorf("trial %d is more accurate than the best found, %d", c.Trial, r.Summary.Best)
		}
	}
}

func TestBaselinesListExactlyTheFoundNetworksThatDominateThem(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	baselines := 0
	for _, b := range r.Baselines {
		base := r.Candidate(b.Baseline)
		if !base.Baseline() {
			t.Fatalf("trial %d is compared as a baseline, but its operator is %q", base.Trial, base.Operator)
		}
		baselines++
		for _, cost := range []struct {
			o      evaluator.Objective
			listed []int64
		}{{evaluator.MACs, b.BeatenMACs}, {evaluator.Params, b.BeatenParams}} {
			var want []int64
			for _, c := range compared(r) {
				if !c.Baseline() && dominates(c, base, evaluator.ValAcc, cost.o) {
					want = append(want, c.Trial)
				}
			}
			got := slices.Sorted(slices.Values(cost.listed))
			if !slices.Equal(got, want) {
				t.Errorf("%s dominated in %s by %v, want %v", base.Label(), cost.o, got, want)
			}
		}
	}
	if baselines != r.Summary.Baselines {
		t.Errorf("%d baselines compared, summary says %d", baselines, r.Summary.Baselines)
	}
	// The fixture is made so that both kinds of domination occur.
	var macs, params bool
	for _, b := range r.Baselines {
		macs, params = macs || len(b.BeatenMACs) > 0, params || len(b.BeatenParams) > 0
	}
	if !macs || !params {
		t.Errorf("no baseline is dominated in MACs (%v) or in parameters (%v)", macs, params)
	}
}

func TestProgressRisesToTheFoundNetworksFinalFront(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	if len(r.Progress) != len(r.Candidates) {
		t.Fatalf("%d steps for %d finished trials", len(r.Progress), len(r.Candidates))
	}
	var last reports.Step
	for i, s := range r.Progress {
		if s.Evaluations != i+1 || s.Trial != r.Candidates[i].Trial {
			t.Errorf("step %d is %+v", i, s)
		}
		if s.Best < last.Best || s.Hypervolume < last.Hypervolume {
			t.Errorf("step %d went down: %+v after %+v", i, s, last)
		}
		last = s
	}
	var points [][]float64
	best := 0.0
	for _, c := range compared(r) {
		if !c.Baseline() {
			best = max(best, c.ValAcc)
			points = append(points, []float64{(1 - c.ValAcc) / r.HypervolumeRef.Error, float64(c.MACs) / r.HypervolumeRef.MACs})
		}
	}
	if last.Best != best {
		t.Errorf("final best %g, want %g", last.Best, best)
	}
	if want := pareto.Hypervolume2D(points, [2]float64{1, 1}); math.Abs(last.Hypervolume-want) > 1e-12 || want <= 0 {
		t.Errorf("final hypervolume %g, want %g", last.Hypervolume, want)
	}
	for i := 0; i < len(r.Candidates) && r.Candidates[i].Baseline(); i++ {
		if r.Progress[i].Best != 0 || r.Progress[i].Hypervolume != 0 {
			t.Errorf("baseline trial %d moved the search's progress: %+v", r.Candidates[i].Trial, r.Progress[i])
		}
	}
}

func TestAccuracyIsTestAccuracyOnlyWhenEveryComparedNetworkWasTested(t *testing.T) {
	d := fixtureData(t, "")
	if r, err := reports.New(d, reports.Options{}); err != nil || r.Accuracy != evaluator.ValAcc {
		t.Fatalf("untested fixture: accuracy %v, %v; want val_acc", r.Accuracy, err)
	}
	if _, err := reports.New(d, reports.Options{Accuracy: evaluator.TestAcc}); err == nil ||
		!strings.Contains(err.Error(), "test_acc was not measured") {
		t.Errorf("test_acc of an untested experiment gave %v, want an error", err)
	}
	for i := range d.Evaluations {
		res := &d.Evaluations[i].Result
		res.Tested, res.TestAcc = true, 1-res.ValAcc // reversed, so that the ranking changes
	}
	r, err := reports.New(d, reports.Options{})
	if err != nil || r.Accuracy != evaluator.TestAcc {
		t.Fatalf("tested fixture: accuracy %v, %v; want test_acc", r.Accuracy, err)
	}
	least := slices.MinFunc(compared(r), func(a, b *reports.Candidate) int { return cmp.Compare(a.ValAcc, b.ValAcc) })
	if top := r.Candidate(r.Top[0]); top != least {
		t.Errorf("most test-accurate is %s, want the least val-accurate, %s", top.Label(), least.Label())
	}
	if r, err = reports.New(d, reports.Options{Accuracy: evaluator.ValAcc}); err != nil || r.Accuracy != evaluator.ValAcc {
		t.Errorf("asked for val_acc, got %v, %v", r.Accuracy, err)
	}
}

func TestFetchReadsTheLatestOrTheNamedExperiment(t *testing.T) {
	st, err := store.OpenReadOnly(fixtureDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for name, want := range map[string]string{"": reporttest.Experiment, reporttest.Warmup: reporttest.Warmup} {
		d, err := reports.Fetch(ctx, st, name)
		if err != nil || d.Experiment.Name != want {
			t.Errorf("Fetch(%q) read %v, %v; want %s", name, d, err, want)
		}
	}
	_, err = reports.Fetch(ctx, st, "nope")
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "warmup, fixture") {
		t.Errorf("unknown experiment: %v, want ErrNotFound listing the experiments", err)
	}
	empty, err := store.Open(t.TempDir() + "/empty.db")
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := reports.Fetch(ctx, empty, ""); !errors.Is(err, reports.ErrNoExperiment) {
		t.Errorf("empty database: %v, want ErrNoExperiment", err)
	}
}

// TestEveryOutputRendersWithoutData covers an experiment that has just started and one whose
// every trial failed: nothing to compare, and still every output renders.
func TestEveryOutputRendersWithoutData(t *testing.T) {
	started := fixtureData(t, "")
	started.Trials, started.Evaluations = nil, nil
	failed := fixtureData(t, "")
	for i := range failed.Evaluations {
		failed.Evaluations[i].Result.Status = evaluator.StatusError
	}
	for name, d := range map[string]*reports.Data{"started": started, "failed": failed} {
		t.Run(name, func(t *testing.T) {
			r, err := reports.New(d, reports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Summary.Compared != 0 || len(r.Top) != 0 || len(r.Front) != 0 {
				t.Errorf("compared %d, top %v, front %v; want nothing", r.Summary.Compared, r.Top, r.Front)
			}
			var b bytes.Buffer
			for _, write := range []func(*bytes.Buffer) error{
				func(b *bytes.Buffer) error { return r.WriteText(b) },
				func(b *bytes.Buffer) error { return r.WriteMarkdown(b) },
				func(b *bytes.Buffer) error { return r.WriteCSV(b) },
				func(b *bytes.Buffer) error { return r.WriteJSON(b) },
				func(b *bytes.Buffer) error { return r.WriteHTML(b) },
			} {
				if err := write(&b); err != nil {
					t.Error(err)
				}
			}
			for _, f := range r.Figures() {
				if err := f.WriteSVG(&b); err != nil {
					t.Errorf("%s: %v", f.Name, err)
				}
			}
		})
	}
}

func TestJSONHoldsTheReport(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back reports.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Experiment.Name != r.Experiment.Name || back.Accuracy != r.Accuracy ||
		!slices.Equal(back.Top, r.Top) || !slices.Equal(back.Front, r.Front) || len(back.Candidates) != len(r.Candidates) ||
		len(back.Fronts) != len(r.Fronts) || len(back.Progress) != len(r.Progress) || back.Summary.Best != r.Summary.Best {
		t.Errorf("JSON read back differs:\n%s", b.Bytes())
	}
	for i, c := range back.Candidates {
		if c.Trial != r.Candidates[i].Trial || c.ValAcc != r.Candidates[i].ValAcc || len(c.Curve) != len(r.Candidates[i].Curve) {
			t.Errorf("candidate %d read back as %+v", i, c)
		}
	}
}

func TestFiguresWritePNG(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	f := r.Figures()[0]
	var b bytes.Buffer
	if err := f.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	// 144 dpi: two pixels per point.
	if got := img.Bounds().Size(); got.X != int(2*f.Width) || got.Y != int(2*f.Height) {
		t.Errorf("PNG of %vx%v points is %v pixels, want twice as many", f.Width, f.Height, got)
	}
}

func TestBubbleChartNamesTheBaselinesAndTheirFamilies(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	var b bytes.Buffer
	if err := r.Figures()[0].WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{">resnet20_mnist<", ">nin_small_mnist<", ">densenet_bc_k12_mnist<", ">googlenet_small_mnist<",
		">vgg_small_mnist<", ">DenseNet<", ">Inception<", ">Inception-ResNet<", ">mlpconv (NIN)<", ">plain (VGG)<",
		">residual basic<", ">pre-act. residual<", ">baseline (outlined)<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("bubble chart lacks %s", want)
		}
	}
	if strings.Contains(svg, ">g0-resnext<") {
		t.Error("bubble chart names a found network; only baselines are named")
	}
}
