// Package parallel is the one worker pool of the engine: kernels split their work into chunks whose
// boundaries depend only on the problem's shape, and the pool runs those chunks on a fixed number
// of threads. Because no chunk boundary depends on the thread count, results are bitwise identical
// on any number of threads as long as each chunk writes its own output.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool runs indexed chunks of work on a fixed set of worker goroutines. A Pool is used by one
// caller at a time; For must not be called from inside a chunk.
type Pool struct {
	threads int
	wake    []chan struct{}
	done    sync.WaitGroup

	// The job in progress, written by For before waking the workers.
	n    int
	fn   func(worker, i int)
	next atomic.Int64

	closeOnce sync.Once
}

// NewPool returns a pool with the given number of threads; threads <= 0 means GOMAXPROCS.
// The calling goroutine counts as one of the threads, so threads-1 goroutines are started.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads}
	for w := 1; w < threads; w++ {
		ch := make(chan struct{}, 1)
		p.wake = append(p.wake, ch)
		go p.worker(w, ch)
	}
	return p
}

// Threads reports the number of threads that run chunks, the caller included.
func (p *Pool) Threads() int { return p.threads }

// For calls fn(worker, i) for every i in [0, n) and returns when all calls have returned.
// worker is in [0, Threads()) and identifies the thread running the chunk, so that fn can use
// per-worker scratch space; which worker runs which chunk is not deterministic, so fn's results
// must not depend on it. For allocates nothing.
func (p *Pool) For(n int, fn func(worker, i int)) {
	if n <= 0 {
		return
	}
	if p.threads == 1 || n == 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	p.n, p.fn = n, fn
	p.next.Store(0)
	helpers := min(len(p.wake), n-1)
	p.done.Add(helpers)
	for w := 0; w < helpers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.run(0)
	p.done.Wait()
	p.fn = nil
}

func (p *Pool) run(worker int) {
	for {
		i := int(p.next.Add(1) - 1)
		if i >= p.n {
			return
		}
		p.fn(worker, i)
	}
}

func (p *Pool) worker(id int, wake chan struct{}) {
	for range wake {
		p.run(id)
		p.done.Done()
	}
}

// Close stops the pool's goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		for _, ch := range p.wake {
			close(ch)
		}
	})
}

// Chunks returns how many chunks of at most size elements cover n elements.
func Chunks(n, size int) int { return (n + size - 1) / size }

// Span returns the bounds [lo, hi) of chunk i when n elements are cut into chunks of size.
func Span(i, n, size int) (lo, hi int) {
	lo = i * size
	return lo, min(lo+size, n)
}
