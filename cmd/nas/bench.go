package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/internal/benchmark"
	"github.com/gonas/nas/pytorch"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/space"
)

func init() { register(&benchCommand{}) }

type benchCommand struct{}

func (*benchCommand) Name() string { return "bench" }

func (*benchCommand) Synopsis() string {
	return "time architectures' training steps and inference on this machine"
}

func (c *benchCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet(c, "ARCH.yaml... [flags]", stderr)
	threadList := fset.String("threads", defaultBenchThreads(), "comma list of thread counts, each at most the usable cores")
	batch := fset.Int("batch", 128, "batch size")
	modeList := fset.String("modes", "all", "comma list of modes to time: train (forward, backward, SGD), infer, or all")
	asJSON := fset.Bool("json", false, "print one JSON object")
	quick := fset.Bool("quick", false, "short timing: at least 1 call per repeat, 0.1 s each, 2 warm-up calls")
	reps := fset.Int("reps", 5, "timed repeats; the median is reported")
	cpuProfile := fset.String("cpuprofile", "", "write a pprof CPU profile of the timed work to `FILE`")
	memProfile := fset.String("memprofile", "", "record every allocation and write a pprof heap profile to `FILE` at the end")
	spacePath := fset.String("space", "", "time --sample random networks of the search space in `SPACE.yaml` instead of architecture files, as workloads cand_0, cand_1, ...")
	sample := fset.Int("sample", 4, "with --space: how many networks to draw")
	seed := fset.Int64("seed", 1, "with --space: the seed that fixes the sample (and the initial weights --export-pytorch writes)")
	exportDir := fset.String("export-pytorch", "", "with --space: also write each network as `DIR`/cand_I.py (nas export --format pytorch) for tools/benchcompare/torch_candidates.py")
	maxParams := fset.Int64("max-params", 0, "with --space: draw only networks of at most `N` parameters, as a search's constraints.max_params (0: no limit)")
	maxMACs := fset.Int64("max-macs", 0, "with --space: draw only networks of at most `N` multiply-adds per image, as a search's constraints.max_macs (0: no limit)")
	tracePath := fset.String("trace", "", "write Go's execution trace of the timed work to `FILE` (go tool trace FILE)")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if (*spacePath == "") == (len(pos) == 0) {
		fset.Usage()
		return badInputf("want at least one architecture file or --space, not both (got %d arguments)", len(pos))
	}
	threads, err := benchmark.ParseThreads(*threadList)
	if err != nil {
		return badInputf("--threads %v", err)
	}
	if *batch < 1 || *batch > evaluator.MaxBatch || *reps < 1 || *reps > maxReps {
		return badInputf("--batch must be between 1 and %d and --reps between 1 and %d (got %d and %d)", evaluator.MaxBatch, maxReps, *batch, *reps)
	}
	only, err := benchmark.ParseModes(*modeList, benchmark.NetModes)
	if err != nil {
		return badInputf("--modes: %v", err)
	}
	timing := benchmark.Full
	if *quick {
		timing = benchmark.Quick
	}
	timing.Reps = *reps
	// archs are the networks to time; where[i] names archs[i] in messages.
	var archs []*space.Arch
	var where []string
	if *spacePath != "" {
		if *sample < 1 || *sample > maxSample || *maxParams < 0 || *maxMACs < 0 {
			return badInputf("--sample must be between 1 and %d and --max-params and --max-macs at least 0 (got %d, %d and %d)", maxSample, *sample, *maxParams, *maxMACs)
		}
		sp, err := space.LoadSpace(*spacePath)
		if err != nil {
			return badInput(err)
		}
		if sp.Input() == (space.Shape{}) {
			return badInputf("%s: the space sets no input and classes, which nas bench needs to build its networks", *spacePath)
		}
		sp.Budget = space.Budget{MaxParams: *maxParams, MaxMACs: *maxMACs}
		if archs, err = benchmark.Sample(sp, *sample, *seed, *batch); err != nil {
			return badInputf("%s: %w", *spacePath, err)
		}
		for _, a := range archs {
			where = append(where, a.Name)
		}
	} else if *exportDir != "" {
		return badInputf("--export-pytorch needs --space")
	}
	for _, path := range pos {
		arch, err := space.Load(path)
		if err != nil {
			return badInput(err)
		}
		if arch.Name == "" {
			arch.Name = path
		}
		archs, where = append(archs, arch), append(where, path)
	}
	nets := make([]*space.Net, len(archs))
	for i, arch := range archs {
		if nets[i], err = arch.Expand(); err != nil {
			return badInput(fmt.Errorf("%s: %w", where[i], err))
		}
		if err := evaluator.CheckMemory(nets[i].Counts(), *batch); err != nil {
			return badInputf("%s: %w", where[i], err)
		}
	}
	if *exportDir != "" {
		if err := exportCandidates(*exportDir, archs, uint64(*seed), stderr); err != nil {
			return err
		}
	}

	stop, err := startProfiles(*cpuProfile, *memProfile, *tracePath)
	if err != nil {
		return err
	}
	defer stop()
	rep := benchmark.NewReport(*batch, threads, timing)
	for _, net := range nets {
		w := &benchmark.Workload{Name: net.Name, Kind: "net", Results: map[string]map[string]*benchmark.Result{}}
		rep.Workloads = append(rep.Workloads, w)
		for _, t := range threads {
			fmt.Fprintf(stderr, "nas bench: %s, %d thread(s)\n", net.Name, t)
			pool := parallel.NewPool(t)
			m := benchmark.NewModes(timing, only)
			counts, err := benchmark.Net(ctx, m, net, *batch, pool)
			pool.Close()
			if err != nil {
				return err
			}
			// Return this run's buffers to the OS, so that the peak RSS is one run's, not the
			// sum of every run's that the collector has not yet freed.
			debug.FreeOSMemory()
			w.MACs, w.Params = counts.MACs, counts.Params
			w.Results[strconv.Itoa(t)] = m.Results
		}
	}
	rep.Finish()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printBench(stdout, rep)
}

