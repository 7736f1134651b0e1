package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// workload is one workload's results from both sides, with the peak RSS of each process.
type workload struct {
	name, kind       string
	nas              *nasWorkload
	torch            map[string]torchModes // by thread count
	nasRSS, torchRSS int64
}

// nasWorkload is the part of nas bench's JSON for one workload that the table shows.
type nasWorkload struct {
	Name    string                          `json:"name"`
	Kind    string                          `json:"kind"`
	Results map[string]map[string]nasResult `json:"results"`
}

type nasResult struct {
	ImgPerS       float64  `json:"img_per_s"`
	GFLOPs        float64  `json:"gflops"`
	CPUMs         float64  `json:"cpu_ms"`
	AllocsPerStep float64  `json:"allocs_per_step"`
	OtherCPULoad  *float64 `json:"other_cpu_load"`
	PyTorch       *struct {
		Variant string  `json:"variant"`
		Value   float64 `json:"value"`
		Ratio   float64 `json:"ratio"`
	} `json:"pytorch"`
	Target *struct {
		Rule string  `json:"rule"`
		Min  float64 `json:"min"`
		Met  bool    `json:"met"`
	} `json:"target"`
}

// torchModes are torch_reference.py's results at one thread count, by mode, merged over its
// configurations: only the other processes' load is read from them.
type torchModes map[string]struct {
	OtherCPULoad float64 `json:"other_cpu_load"`
}

// readNAS reads nas bench's JSON for one workload.
func readNAS(path string) (*nasWorkload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Workloads []*nasWorkload `json:"workloads"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rep.Workloads) != 1 {
		return nil, fmt.Errorf("%s: %d workloads, want 1", path, len(rep.Workloads))
	}
	return rep.Workloads[0], nil
}

// readTorch reads torch_reference.py's JSON and keeps, per thread count and mode, the largest
// foreign load any of its configurations saw.
func readTorch(path string) (map[string]torchModes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Workloads []struct {
			Results map[string]torchModes `json:"results"`
		} `json:"workloads"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]torchModes{}
	for _, w := range rep.Workloads {
		for t, modes := range w.Results {
			if out[t] == nil {
				out[t] = torchModes{}
			}
			for mode, r := range modes {
				if r.OtherCPULoad >= out[t][mode].OtherCPULoad {
					out[t][mode] = r
				}
			}
		}
	}
	return out, nil
}

// comparison is one run of benchcompare.
type comparison struct {
	workloads          []*workload
	loadStart, loadEnd string
	started            time.Time
	elapsed            time.Duration
}

// modes lists the modes in table order, with the unit of their value.
var modes = []struct{ mode, metric string }{
	{"train", "train img/s"}, {"infer", "infer img/s"},
	{"fwd", "fwd GFLOP/s"}, {"fwd_bwd", "fwd+bwd GFLOP/s"}, {"sgemm", "GFLOP/s"},
}

// torchMode is the mode of PyTorch's result that a nas mode is compared with.
func torchMode(mode string) string {
	if mode == "sgemm" {
		return "mm_onednn"
	}
	return mode
}

// markdown writes the ratio table, then each net's peak RSS on both sides.
func (c *comparison) markdown(w io.Writer) error {
	fmt.Fprintf(w, "nas `bench` against PyTorch 1.13 (shared/bench/torch_reference.py), run %s, %.0f s; "+
		"load average %s at the start, %s at the end.\n\n", c.started.UTC().Format("2006-01-02 15:04 MST"), c.elapsed.Seconds(), c.loadStart, c.loadEnd)
	fmt.Fprintln(w, "| workload | threads | metric | nas | PyTorch | PyTorch config | ratio | target | met | other load nas / PyTorch |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---:|---|---|---|")
	met, missed := 0, 0
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
				value := r.GFLOPs
				if wl.kind == "net" {
					value = r.ImgPerS
				}
				torch, variant, ratio, target, ok2 := "-", "-", "-", "-", "-"
				if r.PyTorch != nil {
					torch, variant, ratio = fmt.Sprintf("%.1f", r.PyTorch.Value), r.PyTorch.Variant, fmt.Sprintf("%.2f", r.PyTorch.Ratio)
				}
				if r.Target != nil {
					target, ok2 = r.Target.Rule, "no"
					if r.Target.Met {
						ok2 = "yes"
						met++
					} else {
						missed++
					}
				}
				load := "-"
				if r.OtherCPULoad != nil {
					load = fmt.Sprintf("%.2f", *r.OtherCPULoad)
				}
				if tm, ok := wl.torch[t][torchMode(m.mode)]; ok {
					load += fmt.Sprintf(" / %.2f", tm.OtherCPULoad)
				}
				fmt.Fprintf(w, "| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n",
					wl.name, t, m.metric, value, torch, variant, ratio, target, ok2, load)
			}
		}
	}
	fmt.Fprintf(w, "\n%d targets met, %d missed. Other load: the CPUs other processes used while each side timed "+
		"(for PyTorch, its most loaded configuration).\n\n", met, missed)
	fmt.Fprintln(w, "| net | nas peak RSS MiB | PyTorch peak RSS MiB | nas / PyTorch | nas allocs per train step |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	for _, wl := range c.workloads {
		if wl.kind != "net" {
			continue
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
		_, err := fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %s |\n", wl.name, mib(wl.nasRSS), mib(wl.torchRSS), ratio, strings.Join(allocs, ", "))
		if err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
