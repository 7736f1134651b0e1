package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/mattn/go-sqlite3"
)

func testArch(i int) Arch {
	return Arch{
		Hash:   fmt.Sprintf("%064x", i+1),
		Name:   fmt.Sprintf("net-%d", i),
		Family: "resnet-basic",
		Params: 1000 + int64(i),
		MACs:   50000 + int64(i),
		JSON:   []byte(fmt.Sprintf(`{"name":"net-%d","stages":[{"blocks":%d}]}`, i, i+1)),
	}
}

// testResult is a successful evaluation whose figures depend on i, with a per-epoch curve.
func testResult(a Arch, seed uint64, i int) evaluator.Result {
	r := evaluator.Result{
		Status: evaluator.StatusOK, Params: a.Params, MACs: a.MACs,
		ValLoss: 1 / float64(i+2), ValAcc: float64(i%100) / 100, TestLoss: 0.5, TestAcc: 0.75, Tested: true,
		TrainSeconds: 12.5 + float64(i), ImagesPerSec: 800, LatencyB1Ms: 1.25, LatencyB128Ms: 40,
		PeakMemBytes: 1 << 20, Threads: 2, Seed: seed,
	}
	for e := range 3 {
		r.Epochs = append(r.Epochs, evaluator.Epoch{Epoch: e + 1, TrainLoss: 2 - float64(e)/2,
			TrainAcc: 0.3 + 0.1*float64(e), ValLoss: 2.1 - float64(e)/2, ValAcc: 0.25 + 0.1*float64(e),
			LR: 0.1 / float64(e+1), Seconds: 4})
	}
	return r
}

func newExperiment(t testing.TB, s Store, name string) int64 {
	t.Helper()
	id, err := s.CreateExperiment(context.Background(), Experiment{Name: name,
		Config: []byte("strategy: ga\npopulation: 8\n"), Seed: 7, Strategy: "ga", Machine: ThisMachine("test")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// addTrials stores archs and queues one trial per arch with dataset "synthetic" and recipe "r1".
func addTrials(t testing.TB, s Store, exp int64, generation int, archs ...Arch) []int64 {
	t.Helper()
	ctx := context.Background()
	var specs []TrialSpec
	for _, a := range archs {
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "synthetic", RecipeHash: "r1",
			Fidelity: 1, Seed: 7}, Generation: generation, Operator: "init"})
	}
	ids, err := s.AddTrials(ctx, exp, specs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func claim(t testing.TB, s Store, exp int64, owner string, lease time.Duration) Trial {
	t.Helper()
	tr, err := s.ClaimTrial(context.Background(), exp, owner, lease)
	if err != nil {
		t.Fatalf("%s claims a trial of experiment %d: %v", owner, exp, err)
	}
	return tr
}

func TestExperiments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		before := time.Now()
		want := Experiment{Name: "first", Config: []byte("a: 1\n# kept as given\n"), Seed: math.MaxUint64,
			Strategy: "nsga2", Machine: Machine{CPUModel: "cpu", Cores: 3, GoVersion: "go1.x", NASVersion: "v0"}}
		id, err := s.CreateExperiment(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateExperiment(ctx, want); !errors.Is(err, ErrExists) {
			t.Errorf("creating %q twice: err = %v, want ErrExists", want.Name, err)
		}
		second := newExperiment(t, s, "second")

		got, err := s.Experiment(ctx, "first")
		if err != nil {
			t.Fatal(err)
		}
		if got.Created.Before(before.Add(-time.Millisecond)) || got.Created.After(time.Now()) || !got.Finished.IsZero() {
			t.Errorf("created %v, finished %v; want a creation time of now and no finish", got.Created, got.Finished)
		}
		want.ID, want.Status, want.Created, want.Updated = id, ExperimentRunning, got.Created, got.Created
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Experiment(first) = %+v\nwant %+v", got, want)
		}
		if _, err := s.Experiment(ctx, "third"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Experiment(third) err = %v, want ErrNotFound", err)
		}

		if err := s.SetExperimentStatus(ctx, second, ExperimentDone); err != nil {
			t.Fatal(err)
		}
		if err := s.SetExperimentStatus(ctx, 99, ExperimentDone); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetExperimentStatus(99) err = %v, want ErrNotFound", err)
		}
		if err := s.SetExperimentStatus(ctx, second, "paused"); err == nil {
			t.Error("SetExperimentStatus(paused) succeeded, want an error for an unknown status")
		}
		all, err := s.Experiments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].Name != "first" || all[1].Name != "second" {
			t.Fatalf("Experiments = %+v, want first and second in that order", all)
		}
		if all[1].Status != ExperimentDone || all[1].Finished.IsZero() {
			t.Errorf("after SetExperimentStatus(done): status %q, finished %v", all[1].Status, all[1].Finished)
		}
		if err := s.SetExperimentStatus(ctx, second, ExperimentRunning); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Experiment(ctx, "second"); e.Status != ExperimentRunning || !e.Finished.IsZero() {
			t.Errorf("resumed experiment: status %q, finished %v; want running with no finish", e.Status, e.Finished)
		}
	})
}

