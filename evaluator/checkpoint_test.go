package evaluator

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// memCheckpoints keeps checkpoints as the bytes Encode writes, so that every resume goes
// through the file format. cancelAfter, if positive, cancels the training once that epoch's
// checkpoint is saved, as a kill would.
type memCheckpoints struct {
	last        []byte
	saves       []int // the epoch of each save
	discarded   []error
	cancelAfter int
	cancel      context.CancelFunc
}

func (m *memCheckpoints) Load() (*Checkpoint, error) {
	if m.last == nil {
		return nil, nil
	}
	return DecodeCheckpoint(m.last)
}

func (m *memCheckpoints) Save(c *Checkpoint) error {
	b, err := c.Encode()
	if err != nil {
		return err
	}
	m.last = b
	m.saves = append(m.saves, c.Epoch)
	if c.Epoch == m.cancelAfter {
		m.cancel()
	}
	return nil
}

func (m *memCheckpoints) Discard(err error) { m.discarded = append(m.discarded, err) }

// checkpointRecipe has every kind of state a resume must restore: momentum, a warm-up and a
// cosine schedule, a shuffled and augmented data order, label smoothing.
func checkpointRecipe(optimizer string) Recipe {
	r := quickRecipe()
	r.Epochs, r.Optimizer, r.Nesterov = 4, optimizer, optimizer == "sgd"
	if optimizer == "adamw" {
		r.LR = 3e-3
	}
	r.WarmupEpochs, r.LabelSmoothing = 1, 0.1
	r.CropPad, r.Flip, r.Erase = 2, true, 0.3
	return r
}

// train runs one evaluation with cp and returns its result and the bytes of its last checkpoint.
func trainWith(t *testing.T, r Recipe, seed uint64, cp *memCheckpoints) Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp.cancel = cancel
	res, err := Evaluate(ctx, parseArch(t, tinyArch), syntheticDataset(300), r, Options{Seed: seed, Test: true, SkipLatency: true, Checkpoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCheckpointResumeIsBitIdentical(t *testing.T) {
	for _, optimizer := range []string{"sgd", "adamw"} {
		t.Run(optimizer, func(t *testing.T) {
			r := checkpointRecipe(optimizer)
			whole := &memCheckpoints{}
			want := trainWith(t, r, 7, whole)
			if want.Status != StatusOK || len(whole.saves) != r.Epochs {
				t.Fatalf("uninterrupted: status %s, saves at epochs %v", want.Status, whole.saves)
			}
			for stop := 1; stop < r.Epochs; stop++ {
				cp := &memCheckpoints{cancelAfter: stop}
				if res := trainWith(t, r, 7, cp); res.Status != StatusCancelled {
					t.Fatalf("stopped after epoch %d: status %s", stop, res.Status)
				}
				cp.cancelAfter = 0
				got := trainWith(t, r, 7, cp)
				if len(cp.discarded) > 0 {
					t.Fatalf("resume discarded its checkpoint: %v", cp.discarded)
				}
				if !bytes.Equal(tensorBytes(t, cp.last), tensorBytes(t, whole.last)) {
					t.Fatalf("resumed after epoch %d: the final weights, statistics and optimizer state differ from an uninterrupted run's", stop)
				}
				if got.TestAcc != want.TestAcc || got.TestLoss != want.TestLoss || len(got.Epochs) != r.Epochs {
					t.Fatalf("resumed after epoch %d: test %v/%v with %d epochs, want %v/%v", stop, got.TestAcc, got.TestLoss, len(got.Epochs), want.TestAcc, want.TestLoss)
				}
				for i, e := range got.Epochs {
					w := want.Epochs[i]
					if e.TrainLoss != w.TrainLoss || e.ValAcc != w.ValAcc || e.LR != w.LR {
						t.Fatalf("resumed after epoch %d: epoch %d is %+v, want %+v", stop, i+1, e, w)
					}
				}
			}
		})
	}
}

// tensorBytes returns the tensors of a checkpoint file, without the metadata (which holds
// timings).
func tensorBytes(t *testing.T, file []byte) []byte {
	t.Helper()
	c, err := DecodeCheckpoint(file)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	put := func(v []float32) {
		for _, x := range v {
			u := math.Float32bits(x)
			b.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
		}
	}
	for _, v := range append(c.Params, c.Buffers...) {
		put(v)
	}
	for _, kind := range []string{"momentum_buffer", "exp_avg", "exp_avg_sq"} {
		for _, v := range c.Optim.Buffers[kind] {
			put(v)
		}
	}
	return b.Bytes()
}

// A checkpoint of another training (here, another seed) is refused with a message saying why,
// and the training starts over: its result is that of a training without a checkpoint.
func TestMismatchedCheckpointStartsOver(t *testing.T) {
	r := checkpointRecipe("sgd")
	r.Epochs = 2
	other := &memCheckpoints{}
	trainWith(t, r, 8, other)
	want := trainWith(t, r, 7, &memCheckpoints{})
	cp := &memCheckpoints{last: other.last}
	got := trainWith(t, r, 7, cp)
	var ce *CheckpointError
	if len(cp.discarded) != 1 || !errors.As(cp.discarded[0], &ce) || !strings.Contains(ce.Error(), "seed 8") {
		t.Fatalf("discarded %v, want one refusal naming seed 8", cp.discarded)
	}
	if got.TestAcc != want.TestAcc || got.Epochs[0].TrainLoss != want.Epochs[0].TrainLoss {
		t.Errorf("after a refused checkpoint: test acc %v, first loss %v; a fresh training gives %v, %v", got.TestAcc, got.Epochs[0].TrainLoss, want.TestAcc, want.Epochs[0].TrainLoss)
	}
	if cp.saves[0] != 1 {
		t.Errorf("the training did not start over: first save at epoch %d", cp.saves[0])
	}
}

func TestDecodeCheckpointRefusesDamage(t *testing.T) {
	r := checkpointRecipe("sgd")
	r.Epochs = 1
	cp := &memCheckpoints{}
	trainWith(t, r, 7, cp)
	good := cp.last
	damaged := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)/2],
		"no header": append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, good[8:]...),
	}
	for name, b := range damaged {
		if _, err := DecodeCheckpoint(b); err == nil {
			t.Errorf("%s: DecodeCheckpoint accepted it", name)
		}
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	c := &Checkpoint{ArchHash: "a", Seed: 1, Epoch: 1, History: []Epoch{{Epoch: 1}},
		Params: [][]float32{{1, 2}}, paramNames: []string{"w"}}
	b, err := c.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b)
		if err == nil && len(c.Params) != len(c.paramNames) {
			t.Fatalf("decoded %d parameters with %d names", len(c.Params), len(c.paramNames))
		}
	})
}
