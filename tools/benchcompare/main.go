// Command benchcompare measures nas's engine against PyTorch on this machine: for each
// reference workload it runs torch_reference.py (the PyTorch benchmark kept outside this
// repository) and the same workload on the engine, alternating which goes first, each in a
// process of its own so that its peak RSS is the workload's, and prints a Markdown table of the
// ratio of nas to PyTorch's fastest configuration. It is a development tool; users time their
// own networks with nas bench.
//
// Run it from the repository root, naming the reference script:
//
//	go run ./tools/benchcompare -torch PATH/torch_reference.py [-workload all] [-threads 1,2] [-quick=true] [-out DIR]
//
// or with the script's path in $NAS_TORCH_REFERENCE. PyTorch is run as `python3
// torch_reference.py --only LABEL --threads T --json-out FILE` with the best:NAME label
// (channels_last with tuned malloc) for nets and micro convolutions, and the GEMM's own label,
// whose oneDNN product is the reference. The engine's side is this program again, run with
// -measure NAME.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gonas/nas/internal/benchmark"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

// options are benchcompare's flags.
type options struct {
	python, torch, configs, workload, threads, out, measure, pair string
	batch                                                         int
	quick                                                         bool
	maxWait                                                       float64
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.python, "python", "python3", "Python `interpreter` with torch")
	fs.StringVar(&o.torch, "torch", os.Getenv("NAS_TORCH_REFERENCE"), "the PyTorch reference `script`, torch_reference.py (default $NAS_TORCH_REFERENCE)")
	fs.StringVar(&o.configs, "configs", "configs/baselines/small", "`DIR` of the nets' baseline YAML files")
	fs.StringVar(&o.workload, "workload", "all", "comma list of workloads, or all, micro, nets: "+workloadNames())
	fs.StringVar(&o.threads, "threads", "1,2", "comma list of thread counts")
	fs.IntVar(&o.batch, "batch", 128, "batch size of the nets (micro convolutions use their defined batch 64)")
	fs.StringVar(&o.out, "out", "", "keep each run's JSON in `DIR` (default: a temporary directory, removed)")
	fs.BoolVar(&o.quick, "quick", true, "short timing on both sides")
	fs.Float64Var(&o.maxWait, "max-wait", 10, "seconds torch_reference.py may wait for an idle machine before each block")
	fs.StringVar(&o.measure, "measure", "", "time the `WORKLOAD` on the engine in this process and print its JSON (what the comparison runs)")
	fs.StringVar(&o.pair, "pair", "", "print the table of `NAS.json,TORCH.json`: nas bench --json's report and torch_candidates.py's, paired by workload name (cand_I)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("no arguments expected, got %q", fs.Args())
	}
	threads, err := benchmark.ParseThreads(o.threads)
	if err != nil {
		return fmt.Errorf("-threads %w", err)
	}
	if o.measure != "" {
		return o.measureHere(ctx, threads, stdout, stderr)
	}
	if o.pair != "" {
		nasPath, torchPath, ok := strings.Cut(o.pair, ",")
		if !ok {
			return fmt.Errorf("-pair wants NAS.json,TORCH.json, got %q", o.pair)
		}
		c, err := pairReports(nasPath, torchPath)
		if err != nil {
			return err
		}
		return c.markdown(stdout)
	}
	if o.torch == "" {
		return errors.New("name the PyTorch reference script with -torch PATH/torch_reference.py or $NAS_TORCH_REFERENCE")
	}
	work, err := selectWorkloads(o.workload)
	if err != nil {
		return err
	}
	dir := o.out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "benchcompare")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := comparison{source: filepath.Base(o.torch), loadStart: loadText(benchmark.LoadAvg()), started: time.Now()}
	for i, w := range work {
		r, err := o.compare(ctx, self, dir, w, i%2 == 1, stderr)
		if err != nil {
			return err
		}
		c.workloads = append(c.workloads, r)
	}
	c.loadEnd = loadText(benchmark.LoadAvg())
	c.elapsed = time.Since(c.started)
	return c.markdown(stdout)
}

// torchLabel is torch_reference.py's --only label of a workload: its fastest layout for nets and
// micro convolutions, the GEMM's own plan (which includes the oneDNN product) otherwise.
func torchLabel(w workload) string {
	if w.kind == kindMM {
		return w.name
	}
	return "best:" + w.name
}

// compare runs PyTorch and the engine on one workload, PyTorch first unless nasFirst, and
// reads both results.
func (o *options) compare(ctx context.Context, self, dir string, w workload, nasFirst bool, progress io.Writer) (*compared, error) {
	c := &compared{name: w.name, kind: w.kind}
	torchJSON := filepath.Join(dir, "torch_"+w.name+".json")
	nasJSON := filepath.Join(dir, "nas_"+w.name+".json")
	quick := func(args []string) []string {
		if o.quick {
			return append(args, "--quick")
		}
		return args
	}
	runs := []func() error{
		func() (err error) {
			fmt.Fprintf(progress, "benchcompare: PyTorch %s\n", w.name)
			c.torchRSS, err = runMeasured(ctx, o.python, quick([]string{o.torch, "--only", torchLabel(w),
				"--threads", o.threads, "--max-wait", fmt.Sprint(o.maxWait), "--json-out", torchJSON}), io.Discard, progress)
			return err
		},
		func() (err error) {
			fmt.Fprintf(progress, "benchcompare: nas %s\n", w.name)
			args := []string{"-measure", w.name, "-threads", o.threads, "-batch", fmt.Sprint(o.batch),
				"-configs", o.configs, fmt.Sprintf("-quick=%v", o.quick)}
			c.nasRSS, err = runTo(ctx, nasJSON, self, args, progress)
			return err
		},
	}
	if nasFirst {
		runs[0], runs[1] = runs[1], runs[0]
	}
	for _, r := range runs {
		if err := r(); err != nil {
			return nil, err
		}
	}
	var err error
	if c.torch, err = readTorch(torchJSON); err != nil {
		return nil, err
	}
	if c.nas, err = readNAS(nasJSON); err != nil {
		return nil, err
	}
	return c, nil
}

// runTo runs a program with its standard output in the file at path and returns its peak RSS.
func runTo(ctx context.Context, path, prog string, args []string, stderr io.Writer) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	rss, err := runMeasured(ctx, prog, args, f, stderr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return rss, err
}

// runMeasured runs a program to completion and returns its peak resident set size in bytes.
func runMeasured(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) (int64, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s %s: %w", prog, strings.Join(args, " "), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10, nil // kilobytes on Linux
	}
	return 0, nil
}

// loadText returns three load averages as text, or "unknown" for none.
func loadText(l []float64) string {
	if len(l) < 3 {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}
