// Command benchcompare measures nas's engine against PyTorch on this machine in one go: for each
// reference workload it runs shared/bench's torch_reference.py and `nas bench`, alternating which
// goes first, each in a process of its own so that its peak RSS is the workload's, and prints the
// ratio table (nas over PyTorch's fastest configuration) in Markdown.
//
// Run it from the repository root:
//
//	go run ./cmd/benchcompare [-workload all] [-threads 1,2] [-quick=true] [-out DIR]
//
// It builds nas from ./cmd/nas unless -nas names a binary. PyTorch is run as
// `python3 torch_reference.py --only LABEL --threads T --json-out FILE` with the best:NAME label
// (channels_last with tuned malloc) for nets and micro convolutions, and the GEMM's own label,
// whose oneDNN product is the reference.
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
	nas, python, torch, configs, workload, threads, out string
	quick                                               bool
	maxWait                                             float64
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.nas, "nas", "", "nas `binary` to run; empty builds ./cmd/nas")
	fs.StringVar(&o.python, "python", "/usr/bin/python3", "Python `interpreter` with torch")
	fs.StringVar(&o.torch, "torch", "../shared/bench/torch_reference.py", "the PyTorch reference `script`")
	fs.StringVar(&o.configs, "configs", "configs/baselines/small", "`DIR` of the nets' baseline YAML files, for nas bench")
	fs.StringVar(&o.workload, "workload", "all", "workloads, as nas bench --workload takes them")
	fs.StringVar(&o.threads, "threads", "1,2", "comma list of thread counts")
	fs.StringVar(&o.out, "out", "", "keep each run's JSON in `DIR` (default: a temporary directory, removed)")
	fs.BoolVar(&o.quick, "quick", true, "short timing on both sides (--quick of nas bench and torch_reference.py)")
	fs.Float64Var(&o.maxWait, "max-wait", 10, "seconds torch_reference.py may wait for an idle machine before each block")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("no arguments expected, got %q", fs.Args())
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
	if o.nas == "" {
		o.nas = filepath.Join(dir, "nas")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.nas, "./cmd/nas")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building nas (run from the repository root, or set -nas): %w", err)
		}
	}
	list, err := exec.CommandContext(ctx, o.nas, "bench", "--list", "--workload", o.workload).Output()
	if err != nil {
		return fmt.Errorf("nas bench --list: %w", err)
	}
	var c comparison
	c.loadStart = loadAvg()
	c.started = time.Now()
	for i, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		name, kind, _ := strings.Cut(line, " ")
		w, err := o.measure(ctx, dir, name, kind, i%2 == 1, stderr)
		if err != nil {
			return err
		}
		c.workloads = append(c.workloads, w)
	}
	c.loadEnd = loadAvg()
	c.elapsed = time.Since(c.started)
	return c.markdown(stdout)
}

// torchLabel is torch_reference.py's --only label of a workload: its fastest layout for nets and
// micro convolutions, the GEMM's own plan (which includes the oneDNN product) otherwise.
func torchLabel(name, kind string) string {
	if kind == "micro_mm" {
		return name
	}
	return "best:" + name
}

// measure runs PyTorch and nas on one workload, PyTorch first unless nasFirst, then has nas pair
// its results with PyTorch's.
func (o *options) measure(ctx context.Context, dir, name, kind string, nasFirst bool, progress io.Writer) (*workload, error) {
	w := &workload{name: name, kind: kind}
	torchJSON := filepath.Join(dir, "torch_"+name+".json")
	nasJSON := filepath.Join(dir, "nas_"+name+".json")
	pairedJSON := filepath.Join(dir, "nas_"+name+"_paired.json")
	quick := func(args []string) []string {
		if o.quick {
			return append(args, "--quick")
		}
		return args
	}
	runs := []func() error{
		func() (err error) {
			fmt.Fprintf(progress, "benchcompare: PyTorch %s\n", name)
			w.torchRSS, err = runMeasured(ctx, o.python, quick([]string{o.torch, "--only", torchLabel(name, kind),
				"--threads", o.threads, "--max-wait", fmt.Sprint(o.maxWait), "--json-out", torchJSON}), io.Discard, progress)
			return err
		},
		func() (err error) {
			fmt.Fprintf(progress, "benchcompare: nas %s\n", name)
			w.nasRSS, err = runTo(ctx, nasJSON, o.nas, quick([]string{"bench", "--workload", name, "--threads", o.threads,
				"--json", "--configs", o.configs, "--reference", ""}), progress)
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
	if _, err := runTo(ctx, pairedJSON, o.nas, []string{"bench", "--from", nasJSON, "--reference", torchJSON, "--json"}, progress); err != nil {
		return nil, err
	}
	var err error
	if w.torch, err = readTorch(torchJSON); err != nil {
		return nil, err
	}
	if w.nas, err = readNAS(pairedJSON); err != nil {
		return nil, err
	}
	return w, nil
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

// loadAvg returns /proc/loadavg's three load averages, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
