package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/internal/benchmark"
	"github.com/gonas/nas/space"
)

// workload is one of torch_reference.py's reference workloads, by the name it gives it. A net's
// definition is the baseline config of the same name.
type workload struct {
	name, kind string
	// The convolution of a micro_conv workload.
	in   engine.Shape
	conv engine.ConvSpec
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
)

var workloads = []workload{
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

// workloadNames lists the workloads for the usage text.
func workloadNames() string {
	var s []string
	for _, w := range workloads {
		s = append(s, w.name)
	}
	return strings.Join(s, ", ")
}

// selectWorkloads resolves -workload: names, or the groups all, micro and nets.
func selectWorkloads(list string) ([]workload, error) {
	var out []workload
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, w := range workloads {
			group := "micro"
			if w.kind == kindNet {
				group = "nets"
			}
			if name == "all" || name == group || name == w.name {
				found = true
				if !seen[w.name] {
					seen[w.name] = true
					out = append(out, w)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("-workload: unknown workload %q; valid are all, micro, nets, %s", name, workloadNames())
		}
	}
	return out, nil
}

// measureHere times the workload named by -measure on the engine, at each thread count, and
// prints the report as JSON.
func (o *options) measureHere(ctx context.Context, threads []int, stdout, stderr io.Writer) error {
	ws, err := selectWorkloads(o.measure)
	if err != nil {
		return err
	}
	timing := benchmark.Full
	if o.quick {
		timing = benchmark.Quick
	}
	rep := benchmark.NewReport(o.batch, threads, timing)
	for _, w := range ws {
		res := &benchmark.Workload{Name: w.name, Kind: w.kind, Results: map[string]map[string]*benchmark.Result{}}
		rep.Workloads = append(rep.Workloads, res)
		for _, t := range threads {
			fmt.Fprintf(stderr, "benchcompare: %s, %d thread(s)\n", w.name, t)
			pool := parallel.NewPool(t)
			m := benchmark.NewModes(timing, nil)
			err := w.time(ctx, m, res, pool, o.batch, o.configs)
			pool.Close()
			if err != nil {
				return err
			}
			debug.FreeOSMemory() // so that the peak RSS is one run's
			res.Results[strconv.Itoa(t)] = m.Results
		}
	}
	rep.Finish()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// time times w's modes on pool and fills its counts in res.
func (w workload) time(ctx context.Context, m *benchmark.Modes, res *benchmark.Workload, pool *parallel.Pool, batch int, configs string) error {
	switch w.kind {
	case kindConv:
		return w.timeConv(ctx, m, res, pool)
	case kindMM:
		return timeMM(ctx, m, res, pool)
	}
	path := filepath.Join(configs, w.name+".yaml")
	arch, err := space.Load(path)
	if err != nil {
		return fmt.Errorf("workload %s: %w (run from the repository root or set -configs)", w.name, err)
	}
	net, err := arch.Expand()
	if err != nil {
		return fmt.Errorf("workload %s: %w", w.name, err)
	}
	counts, err := benchmark.Net(ctx, m, net, batch, pool)
	res.MACs, res.Params = counts.MACs, counts.Params
	return err
}

// timeConv times a convolution's forward (fwd) and its forward plus input and weight gradients
// (fwd_bwd). FLOPs are 2 per multiply-add forward and three times that for fwd_bwd.
func (w workload) timeConv(ctx context.Context, m *benchmark.Modes, res *benchmark.Workload, pool *parallel.Pool) error {
	g := engine.New(engine.Config{Batch: microBatch, Pool: pool, Seed: 1})
	x := g.Input("x", w.in)
	benchmark.FillNormal(x.Value, 1)
	y := g.Conv2D(x, w.conv)
	x.Grad = make([]float32, len(x.Value)) // PyTorch's fwd_bwd computes the input gradient too
	g.Build()
	dy := make([]float32, len(y.Value))
	benchmark.FillNormal(dy, 2)
	res.MACs = int64(microBatch) * int64(y.Shape.Size()) * int64(w.in.C/max(w.conv.Groups, 1)*w.conv.KH*w.conv.KW)
	flop := 2 * float64(res.MACs)
	if err := m.Time(ctx, "fwd", flop, 0, func() { g.Forward(false) }); err != nil {
		return err
	}
	return m.Time(ctx, "fwd_bwd", 3*flop, 0, func() {
		g.Forward(true)
		g.BackwardFrom(y, dy)
	})
}

// timeMM times C = A·B for 1024×1024 matrices with gemm.Parallel.
func timeMM(ctx context.Context, m *benchmark.Modes, res *benchmark.Workload, pool *parallel.Pool) error {
	const n = mmSize
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	benchmark.FillNormal(a, 1)
	benchmark.FillNormal(b, 2)
	res.MACs = n * n * n
	return m.Time(ctx, "sgemm", 2*float64(res.MACs), 0, func() { gemm.Parallel(pool, false, false, n, n, n, 1, a, n, b, n, 0, c, n) })
}
