// Package benchmark times networks on the engine: a training step (forward, backward, SGD) and
// an inference forward pass, each as the median of repeats, with the CPU time other processes
// took meanwhile. nas bench reports it to users; tools/benchcompare pairs it with PyTorch.
package benchmark

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
)

// Timing says how a step is timed: a warm-up of at least two calls and Warmup, then Reps
// repeats of as many calls as last about Target each (at least MinSteps); the median repeat
// counts.
type Timing struct {
	Reps, MinSteps int
	Target, Warmup time.Duration
}

// Full is the default timing; Quick a short one for smoke runs.
var (
	Full  = Timing{Reps: 5, MinSteps: 3, Target: 400 * time.Millisecond, Warmup: 300 * time.Millisecond}
	Quick = Timing{Reps: 5, MinSteps: 1, Target: 100 * time.Millisecond}
)

// Result is one timed mode at one thread count.
type Result struct {
	// Ms is the median over the repeats of the time per call; MsMin and MsMax the extremes.
	Ms          float64 `json:"ms"`
	MsMin       float64 `json:"ms_min"`
	MsMax       float64 `json:"ms_max"`
	Reps        int     `json:"reps"`
	StepsPerRep int     `json:"steps_per_rep"`
	// ImgPerS is set for networks; GFLOPs is the rate at 2 FLOPs per multiply-add, a training
	// step counting three forward passes.
	ImgPerS float64 `json:"img_per_s,omitempty"`
	GFLOPs  float64 `json:"gflops"`
	// CPUMs is the CPU time this process spent per call over all repeats, all threads summed:
	// unlike Ms it hardly changes when other processes compete for the cores.
	CPUMs float64 `json:"cpu_ms"`
	// AllocsPerStep is the mean number of heap allocations per call in the last repeat.
	AllocsPerStep float64 `json:"allocs_per_step"`
	// OtherCPULoad is the CPU time other processes used during the timed repeats, in CPUs;
	// nil where the machine does not tell.
	OtherCPULoad *float64 `json:"other_cpu_load,omitempty"`
}

// Modes times the modes of one workload and collects their results.
type Modes struct {
	Timing Timing
	// Only lists the modes to time; nil times all.
	Only    map[string]bool
	Results map[string]*Result
}

// NewModes returns a Modes that times the modes only lists (nil: all) with t.
func NewModes(t Timing, only map[string]bool) *Modes {
	return &Modes{Timing: t, Only: only, Results: map[string]*Result{}}
}

// Time measures step as mode, unless Only leaves mode out. One call does flop floating-point
// operations and, for networks, processes images images. It returns ctx's error if ctx ends
// first.
func (m *Modes) Time(ctx context.Context, mode string, flop float64, images int, step func()) error {
	if m.Only != nil && !m.Only[mode] {
		return nil
	}
	if trace.IsEnabled() {
		// Each call is a region named after the mode in Go's execution trace (nas bench --trace).
		call := step
		step = func() { trace.WithRegion(ctx, mode, call) }
	}
	res, err := m.Timing.measure(ctx, step)
	if err != nil {
		return err
	}
	res.GFLOPs = flop / res.Ms / 1e6
	if images > 0 {
		res.ImgPerS = float64(images) / (res.Ms / 1e3)
	}
	m.Results[mode] = res
	return nil
}

// NetModes are the modes Net times.
var NetModes = []string{"train", "infer"}

// Net times net's training step ("train": forward, backward, SGD with lr 0.1, momentum 0.9 and
// weight decay 5e-4 on every parameter) and its inference forward ("infer") on one fixed random
// batch of batch samples, on pool, and returns its counts.
func Net(ctx context.Context, m *Modes, net *space.Net, batch int, pool *parallel.Pool) (space.Counts, error) {
	model, err := evaluator.Build(net, batch, pool, 1, 0)
	if err != nil {
		return space.Counts{}, err
	}
	counts := net.Counts()
	FillNormal(model.Input.Value, 3)
	classes := int32(net.Layers[net.Outputs[0]].Shape.C)
	rng := rand.New(rand.NewPCG(4, 5))
	for i := range model.Loss.Labels {
		model.Loss.Labels[i] = rng.Int32N(classes)
	}
	g := model.Graph
	opt := engine.NewSGD(g, engine.SGDConfig{Momentum: 0.9, WeightDecay: 5e-4})
	flop := 2 * float64(counts.MACs) * float64(batch)
	err = m.Time(ctx, "train", 3*flop, batch, func() {
		g.Forward(true)
		g.Backward()
		opt.Step(0.1)
	})
	if err != nil {
		return counts, err
	}
	return counts, m.Time(ctx, "infer", flop, batch, func() { g.Forward(false) })
}

