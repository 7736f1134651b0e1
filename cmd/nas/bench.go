package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/internal/benchmark"
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
	pos, err := parseArgs(fset, args, oneOrMore, "architecture file")
	if err != nil {
		return err
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
	nets := make([]*space.Net, len(pos))
	for i, path := range pos {
		arch, err := space.Load(path)
		if err != nil {
			return badInput(err)
		}
		if nets[i], err = arch.Expand(); err != nil {
			return badInput(fmt.Errorf("%s: %w", path, err))
		}
		if nets[i].Name == "" {
			nets[i].Name = path
		}
		if err := evaluator.CheckMemory(nets[i].Counts(), *batch); err != nil {
			return badInputf("%s: %w", path, err)
		}
	}

	stop, err := startProfiles(*cpuProfile, *memProfile)
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
