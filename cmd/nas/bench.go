package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&benchCommand{}) }

type benchCommand struct{}

func (*benchCommand) Name() string { return "bench" }

func (*benchCommand) Synopsis() string {
	return "time the engine on the PyTorch reference workloads (micro convs, GEMM, nets)"
}

// The workloads of /work/shared/bench/README.md §5, by the names torch_reference.py gives them.
// A net's definition is the baseline config of the same name.
var benchWorkloads = []benchWorkload{
	{name: "micro_conv3x3_64to64_32x32_b64", kind: kindConv, in: engine.Shape{H: 32, W: 32, C: 64},
		conv: engine.ConvSpec{Filters: 64, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}},
	{name: "micro_conv1x1_256to64_16x16_b64", kind: kindConv, in: engine.Shape{H: 16, W: 16, C: 256},
		conv: engine.ConvSpec{Filters: 64, KH: 1, KW: 1, Stride: 1}},
	{name: "micro_gconv3x3_128to128_g32_16x16_b64", kind: kindConv, in: engine.Shape{H: 16, W: 16, C: 128},
		conv: engine.ConvSpec{Filters: 128, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Groups: 32}},
	{name: "micro_mm_1024x1024x1024", kind: kindMM},
	{name: "resnet20_mnist", kind: kindNet},
	{name: "se_resnet20_mnist", kind: kindNet},
	{name: "resnext20_8x4d_mnist", kind: kindNet},
	{name: "densenet_bc_k12_mnist", kind: kindNet},
	{name: "incres_small_mnist", kind: kindNet},
	{name: "vgg_small_mnist", kind: kindNet},
	{name: "resnet20_cifar", kind: kindNet},
	{name: "se_resnet20_cifar", kind: kindNet},
	{name: "densenet_bc_k12_cifar", kind: kindNet},
}

// Workload kinds, as torch_reference.py's JSON names them.
const (
	kindConv = "micro_conv"
	kindMM   = "micro_mm"
	kindNet  = "net"
)

const (
	// microBatch is the batch of the micro convolutions, fixed by their definition.
	microBatch = 64
	// mmSize is the side of the square GEMM workload.
	mmSize = 1024
	// fmaPeakPerCore is this machine class's float32 FMA peak in GFLOP/s per core, measured with
	// 12 independent FMA chains (shared/bench README, "Peak"); the GEMM target is a fraction of it.
	fmaPeakPerCore = 115.0
	// gemmPeakTarget is the fraction of the FMA peak the 1024³ GEMM should reach.
	gemmPeakTarget = 0.8
	// bestVariant is torch_reference.py's name for its fastest layout, channels_last with tuned malloc.
	bestVariant = "channels_last+tuned_malloc"
)

type benchWorkload struct {
	name, kind string
	// The convolution of a micro_conv workload.
	in   engine.Shape
	conv engine.ConvSpec
}

// benchReport is nas bench's JSON: a meta object and one object per workload, shaped like
// torch_reference.py's JSON (name, kind, results[threads][mode]) so that the two pair by name.
type benchReport struct {
	Meta      benchMeta          `json:"meta"`
	Workloads []*benchWorkResult `json:"workloads"`
}

type benchMeta struct {
	Go         string    `json:"go"`
	CPU        string    `json:"cpu"`
	NumCPU     int       `json:"num_cpu"`
	Batch      int       `json:"batch"`
	Threads    []int     `json:"threads"`
	Reps       int       `json:"reps"`
	TargetS    float64   `json:"target_s_per_rep"`
	Quick      bool      `json:"quick"`
	Reference  string    `json:"reference,omitempty"`
	LoadStart  []float64 `json:"loadavg_at_start,omitempty"`
	LoadEnd    []float64 `json:"loadavg_at_end,omitempty"`
	PeakRSS    int64     `json:"peak_rss_bytes"`
	WallS      float64   `json:"total_wall_s"`
	GEMMPeakGF float64   `json:"fma_peak_gflops_1core"`
}

type benchWorkResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// MACs counts a net's multiply-adds per image, or a micro workload's per call.
	MACs   int64 `json:"macs"`
	Params int64 `json:"params,omitempty"`
	// Results is keyed by thread count, then mode: train and infer for nets, fwd and fwd_bwd for
	// micro convs, sgemm for the GEMM.
	Results map[string]map[string]*benchResult `json:"results"`
}

