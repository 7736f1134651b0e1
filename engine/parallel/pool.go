// Package parallel is the one worker pool of the engine: kernels split their work into chunks whose
// boundaries depend only on the problem's shape, and the pool runs those chunks on a fixed number
// of threads. Because no chunk boundary depends on the thread count, results are bitwise identical
// on any number of threads as long as each chunk writes its own output.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs indexed chunks of work on a fixed set of worker goroutines. A Pool is used by one
// caller at a time; For must not be called from inside a chunk.
//
// A training step is a few hundred jobs of a few hundred microseconds each, with short serial
// stretches between them, so waking a parked goroutine for every job would leave a thread idle
// for a good part of each job. Workers therefore spin for about spinFor after a job, yielding the
// processor as they do, before they park; the caller waits for them the same way.
type Pool struct {
	threads int
	workers []*worker
	// gen is incremented by For to publish a job; running counts the workers still in it.
	gen     atomic.Uint64
	running atomic.Int32
	caller  parker
	closed  atomic.Bool

	// The job in progress, written by For before publishing it.
	n    int
	fn   func(worker, i int)
	next atomic.Int64

	closeOnce sync.Once
}

// spinFor is about how long a worker waits for the next job, or the caller for the workers, before
// parking.
const spinFor = 50 * time.Microsecond

// parker parks a goroutine until another one unparks it. A goroutine announces itself with
// prepare, checks its condition once more, then parks with wait or, if the condition came true
// meanwhile, withdraws with cancel; unpark wakes it only when it announced itself.
type parker struct {
	parked atomic.Bool
	wake   chan struct{}
}

func newParker() parker { return parker{wake: make(chan struct{}, 1)} }

func (k *parker) prepare() { k.parked.Store(true) }

func (k *parker) wait() { <-k.wake }

// cancel withdraws the announcement; if an unpark already took it, it consumes that wake-up.
func (k *parker) cancel() {
	if !k.parked.CompareAndSwap(true, false) {
		<-k.wake
	}
}

func (k *parker) unpark() {
	if k.parked.CompareAndSwap(true, false) {
		k.wake <- struct{}{}
	}
}

// await returns once cond holds: it spins for about spinFor, yielding the processor, then parks
// on k until whoever makes cond true unparks it.
func await(k *parker, cond func() bool) {
	start := time.Now()
	for i := 0; !cond(); i++ {
		if i%64 == 63 {
			if time.Since(start) > spinFor {
				k.prepare()
				if cond() {
					k.cancel()
					return
				}
				k.wait()
				continue
			}
			runtime.Gosched()
		}
	}
}

type worker struct {
	id int
	parker
}

// NewPool returns a pool with the given number of threads; threads <= 0 means GOMAXPROCS.
// The calling goroutine counts as one of the threads, so threads-1 goroutines are started.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads, caller: newParker()}
	for id := 1; id < threads; id++ {
		w := &worker{id: id, parker: newParker()}
		p.workers = append(p.workers, w)
		go p.work(w)
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
	p.running.Store(int32(len(p.workers)))
	p.gen.Add(1)
	for _, w := range p.workers {
		w.unpark()
	}
	p.run(0)
	await(&p.caller, p.idle)
	p.fn = nil
}

// idle reports whether every worker has finished the current job.
func (p *Pool) idle() bool { return p.running.Load() == 0 }

func (p *Pool) run(worker int) {
	for {
		i := int(p.next.Add(1) - 1)
		if i >= p.n {
			return
		}
		p.fn(worker, i)
	}
}

// work is a worker's loop: every job For publishes is run by every worker, so a worker that has
// seen generation g waits for g+1.
func (p *Pool) work(w *worker) {
	var seen uint64
	published := func() bool { return p.gen.Load() != seen }
	for {
		await(&w.parker, published)
		if p.closed.Load() {
			return
		}
		seen++
		p.run(w.id)
		if p.running.Add(-1) == 0 {
			p.caller.unpark()
		}
	}
}

// Close stops the pool's goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.gen.Add(1)
		for _, w := range p.workers {
			w.unpark()
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
