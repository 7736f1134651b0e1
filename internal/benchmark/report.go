package benchmark

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/gonas/nas/store"
)

// Report is a benchmark run as its JSON writes it: the machine and settings, then one entry
// per workload, shaped like torch_reference.py's (name, kind, results[threads][mode]) so that
// tools pair the two by name.
type Report struct {
	Meta      Meta        `json:"meta"`
	Workloads []*Workload `json:"workloads"`
}

// Meta describes the machine and the settings of a run.
type Meta struct {
	// Start is when the run started.
	Start     time.Time `json:"start"`
	Go        string    `json:"go"`
	CPU       string    `json:"cpu"`
	NumCPU    int       `json:"num_cpu"`
	Batch     int       `json:"batch"`
	Threads   []int     `json:"threads"`
	Reps      int       `json:"reps"`
	TargetS   float64   `json:"target_s_per_rep"`
	LoadStart []float64 `json:"loadavg_at_start,omitempty"`
	LoadEnd   []float64 `json:"loadavg_at_end,omitempty"`
	PeakRSS   int64     `json:"peak_rss_bytes"`
	WallS     float64   `json:"total_wall_s"`
}

// Workload is what was timed of one network or kernel.
type Workload struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// MACs counts a network's multiply-adds per sample, or a kernel's per call.
	MACs   int64 `json:"macs"`
	Params int64 `json:"params,omitempty"`
	// Results is keyed by thread count, then mode.
	Results map[string]map[string]*Result `json:"results"`
}

// NewReport starts a report of a run at batch size batch on threads with timing t.
func NewReport(batch int, threads []int, t Timing) *Report {
	return &Report{Meta: Meta{Go: runtime.Version(), CPU: store.ThisMachine("").CPUModel, NumCPU: runtime.NumCPU(),
		Batch: batch, Threads: threads, Reps: t.Reps, TargetS: t.Target.Seconds(), LoadStart: LoadAvg(), Start: time.Now().UTC()}}
}

// Finish records the load average, the peak RSS and the time at the end of the run.
func (r *Report) Finish() {
	r.Meta.LoadEnd = LoadAvg()
	r.Meta.PeakRSS = PeakRSS()
	r.Meta.WallS = time.Since(r.Meta.Start).Seconds()
}

// ReadReport reads a report's JSON from the file at path.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a benchmark report: %w", path, err)
	}
	if r.Meta.Go == "" {
		return nil, fmt.Errorf("%s: not a benchmark report: its meta names no Go version", path)
	}
	return &r, nil
}
