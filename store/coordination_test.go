package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOneCoordinatorHoldsAnExperiment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		until := time.Now().Add(time.Minute)
		id, err := s.CreateExperiment(ctx, Experiment{Name: "e", Config: []byte("x"), Strategy: "ga",
			Machine: ThisMachine("test"), Coordinator: Hold{Owner: "a:1", Until: until}})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Experiment(ctx, "e")
		if err != nil || e.Coordinator.Owner != "a:1" || e.Coordinator.Since.IsZero() || !e.Coordinator.Until.Round(time.Millisecond).Equal(until.Round(time.Millisecond)) {
			t.Fatalf("created experiment holds %+v (%v), want a:1 until %v", e.Coordinator, err, until)
		}

		err = s.HoldExperiment(ctx, id, "b:2", time.Minute)
		var held *HeldError
		if !errors.As(err, &held) || held.Hold.Owner != "a:1" || !strings.Contains(err.Error(), `"e" is held by the coordinator a:1 since`) {
			t.Fatalf("a second coordinator: err = %v, want a HeldError naming a:1", err)
		}
		if err := s.HoldExperiment(ctx, id, "a:1", 100*time.Millisecond); err != nil {
			t.Fatalf("the holder renews its hold: %v", err)
		}
		if e2, _ := s.Experiment(ctx, "e"); !e2.Coordinator.Since.Equal(e.Coordinator.Since) {
			t.Errorf("renewing moved the hold's start from %v to %v", e.Coordinator.Since, e2.Coordinator.Since)
		}
		time.Sleep(150 * time.Millisecond)
		if err := s.HoldExperiment(ctx, id, "b:2", time.Minute); err != nil {
			t.Fatalf("taking over an expired hold: %v", err)
		}
		if err := s.HoldExperiment(ctx, id, "a:1", time.Minute); !errors.As(err, &held) || held.Hold.Owner != "b:2" {
			t.Fatalf("the old holder after the takeover: err = %v, want a HeldError naming b:2", err)
		}
		if err := s.ReleaseExperiment(ctx, id, "a:1"); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Experiment(ctx, "e"); e.Coordinator.Owner != "b:2" {
			t.Errorf("a release by a non-holder changed the hold to %+v", e.Coordinator)
		}
		if err := s.ReleaseExperiment(ctx, id, "b:2"); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Experiment(ctx, "e"); e.Coordinator != (Hold{}) {
			t.Errorf("after release the hold is %+v", e.Coordinator)
		}
		if err := s.HoldExperiment(ctx, id, "c:3", time.Minute); err != nil {
			t.Errorf("holding a released experiment: %v", err)
		}
		if err := s.HoldExperiment(ctx, 999, "c:3", time.Minute); !errors.Is(err, ErrNotFound) {
			t.Errorf("holding a missing experiment: err = %v, want ErrNotFound", err)
		}
	})
}

func TestRecipes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		r := Recipe{Hash: "r1", JSON: []byte(`{"epochs":1}`)}
		if err := s.PutRecipe(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRecipe(ctx, Recipe{Hash: "r1", JSON: []byte(`{"epochs":2}`)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Recipe(ctx, "r1")
		if err != nil || string(got.JSON) != string(r.JSON) || got.Hash != "r1" {
			t.Errorf("Recipe = %+v, %v; want the first recipe stored under r1", got, err)
		}
		if _, err := s.Recipe(ctx, "r2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Recipe of a missing hash: err = %v, want ErrNotFound", err)
		}
	})
}

func TestWorkersAndWhereResultsRan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, path := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		archs := []Arch{testArch(0), testArch(1), testArch(2)}
		ids := addTrials(t, s, exp, 0, archs...)
		w := Worker{Name: "host:42", Host: "host", PID: 42, Machine: ThisMachine("test"), Slots: 2, Threads: 1, Started: time.Now()}
		if err := s.PutWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
		first := claim(t, s, exp, w.Name, time.Minute)
		claim(t, s, exp, w.Name, time.Minute)
		claim(t, s, exp, "unregistered", time.Minute)
		if err := s.FinishTrial(ctx, first.ID, w.Name, testResult(archs[0], 7, 0)); err != nil {
			t.Fatal(err)
		}
		w.Slots = 3
		if err := s.PutWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
		ws, err := s.Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].Slots != 3 || ws[0].Results != 1 || ws[0].TrainSeconds != 12.5 ||
			!slices.Equal(ws[0].Holding, ids[1:2]) || ws[0].Machine != w.Machine || ws[0].PID != 42 || ws[0].Seen.Before(ws[0].Started) {
			t.Errorf("Workers = %+v, want host:42 with 3 slots, holding trial %d, one result", ws, ids[1])
		}
		ev, err := s.Evaluation(ctx, first.ID)
		if err != nil || ev.Worker != w.Name {
			t.Errorf("the result's worker is %q (%v), want %s", ev.Worker, err, w.Name)
		}
		var worker string
		if err := rawDB(t, b, path, "mode=ro").QueryRow(fmt.Sprintf("SELECT worker FROM v_results WHERE trial_id = %d", first.ID)).Scan(&worker); err != nil || worker != w.Name {
			t.Errorf("v_results.worker = %q (%v), want %s", worker, err, w.Name)
		}
		var holding, results int
		if err := rawDB(t, b, path, "mode=ro").QueryRow("SELECT holding, results FROM v_workers").Scan(&holding, &results); err != nil || holding != 1 || results != 1 {
			t.Errorf("v_workers: holding %d, results %d (%v); want 1 and 1", holding, results, err)
		}
	})
}

func TestTrialsSayWhetherToMeasureLatency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		exp := newExperiment(t, s, "e")
		for i, latency := range []bool{true, false} {
			a := testArch(i)
			if err := s.PutArch(ctx, a); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddTrials(ctx, exp, []TrialSpec{{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "r", Fidelity: 1},
				Operator: "init", Latency: latency}}); err != nil {
				t.Fatal(err)
			}
		}
		ts, err := s.Trials(ctx, exp)
		if err != nil || len(ts) != 2 || !ts[0].Latency || ts[1].Latency {
			t.Errorf("Trials = %+v, %v; want the first measuring latency, the second not", ts, err)
		}
	})
}

func TestMigrationFromTheFirstSchemaKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.db")
	db := rawDB(t, sqliteBackend, path, "mode=rwc")
	if _, err := db.Exec(migrations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = 1; PRAGMA application_id = %d;
		INSERT INTO experiments (name, config, seed, strategy, status, created_at, updated_at, cpu_model, cores, go_version, nas_version)
		VALUES ('old', 'x', 1, 'ga', 'done', '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z', 'cpu', 2, 'go', 'v');
		INSERT INTO architectures VALUES ('h', 'n', 'f', 1, 2, '{}');
		INSERT INTO trials (experiment_id, arch_hash, dataset, recipe_hash, fidelity, seed, generation, parents, operator, status, created_at)
		VALUES (1, 'h', 'd', 'r', 1, 1, 0, '[]', 'init', 'pending', '2025-01-01T00:00:00.000000Z');`, applicationID)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	e, err := s.Experiment(ctx, "old")
	if err != nil || e.Coordinator != (Hold{}) {
		t.Fatalf("migrated experiment %+v, %v; want it unheld", e, err)
	}
	ts, err := s.Trials(ctx, e.ID)
	if err != nil || len(ts) != 1 || !ts[0].Latency {
		t.Errorf("migrated trials %+v, %v; want one that measures latency", ts, err)
	}
	if ws, err := s.Workers(ctx); err != nil || len(ws) != 0 {
		t.Errorf("migrated workers %+v, %v; want none", ws, err)
	}
}
