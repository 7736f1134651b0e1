package evaluator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

// Options are the parts of an evaluation that are not the recipe.
type Options struct {
	// Seed fixes initialisation, the validation split, data order and augmentation.
	Seed uint64
	// Test evaluates the test split at the end, as Recipe.Test does.
	Test bool
	// Pool runs the engine; nil means a pool of Recipe.Threads threads (all cores if 0).
	Pool *parallel.Pool
	// Progress, when set, is called after every training step and every validation pass.
	Progress func(Progress)
	// SkipLatency leaves out the latency measurements (a search's low-fidelity rungs).
	SkipLatency bool
	// Checkpoints, when set, keeps the training's state at the end of every epoch; a training
	// whose Checkpoints hold a checkpoint of it goes on from there, and ends with the bits of a
	// training never interrupted.
	Checkpoints Checkpointer
	// Split, when it Fits the data set, recipe and seed, is the training data prepared for them,
	// which Evaluate then does not prepare again; otherwise Evaluate prepares its own.
	Split *Split
	// Trained, when set, is called with the trained model and the input normalisation it was
	// trained with, after the measurements of a training that ended ok (to save it).
	Trained func(m *Model, norm data.Norm)
}

// Progress is a training's state after a step.
type Progress struct {
	Epoch, Epochs int
	Step, Steps   int // within the epoch, from 1
	Loss, Acc     float64
	ImagesPerSec  float64
	Elapsed       time.Duration
	// Done marks the call made after an epoch's validation; EpochResult holds that epoch.
	Done        bool
	EpochResult Epoch
}

