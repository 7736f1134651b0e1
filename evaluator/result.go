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
}
