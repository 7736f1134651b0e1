package store

import (
	"context"
	"testing"
	"time"
)

// finishedDB returns a store holding n finished trials with 20-epoch curves.
func finishedDB(b *testing.B, n int) (*DB, string, int64) {
	s, path := openTemp(b, sqliteBackend)
	ctx := context.Background()
	exp := newExperiment(b, s, "e")
	a := testArch(0)
	if err := s.PutArch(ctx, a); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		r := testResult(a, uint64(i), i)
		r.Epochs = append(r.Epochs, r.Epochs...)
		for len(r.Epochs) < 20 {
			r.Epochs = append(r.Epochs, r.Epochs[0])
		}
		for j := range r.Epochs {
			r.Epochs[j].Epoch = j + 1
		}
		spec := TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "r", Seed: uint64(i)}}
		if _, err := s.RecordTrial(ctx, exp, spec, r); err != nil {
			b.Fatal(err)
		}
	}
	return s, path, exp
}

// BenchmarkClaimHeartbeatFinish measures the store's share of one trial: claim, one heartbeat,
// and a result with a 3-epoch curve, each a transaction.
func BenchmarkClaimHeartbeatFinish(b *testing.B) {
	s, _ := openTemp(b, sqliteBackend)
	ctx := context.Background()
	exp := newExperiment(b, s, "e")
	a := testArch(0)
	if err := s.PutArch(ctx, a); err != nil {
		b.Fatal(err)
	}
	specs := make([]TrialSpec, b.N)
	for i := range specs {
		specs[i] = TrialSpec{Key: EvalKey{ArchHash: a.Hash, Dataset: "d", RecipeHash: "r", Seed: uint64(i)}}
	}
	if _, err := s.AddTrials(ctx, exp, specs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		tr, err := s.ClaimTrial(ctx, exp, "w", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Heartbeat(ctx, tr.ID, "w", time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.FinishTrial(ctx, tr.ID, "w", testResult(a, tr.Key.Seed, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluations1000 reads an experiment of 1000 results with 20-epoch curves, as a report does.
func BenchmarkEvaluations1000(b *testing.B) {
	s, _, exp := finishedDB(b, 1000)
	b.ResetTimer()
	for range b.N {
		if evs, err := s.Evaluations(context.Background(), exp); err != nil || len(evs) != 1000 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkOpen1000 opens a database of 1000 results: the read-only inspection with quick_check,
// then the writer and readers.
func BenchmarkOpen1000(b *testing.B) {
	s, path, _ := finishedDB(b, 1000)
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
