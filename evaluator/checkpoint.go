package evaluator

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/nlpodyssey/safetensors"

	"github.com/gonas/nas/engine"
)

// Checkpoint is a training's state at the end of an epoch: everything Evaluate needs to go on
// from there and end with the same bits as a training never interrupted. The data order and the
// augmentation, Dropout and DropPath masks are drawn from (seed, epoch, step) alone, so the
// epoch and step counts are the random state.
type Checkpoint struct {
	// What it belongs to: Evaluate refuses a checkpoint of another training.
	ArchHash   string
	RecipeHash string
	Dataset    string
	Seed       uint64

	// Epoch is the number of epochs done, Step the optimizer steps taken.
	Epoch, Step int
	// Images is the number of images trained on, Seconds the training time so far.
	Images  int
	Seconds float64
	// History is the result of every epoch done.
	History []Epoch

	// Params and Buffers are the graph's parameters and BatchNorm statistics in the engine's
	// layout and order (engine.Graph.Params and State); Optim the optimizer's state.
	Params  [][]float32
	Buffers [][]float32
	Optim   engine.OptimizerState

	// names of the parameters and buffers, for the file and its errors.
	paramNames, bufferNames []string
}

// Checkpointer keeps the checkpoints of one training between runs (see Options.Checkpoints).
type Checkpointer interface {
	// Load returns the last checkpoint saved, or nil if there is none.
	Load() (*Checkpoint, error)
	// Save keeps c as the last checkpoint. c is only valid during the call.
	Save(c *Checkpoint) error
	// Discard is told why the checkpoint that Load returned, or tried to return, cannot be used;
	// the training then starts over.
	Discard(err error)
}

// CheckpointError says why a checkpoint cannot resume a training.
type CheckpointError struct{ Msg string }

func (e *CheckpointError) Error() string { return "checkpoint refused: " + e.Msg }

// snapshot returns id with the model's and the optimizer's state; its slices alias their memory.
func (m *Model) snapshot(id Checkpoint, optim engine.Optimizer) *Checkpoint {
	c := id
	for _, p := range m.Graph.Params() {
		c.Params = append(c.Params, p.Value)
		c.paramNames = append(c.paramNames, p.Name)
	}
	for _, b := range m.Graph.State() {
		c.Buffers = append(c.Buffers, b.Value)
		c.bufferNames = append(c.bufferNames, b.Name)
	}
	c.Optim = optim.State()
	return &c
}

// resume restores the last checkpoint that cp holds, if there is one and it belongs to the
// training id, and returns it; nil means the training starts from the beginning.
func (m *Model) resume(cp Checkpointer, id Checkpoint, epochs int, optim engine.Optimizer) *Checkpoint {
	c, err := cp.Load()
	if err == nil && c != nil {
		err = m.restore(c, id, epochs, optim)
	}
	if err != nil {
		cp.Discard(err)
		return nil
	}
	return c
}

// restore copies c into the model and the optimizer after checking that it belongs to the
// training id, changing nothing if it does not.
func (m *Model) restore(c *Checkpoint, id Checkpoint, epochs int, optim engine.Optimizer) error {
	mismatch := func(what string, got, want any) error {
		return &CheckpointError{fmt.Sprintf("it is of %s %v, this training's is %v", what, got, want)}
	}
	switch {
	case c.ArchHash != id.ArchHash:
		return mismatch("architecture", c.ArchHash, id.ArchHash)
	case c.RecipeHash != id.RecipeHash:
		return mismatch("recipe", c.RecipeHash, id.RecipeHash)
	case c.Dataset != id.Dataset:
		return mismatch("data set", c.Dataset, id.Dataset)
	case c.Seed != id.Seed:
		return mismatch("seed", c.Seed, id.Seed)
	case c.Epoch < 1 || c.Epoch > epochs || len(c.History) != c.Epoch:
		return &CheckpointError{fmt.Sprintf("it is at epoch %d with %d epochs of history, of a training of %d", c.Epoch, len(c.History), epochs)}
	}
	params, bufs := m.Graph.Params(), m.Graph.State()
	if len(c.Params) != len(params) || len(c.Buffers) != len(bufs) {
		return &CheckpointError{fmt.Sprintf("it has %d parameters and %d buffers, the network %d and %d", len(c.Params), len(c.Buffers), len(params), len(bufs))}
	}
	for k, p := range params {
		if len(c.Params[k]) != len(p.Value) {
			return &CheckpointError{fmt.Sprintf("parameter %d (%s) has %d values, want %d", k, p.Name, len(c.Params[k]), len(p.Value))}
		}
	}
	for k, b := range bufs {
		if len(c.Buffers[k]) != len(b.Value) {
			return &CheckpointError{fmt.Sprintf("buffer %d (%s) has %d values, want %d", k, b.Name, len(c.Buffers[k]), len(b.Value))}
		}
	}
	if err := optim.SetState(c.Optim); err != nil {
		return &CheckpointError{err.Error()}
	}
	for k, p := range params {
		copy(p.Value, c.Params[k])
	}
	for k, b := range bufs {
		copy(b.Value, c.Buffers[k])
	}
	return nil
}

