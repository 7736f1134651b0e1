package search

import (
	"context"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// goroutineQueue is a Queue whose workers are goroutines that take the trials of a level in a
// random order and finish them after random delays, as workers on other machines would.
type goroutineQueue struct {
	problem func(key string, fidelity float64) Outcome
	workers int
	rng     *rand.Rand
	cache   *memoryCache
	levels  int
	queued  int // trials handed over, duplicates included
}

func (q *goroutineQueue) Lookup(ctx context.Context, key string, fidelity float64) (Outcome, bool, error) {
	return q.cache.Lookup(ctx, key, fidelity)
}

func (q *goroutineQueue) EvaluateLevel(_ context.Context, trials []Trial[string]) ([]Outcome, error) {
	q.levels++
	q.queued += len(trials)
	var jobs []int
	for i, t := range trials {
		if t.Source == Trained {
			jobs = append(jobs, i)
		}
	}
	outs := make([]Outcome, len(jobs))
	order := q.rng.Perm(len(jobs))
	delays := make([]time.Duration, len(jobs))
	for i := range delays {
		delays[i] = time.Duration(q.rng.Intn(300)) * time.Microsecond
	}
	queue := make(chan int)
	var wg sync.WaitGroup
	for range q.workers {
		wg.Go(func() {
			for k := range queue {
				time.Sleep(delays[k])
				t := trials[jobs[k]]
				outs[k] = q.problem(t.Key, t.Fidelity)
			}
		})
	}
	for _, k := range order {
		queue <- k
	}
	close(queue)
	wg.Wait()
	for k, j := range jobs {
		q.cache.m[evalKey{trials[j].Key, trials[j].Fidelity}] = outs[k]
	}
	return outs, nil
}

func TestQueuedSearchHasTheTrialsOfAnInProcessOne(t *testing.T) {
	p := twoObjectives{f: newNK(14, 2, 5), failEvery: 9}
	for _, strategy := range StrategyNames {
		t.Run(strategy, func(t *testing.T) {
			s, err := NewStrategy(strategy)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config[string]{Strategy: s, Seed: 5, Objectives: 2, Budget: 120, Fidelities: []float64{1, 3}}
			want, err := Run(context.Background(), bits{n: 14, maxOnes: -1}, newRecorder(p.outcome), nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for workers := 1; workers <= 5; workers += 2 {
				q := &goroutineQueue{problem: p.outcome, workers: workers, rng: rand.New(rand.NewSource(int64(workers))), cache: newMemoryCache()}
				got, err := RunQueued(context.Background(), bits{n: 14, maxOnes: -1}, Queue[string](q), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffTrials(got.Trials, want.Trials); d != "" {
					t.Fatalf("%d workers: %s", workers, d)
				}
				if q.queued != len(want.Trials) || q.levels != 2*want.Stats.Batches {
					t.Errorf("%d workers: %d trials queued in %d levels; want every one of the %d trials, in the %d levels of %d batches",
						workers, q.queued, q.levels, len(want.Trials), 2*want.Stats.Batches, want.Stats.Batches)
				}
			}
		})
	}
}