// Evaluate trains arch on ds under r and measures it. Failures are data: a network that does not
// expand, a loss that becomes NaN, a time limit or a cancelled ctx end in a Result with that
// Status and a Message; the error return is only for what makes the evaluation meaningless
// (a data set that does not fit the architecture).
func Evaluate(ctx context.Context, arch *space.Arch, ds *data.Dataset, r Recipe, opt Options) (Result, error) {
	res := Result{Seed: opt.Seed, Status: StatusOK}
	if err := r.Validate(); err != nil {
		return res, err
	}
	phase := time.Now()
	// lap returns the seconds since the last lap, or since phase was set.
	lap := func() float64 {
		now := time.Now()
		d := now.Sub(phase).Seconds()
		phase = now
		return d
	}
	net, err := arch.Expand()
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		return res, nil
	}
	counts := net.Counts()
	res.Params, res.MACs = counts.Params, counts.MACs
	in := net.Layers[0].Shape
	if in.C != ds.Train.C || in.H != ds.Train.H || in.W != ds.Train.W {
		return res, fmt.Errorf("architecture %q takes %v images, data set %s has %d×%d×%d", arch.Name, in, ds.Name, ds.Train.C, ds.Train.H, ds.Train.W)
	}
	if classes := net.Layers[net.Outputs[0]].Shape.C; classes != ds.Train.Classes {
		return res, fmt.Errorf("architecture %q has %d classes, data set %s has %d", arch.Name, classes, ds.Name, ds.Train.Classes)
	}
	if err := CheckMemory(counts, r.Batch); err != nil {
		var me *MemoryError
		if !errors.As(err, &me) {
			return res, err
		}
		// Stored as a failure, so that a resumed search does not propose it into the same crash.
		res.Status, res.Message = StatusOverBudget, err.Error()
		return res, nil
	}

	pool := opt.Pool
	if pool == nil {
		pool = parallel.NewPool(r.Threads)
		defer pool.Close()
	}
	res.Threads = pool.Threads()
	model, err := Build(net, r.Batch, pool, opt.Seed, r.LabelSmoothing)
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		return res, nil
	}
	res.PeakMemBytes = model.Bytes(r.Optimizer)
	res.Phases.Build = lap()

	split := opt.Split
	if !split.Fits(ds, r, opt.Seed) {
		split = NewSplit(ds, r, opt.Seed)
	}
	trainSet, valSet, norm := split.Train, split.Val, split.Norm
	loader := data.NewLoader(trainSet, data.LoaderOptions{Batch: r.Batch, Shuffle: true, Seed: opt.Seed, Norm: norm, Augment: r.Augment()})
	defer loader.Close()

	steps := loader.Steps()
	sched := newSchedule(r, steps)
	optim := newOptimizer(model.Graph, r)
	res.Phases.Data = lap()

	start := time.Now()
	var images int
	step, first := 0, 1
	var before time.Duration // the training time of the runs a checkpoint continues
	var id Checkpoint
	if opt.Checkpoints != nil {
		id = Checkpoint{RecipeHash: r.Hash(), Dataset: ds.Name, Seed: opt.Seed}
		if id.ArchHash, err = arch.Hash(); err != nil {
			return res, err
		}
		if c := model.resume(opt.Checkpoints, id, r.Epochs, optim); c != nil {
			first, step, images = c.Epoch+1, c.Step, c.Images
			before = time.Duration(c.Seconds * float64(time.Second))
			res.Epochs = slices.Clone(c.History)
		}
	}
	elapsed := func() time.Duration { return before + time.Since(start) }
	for epoch := first; epoch <= r.Epochs && res.Status == StatusOK; epoch++ {
		t0 := time.Now()
		var lossSum float64
		var correct, seen int
		for b := range loader.Epoch(ctx, epoch-1) {
			lr := sched.LR(step)
			t := time.Now()
			loss := model.trainStep(b, uint64(step), optim, lr)
			if step == 0 {
				res.Phases.FirstStep = time.Since(t).Seconds()
			} else {
				res.Phases.Steps += time.Since(t).Seconds()
			}
			step++
			if diverged(loss, ds.Train.Classes) {
				res.Status, res.Message = StatusDiverged, fmt.Sprintf("loss is %.4g at epoch %d step %d (lr %.4g)", loss, epoch, b.Step+1, lr)
				break
			}
			lossSum += loss * float64(b.N)
			correct += model.Loss.Correct()
			seen += b.N
			images += b.N
			elapsed := elapsed()
			if opt.Progress != nil {
				opt.Progress(Progress{Epoch: epoch, Epochs: r.Epochs, Step: b.Step + 1, Steps: steps,
					Loss: lossSum / float64(seen), Acc: float64(correct) / float64(seen),
					ImagesPerSec: float64(images) / elapsed.Seconds(), Elapsed: elapsed})
			}
			if r.TimeLimit > 0 && elapsed > time.Duration(r.TimeLimit) {
				res.Status, res.Message = StatusOverBudget, fmt.Sprintf("time limit %v reached at epoch %d step %d", time.Duration(r.TimeLimit), epoch, b.Step+1)
				break
			}
		}
		if err := loader.Err(); err != nil && res.Status == StatusOK {
			res.Status, res.Message = StatusCancelled, err.Error()
		}
		if seen == 0 {
			break
		}
		ep := Epoch{Epoch: epoch, TrainLoss: lossSum / float64(seen), TrainAcc: float64(correct) / float64(seen), LR: sched.LR(step - 1)}
		if valSet.Len() > 0 && res.Status == StatusOK {
			t := time.Now()
			ep.ValLoss, ep.ValAcc, err = model.evaluate(ctx, valSet, norm)
			res.Phases.Validation += time.Since(t).Seconds()
			switch {
			case err != nil:
				res.Status, res.Message = StatusCancelled, err.Error()
			case diverged(ep.ValLoss, ds.Train.Classes):
				// JSON and the store hold no NaN: the epoch keeps no validation figures.
				res.Status, res.Message = StatusDiverged, fmt.Sprintf("validation loss is %.4g after epoch %d", ep.ValLoss, epoch)
				ep.ValLoss, ep.ValAcc = 0, 0
			}
		}
		ep.Seconds = time.Since(t0).Seconds()
		res.Epochs = append(res.Epochs, ep)
		if opt.Checkpoints != nil && res.Status == StatusOK {
			c := id
			c.Epoch, c.Step, c.Images, c.Seconds, c.History = epoch, step, images, elapsed().Seconds(), res.Epochs
			if err := opt.Checkpoints.Save(model.snapshot(c, optim)); err != nil {
				return res, fmt.Errorf("saving the checkpoint of epoch %d: %w", epoch, err)
			}
		}
		if opt.Progress != nil {
			opt.Progress(Progress{Epoch: epoch, Epochs: r.Epochs, Step: steps, Steps: steps, Done: true,
				Loss: ep.TrainLoss, Acc: ep.TrainAcc, Elapsed: elapsed(), EpochResult: ep})
		}
	}
	res.TrainSeconds = elapsed().Seconds()
	res.Phases.Wait = lap() - res.Phases.FirstStep - res.Phases.Steps - res.Phases.Validation
	if res.TrainSeconds > 0 {
		res.ImagesPerSec = float64(images) / res.TrainSeconds
	}
	if n := len(res.Epochs); n > 0 {
		res.ValLoss, res.ValAcc = res.Epochs[n-1].ValLoss, res.Epochs[n-1].ValAcc
	}
	if res.Status != StatusOK {
		return res, nil
	}
	if (opt.Test || r.Test) && ds.Test != nil && ds.Test.Len() > 0 {
		res.TestLoss, res.TestAcc, err = model.evaluate(ctx, ds.Test, norm)
		res.Phases.Test = lap()
		if err != nil {
			res.Status, res.Message = StatusCancelled, err.Error()
			return res, nil
		}
		if diverged(res.TestLoss, ds.Train.Classes) {
			res.Status, res.Message = StatusDiverged, fmt.Sprintf("test loss is %.4g", res.TestLoss)
			res.TestLoss, res.TestAcc = 0, 0
			return res, nil
		}
		res.Tested = true
	}
	if !opt.SkipLatency {
		res.LatencyB1Ms = model.Latency(1)
		res.LatencyB128Ms = model.Latency(min(128, r.Batch))
		res.Phases.Latency = lap()
	}
	if opt.Trained != nil {
		opt.Trained(model, norm)
	}
	return res, nil
}