func TestArchitectures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		a := testArch(1)
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		respelled := a
		respelled.Name, respelled.JSON = "other spelling", []byte(`{}`)
		if err := s.PutArch(ctx, respelled); err != nil {
			t.Fatal(err)
		}
		got, err := s.Arch(ctx, a.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Arch = %+v, want the first one stored, %+v", got, a)
		}
		if _, err := s.Arch(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Arch(nope) err = %v, want ErrNotFound", err)
		}
	})
}

func TestAddTrialsIsAllOrNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		_, err := s.AddTrials(ctx, exp, []TrialSpec{
			{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "r"}},
			{Key: EvalKey{ArchHash: "unstored", Dataset: "d", RecipeHash: "r"}},
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("AddTrials with an unstored architecture: err = %v, want ErrNotFound", err)
		}
		if _, err := s.AddTrials(ctx, 42, []TrialSpec{{Key: EvalKey{ArchHash: a.Hash}}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddTrials to experiment 42: err = %v, want ErrNotFound", err)
		}
		if ts, err := s.Trials(ctx, exp); err != nil || len(ts) != 0 {
			t.Errorf("after a failed AddTrials, Trials = %v, %v; want none", ts, err)
		}
	})
}

func TestTrialLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		later := addTrials(t, s, exp, 1, testArch(0))
		a := testArch(1)
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		spec := TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "cifar10", RecipeHash: "r9", Fidelity: 0.25,
			Seed: 1<<63 + 5}, Generation: 0, Parents: []string{"p1", "p2"}, Operator: "crossover", Phase: PhaseSearch}
		ids, err := s.AddTrials(ctx, exp, []TrialSpec{spec})
		if err != nil {
			t.Fatal(err)
		}

		before := time.Now()
		tr := claim(t, s, exp, "w1", time.Minute)
		if tr.ID != ids[0] {
			t.Fatalf("claimed trial %d, want %d: generation 0 comes before generation 1 (trial %d)", tr.ID, ids[0], later[0])
		}
		if !reflect.DeepEqual(tr.TrialSpec, spec) || tr.ExperimentID != exp || tr.Status != TrialRunning ||
			tr.LeaseOwner != "w1" || tr.Attempts != 1 || tr.ResultID != 0 {
			t.Errorf("claimed %+v, want spec %+v running under w1, first attempt", tr, spec)
		}
		if d := tr.LeaseUntil.Sub(before); d < time.Minute-time.Second || d > time.Minute+time.Second {
			t.Errorf("lease until %v, want a minute after %v", tr.LeaseUntil, before)
		}
		if err := s.Heartbeat(ctx, tr.ID, "w1", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Heartbeat(ctx, tr.ID, "w2", time.Hour); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("heartbeat by a worker that holds no lease: err = %v, want ErrLeaseLost", err)
		}
		ts, err := s.Trials(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		if d := ts[1].LeaseUntil.Sub(before); d < time.Hour-time.Second || len(ts) != 2 || ts[0].ID != later[0] {
			t.Errorf("Trials = %+v; want the later trial first and the claimed one leased for an hour", ts)
		}

		r := testResult(a, spec.Key.Seed, 3)
		r.Tested = false
		r.TestLoss, r.TestAcc = 0, 0
		r.ValLoss = math.NaN()
		r.Epochs[2].TrainLoss = math.Inf(1)
		r.Epochs[2].ValLoss = math.NaN()
		if err := s.FinishTrial(ctx, tr.ID, "w1", r); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishTrial(ctx, tr.ID, "w1", r); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("finishing a finished trial: err = %v, want ErrLeaseLost", err)
		}
		ev, err := s.Evaluation(ctx, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Experiment != "e" || ev.Cached || !reflect.DeepEqual(ev.Arch, a) || ev.Trial.Status != TrialDone ||
			ev.Trial.ResultID != ev.ResultID || ev.Trial.LeaseOwner != "" || ev.Trial.Finished.Before(tr.Started) {
			t.Errorf("Evaluation = %+v", ev)
		}
		if !sameResult(ev.Result, r) {
			t.Errorf("stored result\n%+v\nwant\n%+v", ev.Result, r)
		}
		if _, err := s.Evaluation(ctx, later[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("Evaluation of an unfinished trial: err = %v, want ErrNotFound", err)
		}
		got, ok, err := s.Lookup(ctx, spec.Key)
		if err != nil || !ok || !sameResult(got, r) {
			t.Errorf("Lookup = %+v, %v, %v; want the stored result", got, ok, err)
		}
	})
}