// benchResult is one timed mode at one thread count.
type benchResult struct {
	// Ms is the median over the repeats of the time per call; MsMin and MsMax the extremes.
	Ms          float64 `json:"ms"`
	MsMin       float64 `json:"ms_min"`
	MsMax       float64 `json:"ms_max"`
	Reps        int     `json:"reps"`
	StepsPerRep int     `json:"steps_per_rep"`
	// ImgPerS is set for nets; GFLOPs is the achieved rate under the reference's FLOP convention.
	ImgPerS float64 `json:"img_per_s,omitempty"`
	GFLOPs  float64 `json:"gflops"`
	// CPUMs is the CPU time this process spent per call over all repeats, all threads summed:
	// unlike Ms it hardly changes when other processes compete for the cores.
	CPUMs float64 `json:"cpu_ms"`
	// AllocsPerStep is the mean number of heap allocations per call in the last repeat.
	AllocsPerStep float64 `json:"allocs_per_step"`
	// OtherCPULoad is the CPU time other processes used during the timed repeats, in CPUs.
	OtherCPULoad *float64      `json:"other_cpu_load,omitempty"`
	PyTorch      *benchPyTorch `json:"pytorch,omitempty"`
	Target       *benchTarget  `json:"target,omitempty"`
}

// benchPyTorch is the reference value a result is compared with.
type benchPyTorch struct {
	// Variant is the PyTorch configuration whose value this is: the fastest of the reference's
	// layouts, or mm_onednn for the GEMM.
	Variant string  `json:"variant"`
	Value   float64 `json:"value"`
	// Ratio is our value over PyTorch's, both in the same unit (images or GFLOP per second).
	Ratio float64 `json:"ratio"`
}

// benchTarget is the goal for a result.
type benchTarget struct {
	Rule string `json:"rule"`
	// Min is the smallest value of the result's metric that meets the rule.
	Min float64 `json:"min"`
	Met bool    `json:"met"`
}

// benchTiming follows torch_reference.py: a warm-up of at least two calls and warmup, then the
// median of reps repeats of steps calls each, steps chosen so that a repeat lasts about target.
type benchTiming struct {
	reps, minSteps int
	target, warmup time.Duration
	// only lists the modes to time; nil times all.
	only map[string]bool
}