// divergeFactor bounds the training loss: a loss above divergeFactor·ln(classes), a thousand
// times that of a network that guesses uniformly, means training has diverged even while the
// numbers are still finite (float64 log-sum-exp keeps the loss finite long after the weights
// have blown up).
const divergeFactor = 1000

func diverged(loss float64, classes int) bool {
	return math.IsNaN(loss) || math.IsInf(loss, 0) || loss > divergeFactor*math.Log(float64(max(classes, 2)))
}

// trainStep runs forward, backward and the optimizer on one batch and returns the batch's loss.
func (m *Model) trainStep(b *data.Batch, step uint64, opt engine.Optimizer, lr float64) float64 {
	g := m.Graph
	copy(m.Input.Value, b.X)
	copy(m.Loss.Labels, b.Y)
	g.SetActiveBatch(b.N)
	g.SetStep(step)
	g.Forward(true)
	loss := m.Loss.Value()
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss // no update from a non-finite loss
	}
	g.Backward()
	opt.Step(lr)
	return loss
}

// evaluate returns the mean loss and the accuracy of the model in inference mode on s.
func (m *Model) evaluate(ctx context.Context, s *data.Set, norm data.Norm) (loss, acc float64, err error) {
	sc, err := m.Score(ctx, s, norm)
	return sc.Loss, sc.Acc, err
}

// Scores are a model's figures on a labelled set in inference mode.
type Scores struct {
	// Loss is the mean cross-entropy (with the label smoothing the model was built with).
	Loss float64
	// Acc is the fraction of images whose prediction is their label.
	Acc float64
	// Confusion[i][j] counts the images of class i predicted as class j. A prediction is the
	// class of the largest logit, the first of equal ones, as the loss counts correct ones.
	Confusion [][]int
}

// Score runs the model in inference mode over s, normalised by norm, in batches of the
// model's batch size.
func (m *Model) Score(ctx context.Context, s *data.Set, norm data.Norm) (Scores, error) {
	l := data.NewLoader(s, data.LoaderOptions{Batch: m.Graph.Batch(), Norm: norm})
	defer l.Close()
	classes := m.Logits.Shape.C
	sc := Scores{Confusion: make([][]int, classes)}
	for i := range sc.Confusion {
		sc.Confusion[i] = make([]int, classes)
	}
	var sum float64
	var correct, n int
	for b := range l.Epoch(ctx, 0) {
		copy(m.Input.Value, b.X)
		copy(m.Loss.Labels, b.Y)
		m.Graph.SetActiveBatch(b.N)
		m.Graph.Forward(false)
		sum += m.Loss.Value() * float64(b.N)
		for i, y := range b.Y[:b.N] {
			z := m.Logits.Value[i*classes : (i+1)*classes]
			pred := 0
			for j, v := range z {
				if v > z[pred] {
					pred = j
				}
			}
			sc.Confusion[y][pred]++
			if int(y) == pred {
				correct++
			}
		}
		n += b.N
	}
	if err := l.Err(); err != nil {
		return Scores{}, err
	}
	if n == 0 {
		return Scores{}, errors.New("empty evaluation set")
	}
	sc.Loss, sc.Acc = sum/float64(n), float64(correct)/float64(n)
	return sc, nil
}

// Latency is the median time in milliseconds of an inference forward pass on a batch of n, at
// most the model's batch size; the input holds whatever it held. It times 5 passes after a
// warm-up one, or 3 when the warm-up took longLatency or more: a long pass varies little
// relative to its length, and a trial's latency timing should stay a small share of its time.
func (m *Model) Latency(n int) float64 {
	g := m.Graph
	g.SetActiveBatch(n)
	t0 := time.Now()
	g.Forward(false) // warm-up
	reps := 5
	if time.Since(t0) >= longLatency {
		reps = 3
	}
	var times []float64
	for range reps {
		t := time.Now()
		g.Forward(false)
		times = append(times, float64(time.Since(t).Microseconds())/1000)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// longLatency is the length of a forward pass above which Latency times fewer of them.
const longLatency = 5 * time.Millisecond

// Bytes is the memory the model's buffers take in training: the graph's distinct buffers
// (engine.Graph.Bytes) and the optimizer's state, one buffer per parameter for SGD, two for AdamW.
func (m *Model) Bytes(optimizer string) int64 {
	state := int64(1)
	if optimizer == "adamw" {
		state = 2
	}
	var params int64
	for _, p := range m.Graph.Params() {
		params += int64(len(p.Value))
	}
	return m.Graph.Bytes() + 4*state*params
}
