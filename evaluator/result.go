// Package evaluator turns a space.Arch into an engine graph, trains it under a Recipe on a data
// set from evaluator/data, and reports what happened as a Result.
package evaluator

// Status says how an evaluation ended.
type Status string

// The ways an evaluation can end. Everything but StatusOK is a failure that is stored as data.
const (
	StatusOK         Status = "ok"
	StatusDiverged   Status = "diverged"    // a loss or weight became NaN or Inf
	StatusOverBudget Status = "over_budget" // params, MACs, memory or time over a limit
	StatusCancelled  Status = "cancelled"   // the context was cancelled
	StatusError      Status = "error"       // anything else: invalid arch, missing data, ...
)

// Epoch is one epoch's training and validation figures. ValLoss and ValAcc are zero when there
// is no validation split.
type Epoch struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"`
}

// Result is everything one evaluation measured. Accuracies are fractions in [0, 1].
type Result struct {
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`

	Params int64 `json:"params"`
	MACs   int64 `json:"macs"`

	Epochs   []Epoch `json:"epochs"`
	ValLoss  float64 `json:"val_loss"`
	ValAcc   float64 `json:"val_acc"`
	TestLoss float64 `json:"test_loss,omitempty"`
	TestAcc  float64 `json:"test_acc,omitempty"`
	Tested   bool    `json:"tested"`

	TrainSeconds  float64 `json:"train_seconds"`
	ImagesPerSec  float64 `json:"images_per_sec"`
	LatencyB1Ms   float64 `json:"latency_b1_ms"`
	LatencyB128Ms float64 `json:"latency_b128_ms"`
	PeakMemBytes  int64   `json:"peak_mem_bytes"`
	Threads       int     `json:"threads"`
	Seed          uint64  `json:"seed"`

	// Phases is where the evaluation's wall time went. It is a measurement of this run, not
	// part of the result: the store does not keep it.
	Phases Phases `json:"phases"`
}

// Phases splits an evaluation's wall time, in seconds, into what it spent building, preparing
// data, in training steps, waiting between them, validating, testing and timing latency.
type Phases struct {
	// Build expands the network and builds its graph with its initial weights.
	Build float64 `json:"build"`
	// Data splits the training set, computes its normalisation and starts the loader.
	Data float64 `json:"data"`
	// FirstStep is the first training step, which also sizes per-thread buffers.
	FirstStep float64 `json:"first_step"`
	// Steps are the other training steps: forward, backward and the optimizer.
	Steps float64 `json:"steps"`
	// Wait is the rest of the training loop: waiting for the loader's batches, progress reports.
	Wait float64 `json:"wait"`
	// Validation, Test and Latency are the measurements after training.
	Validation float64 `json:"validation"`
	Test       float64 `json:"test"`
	Latency    float64 `json:"latency"`
}

// Total is the sum of the phases.
func (p Phases) Total() float64 {
	return p.Build + p.Data + p.FirstStep + p.Steps + p.Wait + p.Validation + p.Test + p.Latency
}

// Add adds q's phases to p's.
func (p *Phases) Add(q Phases) {
	p.Build += q.Build
	p.Data += q.Data
	p.FirstStep += q.FirstStep
	p.Steps += q.Steps
	p.Wait += q.Wait
	p.Validation += q.Validation
	p.Test += q.Test
	p.Latency += q.Latency
}