// checkpointMeta is the part of a checkpoint that is not tensors, stored as JSON under the
// metadata key "nas.checkpoint". The tensors are "param.<k>", "buffer.<k>" and
// "optim.<kind>.<k>", k numbering the graph's parameters and buffers in order.
type checkpointMeta struct {
	ArchHash   string   `json:"arch_hash"`
	RecipeHash string   `json:"recipe_hash"`
	Dataset    string   `json:"dataset"`
	Seed       string   `json:"seed"` // decimal: a JSON number loses a uint64's precision
	Epoch      int      `json:"epoch"`
	Step       int      `json:"step"`
	Images     int      `json:"images"`
	Seconds    float64  `json:"seconds"`
	History    []Epoch  `json:"history"`
	Params     []string `json:"params"`  // the parameters' names
	Buffers    []string `json:"buffers"` // the buffers' names
	OptimSteps int      `json:"optim_steps"`
	Optim      []string `json:"optim"` // the optimizer's buffer kinds, sorted
}

const checkpointKey = "nas.checkpoint"

func paramTensor(k int) string              { return fmt.Sprintf("param.%d", k) }
func bufferTensor(k int) string             { return fmt.Sprintf("buffer.%d", k) }
func optimTensor(kind string, k int) string { return fmt.Sprintf("optim.%s.%d", kind, k) }

// Encode returns the checkpoint as a safetensors file of one-dimensional float32 tensors with
// its other fields as JSON in the metadata.
func (c *Checkpoint) Encode() ([]byte, error) {
	meta := checkpointMeta{ArchHash: c.ArchHash, RecipeHash: c.RecipeHash, Dataset: c.Dataset,
		Seed: strconv.FormatUint(c.Seed, 10), Epoch: c.Epoch, Step: c.Step, Images: c.Images,
		Seconds: c.Seconds, History: c.History, Params: c.paramNames, Buffers: c.bufferNames,
		OptimSteps: c.Optim.Steps, Optim: slices.Sorted(maps.Keys(c.Optim.Buffers))}
	views := map[string]safetensors.TensorView{}
	add := func(name string, v []float32) error {
		raw := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		tv, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(len(v))}, raw)
		views[name] = tv
		return err
	}
	var err error
	for k, v := range c.Params {
		err = errors.Join(err, add(paramTensor(k), v))
	}
	for k, v := range c.Buffers {
		err = errors.Join(err, add(bufferTensor(k), v))
	}
	for kind, bufs := range c.Optim.Buffers {
		for k, v := range bufs {
			err = errors.Join(err, add(optimTensor(kind, k), v))
		}
	}
	md, merr := json.Marshal(meta)
	if err = errors.Join(err, merr); err != nil {
		return nil, err
	}
	return safetensors.Serialize(views, map[string]string{checkpointKey: string(md)})
}

// DecodeCheckpoint parses a file that Encode wrote. Its error, a *CheckpointError, says what is
// wrong with the bytes.
func DecodeCheckpoint(b []byte) (c *Checkpoint, err error) {
	bad := func(format string, args ...any) error { return &CheckpointError{fmt.Sprintf(format, args...)} }
	if len(b) < 8 || binary.LittleEndian.Uint64(b) > uint64(len(b)-8) {
		return nil, bad("not a safetensors file of %d bytes", len(b))
	}
	defer func() {
		if r := recover(); r != nil { // the library trusts offsets it reads
			c, err = nil, bad("not a valid safetensors file: %v", r)
		}
	}()
	st, err := safetensors.Deserialize(b)
	if err != nil {
		return nil, bad("not a valid safetensors file: %v", err)
	}
	_, header, err := safetensors.ReadMetadata(b)
	if err != nil {
		return nil, bad("not a valid safetensors file: %v", err)
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(header.Metadata()[checkpointKey]), &meta); err != nil {
		return nil, bad("no readable %s metadata: %v", checkpointKey, err)
	}
	c = &Checkpoint{ArchHash: meta.ArchHash, RecipeHash: meta.RecipeHash, Dataset: meta.Dataset,
		Epoch: meta.Epoch, Step: meta.Step, Images: meta.Images, Seconds: meta.Seconds, History: meta.History,
		paramNames: meta.Params, bufferNames: meta.Buffers,
		Optim: engine.OptimizerState{Steps: meta.OptimSteps, Buffers: map[string][][]float32{}}}
	if c.Seed, err = strconv.ParseUint(meta.Seed, 10, 64); err != nil {
		return nil, bad("seed %q is not a number", meta.Seed)
	}
	tensors := map[string][]float32{}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		if tv.DType() != safetensors.F32 {
			return nil, bad("tensor %s is %s, not F32", nt.Name, tv.DType())
		}
		raw := tv.Data()
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		tensors[nt.Name] = v
	}
	used := 0
	take := func(name string) ([]float32, error) {
		v, ok := tensors[name]
		if !ok {
			return nil, bad("tensor %s is missing", name)
		}
		used++
		return v, nil
	}
	for k := range meta.Params {
		v, err := take(paramTensor(k))
		if err != nil {
			return nil, err
		}
		c.Params = append(c.Params, v)
	}
	for k := range meta.Buffers {
		v, err := take(bufferTensor(k))
		if err != nil {
			return nil, err
		}
		c.Buffers = append(c.Buffers, v)
	}
	for _, kind := range meta.Optim {
		for k := range meta.Params {
			v, err := take(optimTensor(kind, k))
			if err != nil {
				return nil, err
			}
			c.Optim.Buffers[kind] = append(c.Optim.Buffers[kind], v)
		}
	}
	if used != len(tensors) {
		return nil, bad("it holds %d tensors, of which %d are not a parameter, buffer or optimizer state", len(tensors), len(tensors)-used)
	}
	return c, nil
}