func (c *benchCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet(c, "[flags]", stderr)
	names := fset.String("workload", "all", "comma list of workloads, or all, micro, nets: "+workloadNames())
	threadList := fset.String("threads", defaultBenchThreads(), "comma list of thread counts, each at most the usable cores")
	batch := fset.Int("batch", 128, "batch size of the nets (micro convs use their defined batch 64)")
	asJSON := fset.Bool("json", false, "print one JSON object shaped like torch_reference.py's")
	quick := fset.Bool("quick", false, "short timing: 5 repeats of at least 1 call, 0.1 s each, 2 warm-up calls")
	reps := fset.Int("reps", 5, "timed repeats; the median is reported")
	configs := fset.String("configs", "configs/baselines/small", "`DIR` holding the nets' baseline YAML files")
	refPath := fset.String("reference", "../shared/bench/torch_reference_results.json",
		"PyTorch results `FILE` (torch_reference.py --json-out) to compare with; the default is skipped if absent")
	cpuProfile := fset.String("cpuprofile", "", "write a pprof CPU profile of the timed work to `FILE`")
	memProfile := fset.String("memprofile", "", "record every allocation and write a pprof heap profile to `FILE` at the end")
	from := fset.String("from", "", "time nothing: print the report saved with --json in `FILE`, compared anew with --reference")
	modeList := fset.String("modes", "all", "comma list of modes to time: train, infer, fwd, fwd_bwd, sgemm, or all")
	list := fset.Bool("list", false, "print the selected workloads, one \"name kind\" per line, and time nothing")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fset.Usage()
		return badInputf("nas bench takes no arguments, got %q", pos)
	}
	work, err := selectWorkloads(*names)
	if err != nil {
		return badInput(err)
	}
	if *list {
		for _, w := range work {
			fmt.Fprintln(stdout, w.name, w.kind)
		}
		return nil
	}
	threads, err := parseThreads(*threadList)
	if err != nil {
		return badInput(err)
	}
	if *batch < 1 || *batch > evaluator.MaxBatch || *reps < 1 || *reps > maxReps {
		return badInputf("--batch must be between 1 and %d and --reps between 1 and %d (got %d and %d)", evaluator.MaxBatch, maxReps, *batch, *reps)
	}
	var ref *torchReference
	explicit := false
	fset.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "reference" })
	if *refPath != "" {
		ref, err = loadTorchReference(*refPath)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			ref, *refPath = nil, ""
		case err != nil:
			return badInput(err)
		}
	}
	if *from != "" {
		rep, err := loadBenchReport(*from)
		if err != nil {
			return badInput(err)
		}
		rep.Meta.Reference = *refPath
		if err := rep.pair(ref); err != nil {
			return badInput(fmt.Errorf("--from %s: %w", *from, err))
		}
		return rep.write(stdout, *asJSON)
	}
	timing := benchTiming{reps: *reps, minSteps: 3, target: 400 * time.Millisecond, warmup: 300 * time.Millisecond}
	if *quick {
		timing = benchTiming{reps: *reps, minSteps: 1, target: 100 * time.Millisecond}
	}
	if timing.only, err = parseModes(*modeList); err != nil {
		return badInput(err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if *memProfile != "" {
		runtime.MemProfileRate = 1
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}

	start := time.Now()
	rep := benchReport{Meta: benchMeta{
		Go: runtime.Version(), CPU: store.ThisMachine("").CPUModel, NumCPU: runtime.NumCPU(), Batch: *batch, Threads: threads,
		Reps: timing.reps, TargetS: timing.target.Seconds(), Quick: *quick, Reference: *refPath,
		LoadStart: loadAvg(), GEMMPeakGF: fmaPeakPerCore,
	}}
	for _, w := range work {
		res := &benchWorkResult{Name: w.name, Kind: w.kind, Results: map[string]map[string]*benchResult{}}
		rep.Workloads = append(rep.Workloads, res)
		for _, t := range threads {
			fmt.Fprintf(stderr, "nas bench: %s, %d thread(s)\n", w.name, t)
			pool := parallel.NewPool(t)
			modes, err := w.run(ctx, res, pool, *batch, *configs, timing)
			pool.Close()
			if err != nil {
				return err
			}
			// Return this run's buffers to the OS, so that the peak RSS is one run's, not the
			// sum of every run's that the collector has not yet freed.
			debug.FreeOSMemory()
			res.Results[strconv.Itoa(t)] = modes
		}
	}
	rep.Meta.LoadEnd = loadAvg()
	rep.Meta.PeakRSS = peakRSS()
	rep.Meta.WallS = time.Since(start).Seconds()
	if err := rep.pair(ref); err != nil {
		return err
	}
	return rep.write(stdout, *asJSON)
}

// loadBenchReport reads a report that nas bench --json wrote.
func loadBenchReport(path string) (*benchReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("--from %s: not nas bench's JSON: %w", path, err)
	}
	return &rep, nil
}

// pair sets every result's PyTorch value and target from ref (nil: none but the GEMM's).
func (rep *benchReport) pair(ref *torchReference) error {
	for _, wr := range rep.Workloads {
		w, ok := workloadByName(wr.Name)
		if !ok {
			return fmt.Errorf("unknown workload %q", wr.Name)
		}
		for t, modes := range wr.Results {
			threads, err := strconv.Atoi(t)
			if err != nil {
				return fmt.Errorf("workload %s: thread count %q", wr.Name, t)
			}
			for mode, r := range modes {
				r.PyTorch, r.Target = nil, nil
				r.compare(ref, w, threads, mode)
			}
		}
	}
	return nil
}

// write prints the report as JSON or as a table.
func (rep *benchReport) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printBench(w, rep)
}

// workloadByName returns the reference workload of that name.
func workloadByName(name string) (benchWorkload, bool) {
	for _, w := range benchWorkloads {
		if w.name == name {
			return w, true
		}
	}
	return benchWorkload{}, false
}

// workloadNames lists the workloads for the usage text.
func workloadNames() string {
	var s []string
	for _, w := range benchWorkloads {
		s = append(s, w.name)
	}
	return strings.Join(s, ", ")
}