// sameResult is reflect.DeepEqual with NaN equal to NaN.
func sameResult(a, b evaluator.Result) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

func TestFinishTrialRefusesContradictions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		addTrials(t, s, exp, 0, a)
		tr := claim(t, s, exp, "w", time.Minute)
		for name, edit := range map[string]func(*evaluator.Result){
			"params":  func(r *evaluator.Result) { r.Params++ },
			"MACs":    func(r *evaluator.Result) { r.MACs-- },
			"seed":    func(r *evaluator.Result) { r.Seed = 8 },
			"status?": func(r *evaluator.Result) { r.Status = "fine" },
		} {
			r := testResult(a, 7, 0)
			edit(&r)
			if err := s.FinishTrial(ctx, tr.ID, "w", r); err == nil {
				t.Errorf("FinishTrial with a wrong %s succeeded", name)
			}
		}
		if ts, _ := s.Trials(ctx, exp); ts[0].Status != TrialRunning {
			t.Errorf("after refused results the trial is %q, want still running", ts[0].Status)
		}
		if err := s.FinishTrial(ctx, 1234, "w", testResult(a, 7, 0)); !errors.Is(err, ErrNotFound) {
			t.Errorf("FinishTrial(1234) err = %v, want ErrNotFound", err)
		}
	})
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		archs := []Arch{testArch(0), testArch(1)}
		ids := addTrials(t, s, exp, 0, archs...)
		const lease = 150 * time.Millisecond

		first := claim(t, s, exp, "dead", lease)
		second := claim(t, s, exp, "alive", time.Minute)
		if first.ID != ids[0] || second.ID != ids[1] {
			t.Fatalf("claimed %d and %d, want %v", first.ID, second.ID, ids)
		}
		if _, err := s.ClaimTrial(ctx, exp, "late", lease); !errors.Is(err, ErrNoTrial) {
			t.Fatalf("claim while both trials are leased: err = %v, want ErrNoTrial", err)
		}
		time.Sleep(lease + 50*time.Millisecond)
		again := claim(t, s, exp, "late", time.Minute)
		if again.ID != first.ID || again.Attempts != 2 || again.LeaseOwner != "late" {
			t.Errorf("after expiry claimed %+v, want trial %d on its second attempt under late", again, first.ID)
		}
		if err := s.Heartbeat(ctx, first.ID, "dead", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("heartbeat of the old owner: err = %v, want ErrLeaseLost", err)
		}
		if err := s.FinishTrial(ctx, first.ID, "dead", testResult(archs[0], 7, 0)); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("finish by the old owner: err = %v, want ErrLeaseLost", err)
		}
		if err := s.FinishTrial(ctx, first.ID, "late", testResult(archs[0], 7, 0)); err != nil {
			t.Fatal(err)
		}
		// A worker that outlives its lease keeps the trial while nobody else has claimed it.
		time.Sleep(lease + 50*time.Millisecond)
		if err := s.Heartbeat(ctx, second.ID, "alive", time.Minute); err != nil {
			t.Errorf("heartbeat after an unclaimed expiry: %v", err)
		}
	})
}

func TestCancelledTrialGoesBackToPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		addTrials(t, s, exp, 0, a)
		tr := claim(t, s, exp, "w", time.Minute)
		if err := s.FinishTrial(ctx, tr.ID, "w", evaluator.Result{Status: evaluator.StatusCancelled}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Lookup(ctx, tr.Key); ok {
			t.Error("a cancelled evaluation was cached")
		}
		again := claim(t, s, exp, "w2", time.Minute)
		if again.ID != tr.ID || again.Attempts != 2 {
			t.Errorf("after cancelling claimed %+v, want trial %d again", again, tr.ID)
		}
	})
}

func TestCacheIsSharedAcrossExperiments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		a := testArch(0)
		e1, e2 := newExperiment(t, s, "e1"), newExperiment(t, s, "e2")
		t1 := addTrials(t, s, e1, 0, a)[0]
		t2 := addTrials(t, s, e2, 0, a)[0]

		tr := claim(t, s, e1, "w1", time.Minute)
		// The same key is being trained for e1, so e2's trial waits instead of training it again.
		if _, err := s.ClaimTrial(ctx, e2, "w2", time.Minute); !errors.Is(err, ErrNoTrial) {
			t.Fatalf("claim in e2 while e1 trains the same key: err = %v, want ErrNoTrial", err)
		}
		r := testResult(a, 7, 5)
		if err := s.FinishTrial(ctx, tr.ID, "w1", r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimTrial(ctx, e2, "w2", time.Minute); !errors.Is(err, ErrNoTrial) {
			t.Fatalf("claim in e2 after the key was cached: err = %v, want ErrNoTrial", err)
		}
		ev1, err := s.Evaluation(ctx, t1)
		if err != nil {
			t.Fatal(err)
		}
		ev2, err := s.Evaluation(ctx, t2)
		if err != nil {
			t.Fatal(err)
		}
		if ev1.Cached || !ev2.Cached || ev2.ResultID != ev1.ResultID || ev2.Experiment != "e2" || ev2.Trial.Attempts != 0 {
			t.Errorf("e1 trial %+v\ne2 trial %+v\nwant e2 to reuse e1's result without running", ev1, ev2)
		}
		if !sameResult(ev2.Result, r) {
			t.Errorf("reused result %+v, want %+v", ev2.Result, r)
		}
	})
}

func TestRecordTrialAndAddTrialsOfACachedKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		a := testArch(0)
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		e1, e2 := newExperiment(t, s, "e1"), newExperiment(t, s, "e2")
		spec := TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "r", Fidelity: 3, Seed: 7},
			Generation: 2, Parents: []string{"x"}, Operator: "mutate", Phase: PhaseSearch}
		r := testResult(a, 7, 1)
		if _, err := s.RecordTrial(ctx, e1, spec, evaluator.Result{Status: evaluator.StatusCancelled}); err == nil {
			t.Error("RecordTrial of a cancelled evaluation succeeded")
		}
		bad := r
		bad.Params = 1
		if _, err := s.RecordTrial(ctx, e1, spec, bad); err == nil {
			t.Error("RecordTrial of a result with the wrong params succeeded")
		}
		if ts, _ := s.Trials(ctx, e1); len(ts) != 0 {
			t.Errorf("failed RecordTrials left trials %+v", ts)
		}
		id, err := s.RecordTrial(ctx, e1, spec, r)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.Evaluation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Cached || ev.Trial.Status != TrialDone || !reflect.DeepEqual(ev.Trial.TrialSpec, spec) || !sameResult(ev.Result, r) {
			t.Errorf("recorded %+v", ev)
		}
		ids, err := s.AddTrials(ctx, e2, []TrialSpec{spec})
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := s.Evaluation(ctx, ids[0]); err != nil || !ev.Cached || ev.ResultID != ev.Trial.ResultID || !sameResult(ev.Result, r) {
			t.Errorf("a trial added with a cached key: %+v, %v; want it done at once with the cached result", ev, err)
		}
	})
}

func TestSameKeyInOneExperimentRunsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		ids := addTrials(t, s, exp, 0, a, a, testArch(1))
		tr := claim(t, s, exp, "w1", time.Minute)
		other := claim(t, s, exp, "w2", time.Minute)
		if tr.ID != ids[0] || other.ID != ids[2] {
			t.Fatalf("claimed %d and %d, want %d and %d: trial %d has the key of a running trial",
				tr.ID, other.ID, ids[0], ids[2], ids[1])
		}
		if err := s.FinishTrial(ctx, tr.ID, "w1", testResult(a, 7, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimTrial(ctx, exp, "w1", time.Minute); !errors.Is(err, ErrNoTrial) {
			t.Fatalf("err = %v, want ErrNoTrial", err)
		}
		evs, err := s.Evaluations(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Trial.ID != ids[0] || evs[1].Trial.ID != ids[1] || !evs[1].Cached ||
			len(evs[1].Result.Epochs) != 3 {
			t.Errorf("Evaluations = %+v, want trial %d computed and %d reused with its curve", evs, ids[0], ids[1])
		}
	})
}

func TestFailuresAreStoredButOnlyDeterministicOnesCached(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			status evaluator.Status
			cached bool
		}{
			{evaluator.StatusDiverged, true},
			{evaluator.StatusOverBudget, true},
			{evaluator.StatusError, false},
		} {
			t.Run(string(tc.status), func(t *testing.T) {
				s, _ := openTemp(t, b)
				ctx := context.Background()
				exp := newExperiment(t, s, "e")
				a := testArch(0)
				addTrials(t, s, exp, 0, a, a)
				tr := claim(t, s, exp, "w", time.Minute)
				r := evaluator.Result{Status: tc.status, Message: "why: " + string(tc.status), ValLoss: math.NaN()}
				if err := s.FinishTrial(ctx, tr.ID, "w", r); err != nil {
					t.Fatal(err)
				}
				ev, err := s.Evaluation(ctx, tr.ID)
				if err != nil {
					t.Fatal(err)
				}
				r.Params, r.MACs, r.Seed = a.Params, a.MACs, 7
				if !sameResult(ev.Result, r) {
					t.Errorf("stored %+v, want %+v", ev.Result, r)
				}
				_, ok, err := s.Lookup(ctx, tr.Key)
				if err != nil || ok != tc.cached {
					t.Errorf("Lookup: found %v, %v; want found %v", ok, err, tc.cached)
				}
				_, err = s.ClaimTrial(ctx, exp, "w", time.Minute)
				if tc.cached != errors.Is(err, ErrNoTrial) {
					t.Errorf("claiming the second trial of the same key: err = %v; want it reused: %v", err, tc.cached)
				}
			})
		}
	})
}

