package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonas/nas/internal/benchmark"
)

// compared is one workload's results from both sides, with the peak RSS of each process.
type compared struct {
	name, kind       string
	nas              *benchmark.Workload
	torch            []torchWorkload
	nasRSS, torchRSS int64
}

// torchWorkload is one workload of one PyTorch configuration, as torch_reference.py's JSON
// writes it; the accuracy anchor has no Results.
type torchWorkload struct {
	Name    string                            `json:"name"`
	Net     string                            `json:"net"`
	Variant string                            `json:"variant"`
	Results map[string]map[string]torchResult `json:"results"`
}

type torchResult struct {
	ImgPerS      float64 `json:"img_per_s"`
	GFLOPs       float64 `json:"gflops"`
	OtherCPULoad float64 `json:"other_cpu_load"`
}

// readTorch reads torch_reference.py's JSON.
func readTorch(path string) ([]torchWorkload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Meta struct {
			Torch string `json:"torch"`
		} `json:"meta"`
		Workloads []torchWorkload `json:"workloads"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: not a PyTorch report: %w", path, err)
	}
	if rep.Meta.Torch == "" {
		return nil, fmt.Errorf("%s: not a PyTorch report: its meta names no torch version", path)
	}
	return rep.Workloads, nil
}

// readNAS reads the engine's report of one workload.
func readNAS(path string) (*benchmark.Workload, error) {
	rep, err := benchmark.ReadReport(path)
	if err != nil {
		return nil, err
	}
	if len(rep.Workloads) != 1 {
		return nil, fmt.Errorf("%s: %d workloads, want 1", path, len(rep.Workloads))
	}
	return rep.Workloads[0], nil
}

// pairReports pairs the workloads of a nas bench report (nasPath) with those of the same names in
// a PyTorch report (torchPath), such as torch_candidates.py writes for nas bench --space's
// candidates. The reports carry no process's peak RSS, so the comparison has none.
func pairReports(nasPath, torchPath string) (*comparison, error) {
	rep, err := benchmark.ReadReport(nasPath)
	if err != nil {
		return nil, err
	}
	torch, err := readTorch(torchPath)
	if err != nil {
		return nil, err
	}
	c := &comparison{source: filepath.Base(torchPath), loadStart: loadText(rep.Meta.LoadStart), loadEnd: loadText(rep.Meta.LoadEnd),
		elapsed: time.Duration(rep.Meta.WallS * float64(time.Second)), started: rep.Meta.Start}
	for _, w := range rep.Workloads {
		c.workloads = append(c.workloads, &compared{name: w.Name, kind: w.Kind, nas: w, torch: torch})
	}
	return c, nil
}

// torchMode is the mode of PyTorch's result that an engine mode is compared with: the GEMM's
// oneDNN product, since the reference BLAS is no baseline.
func torchMode(mode string) string {
	if mode == "sgemm" {
		return "mm_onednn"
	}
	return mode
}

// value is a result's figure of merit: images per second for nets, GFLOP/s otherwise.
func value(kind string, imgPerS, gflops float64) float64 {
	if kind == kindNet {
		return imgPerS
	}
	return gflops
}

// reference is PyTorch's value that a result is compared with.
type reference struct {
	variant string
	value   float64
	// load is the largest foreign load any of PyTorch's configurations saw.
	load float64
}

// reference returns the fastest of PyTorch's configurations for the workload at threads and
// mode (mkldnn_off, a deliberately crippled one, aside), and whether there is one.
func (c *compared) reference(threads, mode string) (reference, bool) {
	tm := torchMode(mode)
	var best reference
	for _, e := range c.torch {
		r, ok := e.Results[threads][tm]
		if !ok || (e.Name != c.name && e.Net != c.name) {
			continue
		}
		best.load = max(best.load, r.OtherCPULoad)
		if v := value(c.kind, r.ImgPerS, r.GFLOPs); e.Variant != "mkldnn_off" && v > best.value {
			best.variant, best.value = e.Variant, v
			if c.kind == kindMM {
				best.variant = tm
			}
		}
	}
	return best, best.value > 0
}

// comparison is one run of benchcompare.
type comparison struct {
	// source names PyTorch's side: its script or report.
	source             string
	workloads          []*compared
	loadStart, loadEnd string
	started            time.Time
	elapsed            time.Duration
}

// modes lists the modes in table order, with the unit of their value.
var modes = []struct{ mode, metric string }{
	{"train", "train img/s"}, {"infer", "infer img/s"},
	{"fwd", "fwd GFLOP/s"}, {"fwd_bwd", "fwd+bwd GFLOP/s"}, {"sgemm", "GFLOP/s"},
}

// markdown writes the ratio table, then each net's peak RSS on both sides.
func (c *comparison) markdown(w io.Writer) error {
	fmt.Fprintf(w, "nas against PyTorch (%s), run %s, %.0f s; "+
		"load average %s at the start, %s at the end.\n\n", c.source, c.started.UTC().Format("2006-01-02 15:04 MST"), c.elapsed.Seconds(), c.loadStart, c.loadEnd)
	fmt.Fprintln(w, "| workload | threads | metric | nas | PyTorch | PyTorch config | ratio | other load nas / PyTorch |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---:|---|")
	for _, wl := range c.workloads {
		threads := make([]string, 0, len(wl.nas.Results))
		for t := range wl.nas.Results {
			threads = append(threads, t)
		}
		slices.SortFunc(threads, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		for _, t := range threads {
			for _, m := range modes {
				r, ok := wl.nas.Results[t][m.mode]
				if !ok {
					continue
				}
				v := value(wl.kind, r.ImgPerS, r.GFLOPs)
				torch, variant, ratio, load := "-", "-", "-", "-"
				if r.OtherCPULoad != nil {
					load = fmt.Sprintf("%.2f", *r.OtherCPULoad)
				}
				if ref, ok := wl.reference(t, m.mode); ok {
					torch, variant, ratio = fmt.Sprintf("%.1f", ref.value), ref.variant, fmt.Sprintf("%.2f", v/ref.value)
					load += fmt.Sprintf(" / %.2f", ref.load)
				}
				fmt.Fprintf(w, "| %s | %s | %s | %.1f | %s | %s | %s | %s |\n", wl.name, t, m.metric, v, torch, variant, ratio, load)
			}
		}
	}
	fmt.Fprint(w, "\nRatio: nas over PyTorch's fastest configuration. Other load: the CPUs other processes used while "+
		"each side timed (for PyTorch, its most loaded configuration).\n\n")
	var rows []string
	for _, wl := range c.workloads {
		if wl.kind != kindNet || wl.nasRSS == 0 {
			continue // paired reports carry no peak RSS
		}
		var allocs []string
		for t, ms := range wl.nas.Results {
			if r, ok := ms["train"]; ok {
				allocs = append(allocs, fmt.Sprintf("%.2g (%s threads)", r.AllocsPerStep, t))
			}
		}
		slices.Sort(allocs)
		ratio := "-"
		if wl.torchRSS > 0 {
			ratio = fmt.Sprintf("%.2f", float64(wl.nasRSS)/float64(wl.torchRSS))
		}
		rows = append(rows, fmt.Sprintf("| %s | %.0f | %.0f | %s | %s |\n", wl.name, mib(wl.nasRSS), mib(wl.torchRSS), ratio, strings.Join(allocs, ", ")))
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w, "| net | nas peak RSS MiB | PyTorch peak RSS MiB | nas / PyTorch | nas allocs per train step |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	_, err := fmt.Fprint(w, strings.Join(rows, ""))
	return err
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
