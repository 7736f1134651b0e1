package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Seeds of the two random streams a Loader draws from, so that the shuffle of an epoch and the
// augmentation of an image never share a stream.
const (
	shuffleStream = 0x9e3779b97f4a7c15
	augmentStream = 0xbf58476d1ce4e5b9
)

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	Batch   int     // images per batch; the last batch of an epoch holds the rest
	Shuffle bool    // visit the images in an order drawn from (Seed, epoch) instead of in order
	Seed    uint64  // seeds the shuffle and the augmentation
	Norm    Norm    // applied to every pixel; compute it on the training split with Set.Norm
	Augment Augment // applied to every image; leave zero for validation and test
}

// Batch is one batch of images ready for the engine. Its slices belong to the Loader and stay
// valid only until the iteration asks for the next batch.
type Batch struct {
	N     int       // number of images, at most LoaderOptions.Batch
	X     []float32 // N×H×W×C, normalised and augmented
	Y     []int32   // N labels
	Index []int     // the position in the Set of each image
	Epoch int       // the epoch this batch belongs to
	Step  int       // the batch's number within its epoch, from 0

	// last marks the end of the epoch's stream: the final batch, or the empty batch the worker
	// sends when the consumer abandoned the epoch.
	last bool
}

// Loader produces the batches of a Set epoch by epoch. A background goroutine prepares the next
// batch while the caller trains on the current one; the two batches are reused, so iterating
// allocates nothing per batch. The content of every batch depends only on the options and the
// epoch number: image i of epoch e is augmented with a random stream seeded by (Seed, e, i).
// A Loader is used by one goroutine at a time.
type Loader struct {
	set   *Set
	opt   LoaderOptions
	steps int
	lut   []float32

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	start     chan int    // epochs requested by the consumer
	free      chan *Batch // batches the worker may fill
	ready     chan *Batch // batches filled, in order
	abort     atomic.Bool // the consumer stopped in the middle of an epoch
	exited    chan struct{}
	err       error

	// Used by the worker only.
	perm []int
	pcg  rand.PCG
	rng  *rand.Rand
}

// errClosed is Err's error for an epoch asked of a closed Loader.
var errClosed = errors.New("data: the loader is closed")

// NewLoader returns a Loader over s; Close stops it. It panics if opt.Batch < 1, if opt.Norm
// does not have one mean and one deviation per channel, or if opt.Augment is out of range.
func NewLoader(s *Set, opt LoaderOptions) *Loader {
	if opt.Batch < 1 {
		panic(fmt.Sprintf("data: batch size %d, want at least 1", opt.Batch))
	}
	opt.Augment.check()
	l := &Loader{
		set:    s,
		opt:    opt,
		steps:  (s.Len() + opt.Batch - 1) / opt.Batch,
		lut:    opt.Norm.lut(s.C),
		start:  make(chan int),
		free:   make(chan *Batch, 2),
		ready:  make(chan *Batch, 2),
		exited: make(chan struct{}),
		done:   make(chan struct{}),
		perm:   make([]int, s.Len()),
	}
	l.rng = rand.New(&l.pcg)
	for range 2 {
		l.free <- &Batch{
			X:     make([]float32, opt.Batch*s.ImageSize()),
			Y:     make([]int32, opt.Batch),
			Index: make([]int, opt.Batch),
		}
	}
	go l.run()
	return l
}

// Steps returns the number of batches in an epoch: Len()/Batch rounded up.
func (l *Loader) Steps() int { return l.steps }

// Epoch returns the batches of the given epoch, in order. Breaking out of the loop early is
// allowed; the batches already being prepared are then discarded. The sequence also ends early
// when ctx is done or the Loader is closed; Err then says why.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		l.err = nil
		if l.steps == 0 {
			return
		}
		if l.err = l.stopped(ctx); l.err != nil {
			return
		}
		select {
		case l.start <- epoch:
		case <-ctx.Done():
			l.err = ctx.Err()
			return
		case <-l.done:
			l.err = errClosed
			return
		}
		for {
			b, err := l.receive(ctx)
			if err != nil {
				l.err = err
				l.abandon(b)
				return
			}
			if !yield(b) {
				l.abandon(b)
				return
			}
			last := b.last // read before the worker may refill b
			l.free <- b
			if last {
				return
			}
		}
	}
}

// stopped returns why no epoch can run now: ctx's error, errClosed, or nil.
func (l *Loader) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-l.done:
		return errClosed
	default:
		return nil
	}
}

// receive waits for the next batch. When ctx ends or the Loader closes first it returns why; a
// batch that is ready when ctx is already done is returned with ctx's error, not handed out, so
// that iteration stops at once.
func (l *Loader) receive(ctx context.Context) (*Batch, error) {
	select {
	case b := <-l.ready:
		return b, ctx.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, errClosed
	}
}

// abandon tells the worker to end the epoch, then takes back every batch it still sends for it,
// so that the next epoch starts clean; b, if not nil, is a batch of the epoch already received.
func (l *Loader) abandon(b *Batch) {
	l.abort.Store(true)
	defer l.abort.Store(false)
	for b == nil || !b.last {
		if b != nil {
			l.free <- b
		}
		select {
		case b = <-l.ready:
		case <-l.done:
			return
		}
	}
	l.free <- b
}

// Err returns why the last epoch ended early: its context's error, or an error saying that the
// Loader is closed; nil if it did not.
func (l *Loader) Err() error { return l.err }

// Close stops the background goroutine and waits for it to exit. Later epochs yield nothing.
func (l *Loader) Close() {
	l.closeOnce.Do(func() { close(l.done) })
	<-l.exited
}

// run is the background goroutine: for each requested epoch it fills the free batches in order.
func (l *Loader) run() {
	defer close(l.exited)
	for {
		var epoch int
		select {
		case epoch = <-l.start:
		case <-l.done:
			return
		}
		l.shuffle(epoch)
		for step := range l.steps {
			var b *Batch
			select {
			case b = <-l.free:
			case <-l.done:
				return
			}
			b.Epoch, b.Step, b.last = epoch, step, step == l.steps-1
			if l.abort.Load() {
				b.N, b.last = 0, true
				l.ready <- b // never blocks: ready can hold both batches
				break
			}
			l.fill(b, l.perm[step*l.opt.Batch:min((step+1)*l.opt.Batch, len(l.perm))])
			l.ready <- b
		}
	}
}

// shuffle sets perm to the order of the given epoch, which depends only on (Seed, epoch).
func (l *Loader) shuffle(epoch int) {
	for i := range l.perm {
		l.perm[i] = i
	}
	if l.opt.Shuffle {
		l.pcg.Seed(l.opt.Seed^shuffleStream, uint64(epoch))
		l.rng.Shuffle(len(l.perm), func(i, j int) { l.perm[i], l.perm[j] = l.perm[j], l.perm[i] })
	}
}

// fill writes the images at idx into b.
func (l *Loader) fill(b *Batch, idx []int) {
	s := l.set
	size := s.ImageSize()
	b.N = len(idx)
	b.X, b.Y, b.Index = b.X[:b.N*size], b.Y[:b.N], b.Index[:b.N]
	for j, i := range idx {
		// The stream of image i in this epoch: independent of batch size and shuffle.
		l.pcg.Seed(l.opt.Seed^augmentStream, uint64(b.Epoch)<<32^uint64(i))
		writeImage(b.X[j*size:(j+1)*size], s.Image(i), s.H, s.W, s.C, l.lut, l.opt.Augment, l.rng)
		b.Y[j] = s.Labels[i]
		b.Index[j] = i
	}
}