func TestViews(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, path := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		archs := []Arch{a, a, testArch(1)}
		ids := addTrials(t, s, exp, 0, archs...)
		for range 2 {
			tr := claim(t, s, exp, "w", time.Minute)
			if err := s.FinishTrial(ctx, tr.ID, "w", testResult(archs[tr.ID-ids[0]], 7, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.ClaimTrial(ctx, exp, "w", time.Minute); !errors.Is(err, ErrNoTrial) {
			t.Fatal(err)
		}
		db := rawDB(t, b, path, "mode=ro")
		want := []string{"experiment", "trial_id", "arch_hash", "name", "family", "params", "macs",
			"val_acc", "test_acc", "train_seconds", "status"}
		for view, rows := range map[string]int{"v_results": 3, "v_curves": 9, "v_trials": 3, "v_experiments": 1} {
			r, err := db.Query("SELECT * FROM " + view)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := r.Columns()
			n := 0
			for r.Next() {
				n++
			}
			r.Close()
			if n != rows {
				t.Errorf("%s has %d rows, want %d", view, n, rows)
			}
			if view == "v_results" && !slices.Equal(cols[:len(want)], want) {
				t.Errorf("v_results columns %v, want them to begin with %v", cols, want)
			}
		}
		var cached, done int
		var best float64
		if err := db.QueryRow("SELECT count(*) FROM v_results WHERE cached").Scan(&cached); err != nil || cached != 1 {
			t.Errorf("v_results has %d cached rows (%v), want 1", cached, err)
		}
		if err := db.QueryRow("SELECT done, best_val_acc FROM v_experiments").Scan(&done, &best); err != nil ||
			done != 3 || best != 0.01 {
			t.Errorf("v_experiments: done %d, best %v (%v); want 3 and 0.01", done, best, err)
		}
	})
}

func TestReadOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w, path := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, w, "e")
		addTrials(t, w, exp, 0, testArch(0))

		r, err := OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.CreateExperiment(ctx, Experiment{Name: "x"}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("CreateExperiment on a read-only store: err = %v, want ErrReadOnly", err)
		}
		if _, err := r.ClaimTrial(ctx, exp, "w", time.Second); !errors.Is(err, ErrReadOnly) {
			t.Errorf("ClaimTrial on a read-only store: err = %v, want ErrReadOnly", err)
		}
		tr := claim(t, w, exp, "w", time.Minute)
		if err := w.FinishTrial(ctx, tr.ID, "w", testResult(testArch(0), 7, 0)); err != nil {
			t.Fatal(err)
		}
		evs, err := r.Evaluations(ctx, exp)
		if err != nil || len(evs) != 1 {
			t.Errorf("the reader sees %d evaluations (%v) after the writer committed one", len(evs), err)
		}
		if problems, err := r.Check(ctx); err != nil || len(problems) > 0 {
			t.Errorf("Check = %v, %v; want no problems", problems, err)
		}
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		path := b.Fresh(t)
		ctx := context.Background()
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		addTrials(t, s, exp, 0, a)
		tr := claim(t, s, exp, "w", time.Minute)
		if err := s.FinishTrial(ctx, tr.ID, "w", testResult(a, 7, 0)); err != nil {
			t.Fatal(err)
		}
		want, err := s.Evaluations(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Evaluations(ctx, exp)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after reopening: %+v, %v\nwant %+v", got, err, want)
		}
		var h header
		err = s.read(ctx, func(tx txn) error {
			var err error
			h, err = s.d.header(ctx, tx)
			return err
		})
		if err != nil || !h.nas || h.version != SchemaVersion || s.FoundVersion() != SchemaVersion {
			t.Errorf("header %+v (%v), found version %d; want a nas database of schema %d", h, err, s.FoundVersion(), SchemaVersion)
		}
	})
}

func TestSchemaVersionCountsMigrations(t *testing.T) {
	if SchemaVersion != len(migrations) {
		t.Errorf("SchemaVersion = %d, but there are %d migrations", SchemaVersion, len(migrations))
	}
}

func TestCPUModel(t *testing.T) {
	for _, tc := range []struct{ name, cpuinfo, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9V74 80-Core Processor\nflags\t: fpu\n" +
			"processor\t: 1\nmodel name\t: AMD EPYC 9V74 80-Core Processor\n", "AMD EPYC 9V74 80-Core Processor"},
		{"arm", "Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\nHardware\t: Qualcomm\n", "Qualcomm"},
		{"riscv", "processor\t: 0\nisa\t: rv64imafdc\nuarch\t: sifive,u74-mc\n", "sifive,u74-mc"},
		{"silent", "processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
		{"empty value", "model name\t:\nmodel name\t: real\n", "real"},
	} {
		if got := cpuModel([]byte(tc.cpuinfo)); got != tc.want {
			t.Errorf("%s: cpuModel = %q, want %q", tc.name, got, tc.want)
		}
	}
	if m := ThisMachine(""); m.CPUModel == "" || m.Cores < 1 || m.GoVersion == "" || m.NASVersion == "" {
		t.Errorf("ThisMachine = %+v, want every field filled", m)
	}
}