// printBench writes the report as a table: one row per network, thread count and mode.
func printBench(w io.Writer, rep *benchmark.Report) error {
	t := reports.Table{
		Title:  fmt.Sprintf("Training steps and inference at batch %d", rep.Meta.Batch),
		Header: []string{"network", "threads", "mode", "ms/step", "img/s", "GFLOP/s", "allocs/step", "other load"},
		Right:  []bool{false, true, false, true, true, true, true, true},
	}
	for _, wl := range rep.Workloads {
		for _, th := range rep.Meta.Threads {
			for _, mode := range benchmark.NetModes {
				r, ok := wl.Results[strconv.Itoa(th)][mode]
				if !ok {
					continue
				}
				load := "-"
				if r.OtherCPULoad != nil {
					load = fmt.Sprintf("%.2f", *r.OtherCPULoad)
				}
				t.Rows = append(t.Rows, []string{wl.Name, strconv.Itoa(th), mode, fmt.Sprintf("%.2f", r.Ms),
					fmt.Sprintf("%.1f", r.ImgPerS), fmt.Sprintf("%.1f", r.GFLOPs), fmt.Sprintf("%.3g", r.AllocsPerStep), load})
			}
		}
	}
	if err := reports.WriteTable(w, t, false); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "load average %v at start, %v at end; peak RSS %.0f MiB\n",
		rep.Meta.LoadStart, rep.Meta.LoadEnd, float64(rep.Meta.PeakRSS)/(1<<20))
	return err
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

// maxSample bounds --sample: far more networks than one sitting can time.
const maxSample = 10000

// exportCandidates writes each network as dir/NAME.py with its initial weights beside it, as
// nas export --format pytorch does.
func exportCandidates(dir string, archs []*space.Arch, seed uint64, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return badInput(err)
	}
	for _, arch := range archs {
		src, err := newSource(arch, seed, arch.Name)
		if err != nil {
			return err
		}
		if err := src.weights(); err != nil {
			return err
		}
		py := filepath.Join(dir, arch.Name+".py")
		if err := pytorch.Export(py, src.file); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "nas bench: wrote %d PyTorch modules to %s\n", len(archs), dir)
	return nil
}
