package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A final trial keeps its phase and the search trial it came from, and v_finals puts its test
// accuracy beside the search's validation accuracy, while v_experiments counts it apart.
func TestFinalTrialLinksItsSearchTrial(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		a := testArch(3)
		if err := s.PutArch(ctx, a); err != nil {
			t.Fatal(err)
		}
		exp := newExperiment(t, s, "e")
		searchSpec := TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "quick", Fidelity: 1, Seed: 7}, Operator: "init"}
		sr := testResult(a, 7, 40) // val_acc 0.40
		src, err := s.RecordTrial(ctx, exp, searchSpec, sr)
		if err != nil {
			t.Fatal(err)
		}
		finalSpec := TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "standard", Fidelity: 30, Seed: 2},
			Operator: "final", Generation: -1, Phase: PhaseFinal, Source: src}
		fr := testResult(a, 2, 60)
		fr.TestAcc = 0.875
		id, err := s.RecordTrial(ctx, exp, finalSpec, fr)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.Evaluation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Trial.Phase != PhaseFinal || ev.Trial.Source != src {
			t.Errorf("final trial reads back as phase %q from trial %d, want final from %d", ev.Trial.Phase, ev.Trial.Source, src)
		}
		var source int64
		var testAcc, searchVal, searchFid float64
		if err := s.reader.QueryRow(s.d.rebind(`SELECT source_trial, test_acc, search_val_acc, search_fidelity FROM v_finals WHERE trial_id = ?`), id).
			Scan(&source, &testAcc, &searchVal, &searchFid); err != nil {
			t.Fatal(err)
		}
		if source != src || testAcc != 0.875 || searchVal != 0.40 || searchFid != 1 {
			t.Errorf("v_finals: source %d test %v search val %v at %v, want %d 0.875 0.40 at 1", source, testAcc, searchVal, searchFid, src)
		}
		var trials, finals int
		var best, bestTest float64
		if err := s.reader.QueryRow(`SELECT trials, finals, best_val_acc, best_test_acc FROM v_experiments`).Scan(&trials, &finals, &best, &bestTest); err != nil {
			t.Fatal(err)
		}
		if trials != 1 || finals != 1 || best != 0.40 || bestTest != 0.875 {
			t.Errorf("v_experiments: %d search trials, %d finals, best val %v, best test %v; want 1, 1, 0.40, 0.875", trials, finals, best, bestTest)
		}
		if _, err := s.RecordTrial(ctx, exp, TrialSpec{Key: finalSpec.Key, Phase: "other"}, fr); err == nil {
			t.Error("a trial of an unknown phase was stored")
		}
	})
}

func TestCheckpointRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openTemp(t, b)
		ctx := context.Background()
		key := EvalKey{ArchHash: "h", Dataset: "d", RecipeHash: "r", Fidelity: 30, Seed: 1<<63 + 1}
		if _, err := s.Checkpoint(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Checkpoint of an empty store: %v, want ErrNotFound", err)
		}
		first := Checkpoint{Key: key, Epoch: 1, Path: "a-e1.safetensors", SHA256: "aa", Bytes: 10}
		if old, err := s.SaveCheckpoint(ctx, first); err != nil || old != (Checkpoint{}) {
			t.Fatalf("first SaveCheckpoint: replaced %+v, %v", old, err)
		}
		second := Checkpoint{Key: key, Epoch: 2, Path: "a-e2.safetensors", SHA256: "bb", Bytes: 11}
		old, err := s.SaveCheckpoint(ctx, second)
		if err != nil || old.Path != first.Path || old.Epoch != 1 {
			t.Fatalf("second SaveCheckpoint replaced %+v (%v), want the first", old, err)
		}
		got, err := s.Checkpoint(ctx, key)
		if err != nil || got.Epoch != 2 || got.Path != second.Path || got.SHA256 != "bb" || got.Bytes != 11 || got.Created.IsZero() {
			t.Fatalf("Checkpoint = %+v, %v; want the second", got, err)
		}
		other := key
		other.Seed = 1
		if _, err := s.Checkpoint(ctx, other); !errors.Is(err, ErrNotFound) {
			t.Errorf("another seed's checkpoint: %v, want ErrNotFound", err)
		}
		if err := s.DeleteCheckpoint(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Checkpoint(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("after DeleteCheckpoint: %v, want ErrNotFound", err)
		}
	})
}

// A database of schema 1 is migrated with its trials kept, each of phase search.
func TestMigrationKeepsTheTrialsOfSchema1(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		path := b.Fresh(t)
		a := testArch(0)
		schema1(t, b, path)
		for _, q := range []string{
			`INSERT INTO experiments (name, config, seed, strategy, status, created_at, updated_at, cpu_model, cores, go_version, nas_version)
			VALUES ('old', '', 1, 'ga', 'done', '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z', 'cpu', 2, 'go', 'v')`,
			fmt.Sprintf(`INSERT INTO architectures (hash, name, family, params, macs, arch) VALUES ('%s', 'n', 'f', 1, 1, '{}')`, a.Hash),
			fmt.Sprintf(`INSERT INTO trials (experiment_id, arch_hash, dataset, recipe_hash, fidelity, seed, generation, parents, operator, status, created_at)
			VALUES (1, '%s', 'd', 'r', 1, 1, 0, '[]', 'init', 'pending', '2025-01-01T00:00:00.000000Z')`, a.Hash),
		} {
			rawExec(t, b, path, q)
		}
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		trials, err := s.Trials(context.Background(), 1)
		if err != nil || len(trials) != 1 || trials[0].Phase != PhaseSearch || trials[0].Source != 0 {
			t.Fatalf("after the migration: %+v, %v; want the trial, of phase search", trials, err)
		}
		var n int
		if err := s.reader.QueryRow("SELECT count(*) FROM v_trials WHERE phase = 'search'").Scan(&n); err != nil || n != 1 {
			t.Errorf("v_trials shows %d search trials (%v), want 1", n, err)
		}
	})
}

// schema1 makes the empty database at dsn of backend b a nas database of schema version 1, as the
// first release wrote it.
func schema1(t *testing.T, b backend, dsn string) {
	t.Helper()
	db := rawDB(t, b, dsn, "mode=rwc")
	qs := []string{migrations[0], fmt.Sprintf("PRAGMA user_version = 1; PRAGMA application_id = %d", applicationID)}
	if b.driver == "pgx" {
		qs = []string{postgresSetup, toPostgres(migrations[:1])[0], "INSERT INTO nas_meta (schema_version) VALUES (1)"}
	}
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}