func TestRetryBusyWaitsOutLocks(t *testing.T) {
	calls := 0
	err := retry(context.Background(), isBusy, func() error {
		calls++
		switch calls {
		case 1:
			return sqlite3.Error{Code: sqlite3.ErrBusy}
		case 2:
			return fmt.Errorf("commit: %w", sqlite3.Error{Code: sqlite3.ErrLocked})
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("retryBusy = %v after %d calls, want nil after 3", err, calls)
	}
	other := errors.New("other")
	calls = 0
	if err := retry(context.Background(), isBusy, func() error { calls++; return other }); err != other || calls != 1 {
		t.Errorf("retryBusy with a non-busy error = %v after %d calls, want it returned at once", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = retry(ctx, isBusy, func() error { return sqlite3.Error{Code: sqlite3.ErrBusy} })
	if !errors.Is(err, context.DeadlineExceeded) || isBusy(err) {
		t.Errorf("retryBusy past its context = %v, want the context's error and no busy error", err)
	}
}

// TestReadmeQueries runs every SQL block of README.md on a database with successes, failures,
// a cached trial and a running one, so that the examples cannot drift from the schema.
func TestReadmeQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		readme, err := os.ReadFile("README.md")
		if err != nil {
			t.Fatal(err)
		}
		s, path := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		archs := map[string]Arch{}
		for i := range 4 {
			archs[testArch(i).Hash] = testArch(i)
			addTrials(t, s, exp, i/2, testArch(i))
		}
		for i := range 3 {
			tr := claim(t, s, exp, "w", time.Minute)
			r := testResult(archs[tr.Key.ArchHash], 7, i)
			if i == 2 {
				r = evaluator.Result{Status: evaluator.StatusDiverged, Message: "loss is NaN at step 40", ValLoss: math.NaN()}
			}
			if err := s.FinishTrial(ctx, tr.ID, "w", r); err != nil {
				t.Fatal(err)
			}
		}
		claim(t, s, exp, "w", time.Minute)
		trials, err := s.Trials(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		final := TrialSpec{Key: EvalKey{ArchHash: trials[0].Key.ArchHash, Dataset: "synthetic", RecipeHash: "full", Fidelity: 30, Seed: 7},
			Operator: "final", Phase: PhaseFinal, Source: trials[0].ID}
		if _, err := s.RecordTrial(ctx, exp, final, testResult(archs[final.Key.ArchHash], 7, 9)); err != nil {
			t.Fatal(err)
		}

		db := rawDB(t, b, path, "mode=ro")
		blocks := strings.Split(string(readme), "```sql\n")[1:]
		if len(blocks) != 6 {
			t.Fatalf("README.md has %d sql blocks, want 6", len(blocks))
		}
		for _, b := range blocks {
			query, _, _ := strings.Cut(b, "```")
			rows, err := db.Query(query)
			if err != nil {
				t.Errorf("%s\n%v", query, err)
				continue
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil || n == 0 {
				t.Errorf("%s\nreturned %d rows (%v), want some", query, n, err)
			}
			rows.Close()
		}
	})
}

// FuzzCPUModel checks that any /proc/cpuinfo text gives a trimmed one-line model taken from it.
func FuzzCPUModel(f *testing.F) {
	f.Add([]byte("processor\t: 0\nmodel name\t: AMD EPYC 9V74 80-Core Processor\n"))
	f.Add([]byte("Hardware\t: BCM2835\n"))
	f.Add([]byte(":::\n\n model name :\t x \r\n"))
	f.Fuzz(func(t *testing.T, cpuinfo []byte) {
		m := cpuModel(cpuinfo)
		if m != strings.TrimSpace(m) || strings.ContainsAny(m, "\n") || !strings.Contains(string(cpuinfo), m) {
			t.Errorf("cpuModel(%q) = %q", cpuinfo, m)
		}
	})
}

func TestCheckFindsDanglingReferences(t *testing.T) {
	s, path := openTemp(t, sqliteBackend)
	// Foreign keys are enforced per connection; a connection without them can break the links.
	db := rawDB(t, sqliteBackend, path, "mode=rw")
	if _, err := db.Exec(`INSERT INTO trials (experiment_id, arch_hash, dataset, recipe_hash, fidelity,
		seed, generation, parents, operator, status, created_at)
		VALUES (99, 'gone', 'd', 'r', 1, 1, 0, '[]', 'init', 'pending', '2025-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
	problems, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"trials row 1 refers to a missing experiments row", "trials row 1 refers to a missing architectures row"}
	slices.Sort(problems)
	slices.Sort(want)
	if !slices.Equal(problems, want) {
		t.Errorf("Check = %q, want %q", problems, want)
	}
}

// TestWorkersNeverRunAKeyTwice has workers claim and finish trials of two experiments that share
// a few evaluation keys, all at once: no key may be trained by two workers at the same time,
// each key is trained once, and every other trial takes its result from the cache.
func TestWorkersNeverRunAKeyTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		const keys, copies, workers = 6, 4, 8
		var archs []Arch
		for i := range keys {
			archs = append(archs, testArch(i))
		}
		var exps []int64
		for _, name := range []string{"e1", "e2"} {
			exp := newExperiment(t, s, name)
			exps = append(exps, exp)
			// Trials of one key side by side, so that a claim that passes over a locked trial
			// finds the same key in the next one.
			for _, a := range archs {
				for range copies / 2 {
					addTrials(t, s, exp, 0, a)
				}
			}
		}
		var mu sync.Mutex
		running := map[string]string{} // key (arch hash) → owner
		trained := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner, exp := fmt.Sprintf("w%d", w), exps[w%2]
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
					tr, err := s.ClaimTrial(ctx, exp, owner, time.Minute)
					if errors.Is(err, ErrNoTrial) {
						// Other trials of the experiment may wait for a key that is training.
						ts, err := s.Trials(ctx, exp)
						if err != nil {
							errs <- err
							return
						}
						if !slices.ContainsFunc(ts, func(tr Trial) bool { return tr.Status != TrialDone }) {
							return
						}
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if other, ok := running[tr.Key.ArchHash]; ok {
						errs <- fmt.Errorf("%s claimed trial %d while %s trains its key", owner, tr.ID, other)
					}
					running[tr.Key.ArchHash] = owner
					trained[tr.Key.ArchHash]++
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					mu.Lock()
					delete(running, tr.Key.ArchHash)
					mu.Unlock()
					if err := s.FinishTrial(ctx, tr.ID, owner, testResult(childArch(tr.Key.ArchHash), 7, 0)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, a := range archs {
			if trained[a.Hash] != 1 {
				t.Errorf("key of %s was trained %d times, want once", a.Name, trained[a.Hash])
			}
		}
		for _, exp := range exps {
			ts, err := s.Trials(ctx, exp)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range ts {
				if tr.Status != TrialDone {
					t.Errorf("trial %d is %s, want done", tr.ID, tr.Status)
				}
			}
		}
	})
}

func TestCheckFindsBrokenInvariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, dsn := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		ids := addTrials(t, s, exp, 0, testArch(0), testArch(1), testArch(2))
		if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("Check of a sound database = %q, %v", problems, err)
		}
		rawExec(t, b, dsn, "UPDATE trials SET status = 'done' WHERE id = ?", ids[0])
		rawExec(t, b, dsn, "UPDATE trials SET status = 'running' WHERE id = ?", ids[2])
		problems, err := s.Check(ctx)
		want := []string{fmt.Sprintf("trial %d is done but has no result", ids[0]),
			fmt.Sprintf("trial %d is running without a lease", ids[2])}
		if err != nil || !slices.Equal(problems, want) {
			t.Errorf("Check = %q, %v; want %q", problems, err, want)
		}
	})
}

// TestFinishWaitsForAConcurrentClaim has another transaction take over a trial while its old
// owner finishes it: the finish waits for that transaction and then finds the lease lost,
// rather than storing a result for a trial that someone else holds.
func TestFinishWaitsForAConcurrentClaim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, dsn := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		a := testArch(0)
		addTrials(t, s, exp, 0, a)
		tr := claim(t, s, exp, "old", time.Minute)

		thief, err := rawDB(t, b, dsn, "mode=rw").Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer thief.Rollback()
		if _, err := thief.Exec(b.dialect().rebind("UPDATE trials SET lease_owner = 'thief' WHERE id = ?"), tr.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.FinishTrial(ctx, tr.ID, "old", testResult(a, 7, 0)) }()
		select {
		case err := <-done:
			t.Fatalf("FinishTrial returned %v while another transaction held the trial", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := thief.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrLeaseLost) {
			t.Errorf("FinishTrial after the trial was taken over: err = %v, want ErrLeaseLost", err)
		}
		if evs, err := s.Evaluations(ctx, exp); err != nil || len(evs) != 0 {
			t.Errorf("Evaluations = %v, %v; want no result stored", evs, err)
		}
	})
}