// FillNormal fills x with standard normal numbers from a fixed seed.
func FillNormal(x []float32, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6e6173))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
}

// measure times step. It returns ctx's error if ctx ends first.
func (t Timing) measure(ctx context.Context, step func()) (*Result, error) {
	per := time.Duration(math.MaxInt64)
	warm := time.Now()
	for n := 0; n < 2 || time.Since(warm) < t.Warmup; n++ {
		t0 := time.Now()
		step()
		per = min(per, time.Since(t0))
	}
	steps := max(t.MinSteps, int(math.Ceil(float64(t.Target)/float64(max(per, 1)))))
	var before, after runtime.MemStats
	runtime.GC()
	cpu0, own0 := busyCPU(), ownCPU()
	wall := time.Now()
	ms := make([]float64, 0, t.Reps)
	for rep := range t.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if rep == t.Reps-1 {
			// Allocations are counted in the last repeat: per-thread buffers that grow to the
			// largest layer they meet are part of warming up, not of a step.
			runtime.ReadMemStats(&before)
		}
		t0 := time.Now()
		for range steps {
			step()
		}
		ms = append(ms, float64(time.Since(t0).Nanoseconds())/1e6/float64(steps))
	}
	elapsed := time.Since(wall).Seconds()
	runtime.ReadMemStats(&after)
	cpu1, own1 := busyCPU(), ownCPU()
	slices.Sort(ms)
	r := &Result{Ms: ms[len(ms)/2], MsMin: ms[0], MsMax: ms[len(ms)-1], Reps: t.Reps, StepsPerRep: steps,
		CPUMs:         (own1 - own0) * 1e3 / float64(t.Reps*steps),
		AllocsPerStep: float64(after.Mallocs-before.Mallocs) / float64(steps)}
	if cpu0 >= 0 && cpu1 >= 0 && elapsed > 0 {
		load := math.Round(max(0, (cpu1-cpu0)-(own1-own0))/elapsed*100) / 100
		r.OtherCPULoad = &load
	}
	return r, nil
}

// busyCPU returns the CPU seconds all processes have spent, from /proc/stat, or -1 where that is
// not available.
func busyCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var busy float64
	for i, s := range f[1:8] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return -1
		}
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy / 100 // USER_HZ is 100 on Linux
}

// ownCPU returns the CPU seconds this process has spent.
func ownCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// LoadAvg returns the 1, 5 and 15 minute load averages, or nil where /proc/loadavg is missing.
func LoadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	var l []float64
	for _, s := range f[:3] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil
		}
		l = append(l, v)
	}
	return l
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM), or 0 where unknown.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// ParseThreads reads a comma list of thread counts between 1 and the usable cores, e.g. "1,2".
func ParseThreads(list string) ([]int, error) {
	var ts []int
	cores := runtime.GOMAXPROCS(0)
	for _, s := range strings.Split(list, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 1 || t > cores {
			return nil, fmt.Errorf("must be a comma list of integers between 1 and %d, the usable cores, e.g. 1,%d (got %q)", cores, cores, list)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// ParseModes reads a comma list of modes among valid: nil for "all", else the set named.
func ParseModes(list string, valid []string) (map[string]bool, error) {
	if list == "all" {
		return nil, nil
	}
	only := map[string]bool{}
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(valid, m) {
			return nil, fmt.Errorf("unknown mode %q; valid are all, %s", m, strings.Join(valid, ", "))
		}
		only[m] = true
	}
	return only, nil
}