// selectWorkloads resolves --workload: names, or the groups all, micro and nets.
func selectWorkloads(list string) ([]benchWorkload, error) {
	var out []benchWorkload
	seen := map[string]bool{}
	add := func(w benchWorkload) {
		if !seen[w.name] {
			seen[w.name] = true
			out = append(out, w)
		}
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, w := range benchWorkloads {
			group := "micro"
			if w.kind == kindNet {
				group = "nets"
			}
			if name == "all" || name == group || name == w.name {
				add(w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--workload: unknown workload %q; valid are all, micro, nets, %s", name, workloadNames())
		}
	}
	return out, nil
}

// parseModes reads --modes: nil for all, else the set of modes named.
func parseModes(list string) (map[string]bool, error) {
	if list == "all" {
		return nil, nil
	}
	only := map[string]bool{}
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if !slices.ContainsFunc(benchModes, func(b struct{ mode, metric string }) bool { return b.mode == m }) {
			return nil, fmt.Errorf("--modes: unknown mode %q; valid are all, train, infer, fwd, fwd_bwd, sgemm", m)
		}
		only[m] = true
	}
	return only, nil
}

// defaultBenchThreads is 1,2, the thread counts of the reference, or 1 on a machine of one core.
func defaultBenchThreads() string {
	if runtime.GOMAXPROCS(0) < 2 {
		return "1"
	}
	return "1,2"
}

// maxReps bounds --reps: far more repeats than a timing needs.
const maxReps = 10000

// parseThreads reads --threads, a comma list of integers between 1 and the usable cores.
func parseThreads(list string) ([]int, error) {
	var ts []int
	cores := runtime.GOMAXPROCS(0)
	for _, s := range strings.Split(list, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 1 || t > cores {
			return nil, fmt.Errorf("--threads must be a comma list of integers between 1 and %d, the usable cores, e.g. 1,%d (got %q)", cores, cores, list)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// run times w's modes on pool and fills the workload's counts.
func (w benchWorkload) run(ctx context.Context, res *benchWorkResult, pool *parallel.Pool, batch int, configs string, timing benchTiming) (map[string]*benchResult, error) {
	r := &benchRun{ctx: ctx, timing: timing, modes: map[string]*benchResult{}}
	var err error
	switch w.kind {
	case kindConv:
		err = w.runConv(r, res, pool)
	case kindMM:
		err = runMM(r, res, pool)
	default:
		err = w.runNet(r, res, pool, batch, configs)
	}
	return r.modes, err
}

// benchRun collects the timed modes of one workload on one pool.
type benchRun struct {
	ctx    context.Context
	timing benchTiming
	modes  map[string]*benchResult
}

// time measures step as mode, unless --modes leaves mode out. One call does flop floating-point
// operations and, for nets, processes images images.
func (r *benchRun) time(mode string, flop float64, images int, step func()) error {
	if r.timing.only != nil && !r.timing.only[mode] {
		return nil
	}
	res, err := r.timing.measure(r.ctx, step)
	if err != nil {
		return err
	}
	res.GFLOPs = flop / res.Ms / 1e6
	if images > 0 {
		res.ImgPerS = float64(images) / (res.Ms / 1e3)
	}
	r.modes[mode] = res
	return nil
}

// runConv times a convolution's forward (fwd) and its forward plus input and weight gradients
// (fwd_bwd). FLOPs are 2 per multiply-add forward and three times that for fwd_bwd.
func (w benchWorkload) runConv(r *benchRun, res *benchWorkResult, pool *parallel.Pool) error {
	g := engine.New(engine.Config{Batch: microBatch, Pool: pool, Seed: 1})
	x := g.Input("x", w.in)
	fillNormal(x.Value, 1)
	y := g.Conv2D(x, w.conv)
	x.Grad = make([]float32, len(x.Value)) // PyTorch's fwd_bwd computes the input gradient too
	g.Build()
	dy := make([]float32, len(y.Value))
	fillNormal(dy, 2)
	res.MACs = int64(microBatch) * int64(y.Shape.Size()) * int64(w.in.C/max(w.conv.Groups, 1)*w.conv.KH*w.conv.KW)
	flop := 2 * float64(res.MACs)
	if err := r.time("fwd", flop, 0, func() { g.Forward(false) }); err != nil {
		return err
	}
	return r.time("fwd_bwd", 3*flop, 0, func() {
		g.Forward(true)
		g.BackwardFrom(y, dy)
	})
}

// runMM times C = A·B for 1024×1024 matrices with gemm.Parallel.
func runMM(r *benchRun, res *benchWorkResult, pool *parallel.Pool) error {
	const n = mmSize
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	fillNormal(a, 1)
	fillNormal(b, 2)
	res.MACs = n * n * n
	return r.time("sgemm", 2*float64(res.MACs), 0, func() { gemm.Parallel(pool, false, false, n, n, n, 1, a, n, b, n, 0, c, n) })
}

// runNet times a net's train step (forward, backward, SGD with lr 0.1, momentum 0.9 and weight
// decay 5e-4 on every parameter) and its inference forward, on one fixed random batch. As in the
// reference, a train step counts three forward passes' FLOPs.
func (w benchWorkload) runNet(r *benchRun, res *benchWorkResult, pool *parallel.Pool, batch int, configs string) error {
	path := filepath.Join(configs, w.name+".yaml")
	arch, err := space.Load(path)
	if err != nil {
		return badInputf("workload %s: %w (run from the repository root or set --configs)", w.name, err)
	}
	net, err := arch.Expand()
	if err != nil {
		return badInputf("workload %s: %w", w.name, err)
	}
	if err := evaluator.CheckMemory(net.Counts(), batch); err != nil {
		return badInputf("workload %s: %w", w.name, err)
	}
	m, err := evaluator.Build(net, batch, pool, 1, 0)
	if err != nil {
		return err
	}
	counts := net.Counts()
	res.MACs, res.Params = counts.MACs, counts.Params
	fillNormal(m.Input.Value, 3)
	classes := int32(net.Layers[net.Outputs[0]].Shape.C)
	rng := rand.New(rand.NewPCG(4, 5))
	for i := range m.Loss.Labels {
		m.Loss.Labels[i] = rng.Int32N(classes)
	}
	g := m.Graph
	opt := engine.NewSGD(g, engine.SGDConfig{Momentum: 0.9, WeightDecay: 5e-4})
	flop := 2 * float64(counts.MACs) * float64(batch)
	err = r.time("train", 3*flop, batch, func() {
		g.Forward(true)
		g.Backward()
		opt.Step(0.1)
	})
	if err != nil {
		return err
	}
	return r.time("infer", flop, batch, func() { g.Forward(false) })
}

// fillNormal fills x with standard normal numbers from a fixed seed.
func fillNormal(x []float32, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6e6173))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
}

// measure times step. It returns ctx's error if ctx ends first.
func (t benchTiming) measure(ctx context.Context, step func()) (*benchResult, error) {
	per := time.Duration(math.MaxInt64)
	warm := time.Now()
	for n := 0; n < 2 || time.Since(warm) < t.warmup; n++ {
		t0 := time.Now()
		step()
		per = min(per, time.Since(t0))
	}
	steps := max(t.minSteps, int(math.Ceil(float64(t.target)/float64(max(per, 1)))))
	var before, after runtime.MemStats
	runtime.GC()
	cpu0, own0 := busyCPU(), ownCPU()
	wall := time.Now()
	ms := make([]float64, 0, t.reps)
	for rep := range t.reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if rep == t.reps-1 {
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
	r := &benchResult{Ms: ms[len(ms)/2], MsMin: ms[0], MsMax: ms[len(ms)-1], Reps: t.reps, StepsPerRep: steps,
		CPUMs:         (own1 - own0) * 1e3 / float64(t.reps*steps),
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

// loadAvg returns the 1, 5 and 15 minute load averages, or nil where /proc/loadavg is missing.
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l []float64
	for _, s := range strings.Fields(string(b))[:3] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil
		}
		l = append(l, v)
	}
	return l
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM), or 0 where unknown.
func peakRSS() int64 {
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

// torchReference is the part of torch_reference.py's JSON that nas bench compares with.
type torchReference struct {
	Workloads []torchWorkload `json:"workloads"`
}

// torchWorkload is one workload of one PyTorch configuration; the accuracy anchor has no Results.
type torchWorkload struct {
	Name    string                            `json:"name"`
	Net     string                            `json:"net"`
	Variant string                            `json:"variant"`
	Results map[string]map[string]torchResult `json:"results"`
}

type torchResult struct {
	ImgPerS float64 `json:"img_per_s"`
	GFLOPs  float64 `json:"gflops"`
}

// loadTorchReference reads a torch_reference.py JSON file.
func loadTorchReference(path string) (*torchReference, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--reference: %w", err)
	}
	var ref torchReference
	if err := json.Unmarshal(b, &ref); err != nil {
		return nil, fmt.Errorf("--reference %s: not torch_reference.py's JSON: %w", path, err)
	}
	return &ref, nil
}

// value is the result's figure of merit: images per second for nets, GFLOP/s otherwise.
func (r *benchResult) value(kind string) float64 {
	if kind == kindNet {
		return r.ImgPerS
	}
	return r.GFLOPs
}

// compare sets the result's PyTorch value and target. PyTorch's value is the fastest of the
// reference's configurations for the same workload, threads and mode (mkldnn_off, a deliberately
// crippled one, aside), or its oneDNN product for the GEMM, whose reference BLAS is no baseline.
func (r *benchResult) compare(ref *torchReference, w benchWorkload, threads int, mode string) {
	v := r.value(w.kind)
	if w.kind == kindMM {
		peak := fmaPeakPerCore * float64(min(threads, runtime.NumCPU()))
		min := gemmPeakTarget * peak
		r.Target = &benchTarget{Rule: fmt.Sprintf(">= %.0f%% of FMA peak %.0f", 100*gemmPeakTarget, peak), Min: min, Met: v >= min}
		mode = "mm_onednn"
	}
	if ref == nil {
		return
	}
	var best benchPyTorch
	for _, e := range ref.Workloads {
		if (e.Name != w.name && e.Net != w.name) || e.Variant == "mkldnn_off" {
			continue
		}
		tr, ok := e.Results[strconv.Itoa(threads)][mode]
		if !ok {
			continue
		}
		tv := tr.GFLOPs
		if w.kind == kindNet {
			tv = tr.ImgPerS
		}
		if tv > best.Value {
			best = benchPyTorch{Variant: e.Variant, Value: tv}
			if w.kind == kindMM {
				best.Variant = mode
			}
		}
	}
	if best.Value == 0 {
		return
	}
	best.Ratio = v / best.Value
	r.PyTorch = &best
	if w.kind != kindNet {
		return
	}
	factor := 1.25 // the goal for training on 2 threads and for inference
	if mode == "train" && threads == 1 {
		factor = 1
	}
	r.Target = &benchTarget{Rule: fmt.Sprintf(">= %.2fx PyTorch", factor), Min: factor * best.Value, Met: v >= factor*best.Value}
}

// benchModes lists the modes in the order tables show them, with the unit of their value.
var benchModes = []struct{ mode, metric string }{
	{"train", "train img/s"}, {"infer", "infer img/s"},
	{"fwd", "fwd GFLOP/s"}, {"fwd_bwd", "fwd+bwd GFLOP/s"}, {"sgemm", "GFLOP/s"},
}

// printBench writes the report as a table: one row per workload, thread count and mode.
func printBench(w io.Writer, rep *benchReport) error {
	table := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignLeft,
			tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight}}),
	)
	table.Header("workload", "threads", "metric", "value", "PyTorch best", "ratio", "target", "allocs/step", "other load")
	for _, wr := range rep.Workloads {
		for _, t := range rep.Meta.Threads {
			modes := wr.Results[strconv.Itoa(t)]
			for _, m := range benchModes {
				r, ok := modes[m.mode]
				if !ok {
					continue
				}
				torch, ratio, target, load := "-", "-", "-", "-"
				if r.PyTorch != nil {
					torch, ratio = fmt.Sprintf("%.1f", r.PyTorch.Value), fmt.Sprintf("%.2f", r.PyTorch.Ratio)
				}
				if r.Target != nil {
					target = r.Target.Rule
					if !r.Target.Met {
						target += " (missed)"
					}
				}
				if r.OtherCPULoad != nil {
					load = fmt.Sprintf("%.2f", *r.OtherCPULoad)
				}
				if err := table.Append(wr.Name, strconv.Itoa(t), m.metric, fmt.Sprintf("%.1f", r.value(wr.Kind)), torch, ratio,
					target, fmt.Sprintf("%.3g", r.AllocsPerStep), load); err != nil {
					return err
				}
			}
		}
	}
	if err := table.Render(); err != nil {
		return err
	}
	ref := rep.Meta.Reference
	if ref == "" {
		ref = "none"
	}
	_, err := fmt.Fprintf(w, "PyTorch reference: %s; load average %v at start, %v at end; peak RSS %.0f MiB\n",
		ref, rep.Meta.LoadStart, rep.Meta.LoadEnd, float64(rep.Meta.PeakRSS)/(1<<20))
	return err
}
