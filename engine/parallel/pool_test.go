package parallel

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestForCallsEveryChunkOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 7} {
		p := NewPool(threads)
		for _, n := range []int{0, 1, 3, 100} {
			counts := make([]int32, n)
			var badWorker atomic.Bool
			p.For(n, func(w, i int) {
				if w < 0 || w >= threads {
					badWorker.Store(true)
				}
				atomic.AddInt32(&counts[i], 1)
			})
			for i, c := range counts {
				if c != 1 {
					t.Fatalf("threads=%d n=%d: chunk %d ran %d times", threads, n, i, c)
				}
			}
			if badWorker.Load() {
				t.Fatalf("threads=%d: worker id out of range", threads)
			}
		}
		p.Close()
	}
}

func TestSpanCoversRange(t *testing.T) {
	n, size := 103, 10
	next := 0
	for i := 0; i < Chunks(n, size); i++ {
		lo, hi := Span(i, n, size)
		if lo != next || hi <= lo {
			t.Fatalf("chunk %d = [%d,%d), want start %d", i, lo, hi, next)
		}
		next = hi
	}
	if next != n {
		t.Fatalf("chunks end at %d, want %d", next, n)
	}
}

func BenchmarkForOverhead(b *testing.B) {
	p := NewPool(2)
	defer p.Close()
	sink := make([]int, 64)
	fn := func(w, i int) { sink[i]++ }
	b.ReportAllocs()
	for b.Loop() {
		p.For(64, fn)
	}
}

// TestForWakesParkedWorkers runs jobs with pauses longer than the workers spin, so that every job
// finds them parked, and checks that each chunk still runs once and that the workers take part.
func TestForWakesParkedWorkers(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for range 20 {
		time.Sleep(2 * spinFor)
		var counts [64]atomic.Int32
		p.For(len(counts), func(_, i int) {
			counts[i].Add(1)
			time.Sleep(10 * time.Microsecond)
		})
		for i := range counts {
			if c := counts[i].Load(); c != 1 {
				t.Fatalf("chunk %d ran %d times", i, c)
			}
		}
	}
}
