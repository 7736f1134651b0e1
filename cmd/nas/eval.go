package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
)

func init() { register(&evalCommand{}) }

type evalCommand struct{}

func (*evalCommand) Name() string { return "eval" }

func (*evalCommand) Synopsis() string {
	return "measure a saved model on a data set's test split: accuracy per class, confusion, latency"
}

// evalBatch is the batch nas eval scores in and the larger of the two it times.
const evalBatch = 128

// evalReport is what nas eval measures; accuracies are fractions.
type evalReport struct {
	Model         string       `json:"model"`
	Arch          string       `json:"arch"`
	Data          string       `json:"data"`
	Images        int          `json:"images"`
	TestAcc       float64      `json:"test_acc"`
	TestLoss      float64      `json:"test_loss"`
	PerClass      []classScore `json:"per_class"`
	Confusion     [][]int      `json:"confusion"`
	LatencyB1Ms   float64      `json:"latency_b1_ms"`
	LatencyB128Ms float64      `json:"latency_b128_ms"`
	Threads       int          `json:"threads"`
}

// classScore is one class's accuracy: the fraction of its images predicted as it.
type classScore struct {
	Class  int     `json:"class"`
	Name   string  `json:"name,omitempty"`
	Images int     `json:"images"`
	Acc    float64 `json:"acc"`
}

func (c *evalCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "MODEL.safetensors --data NAME [flags]", stderr)
	dataName := fs.String("data", "", "data set: "+fmt.Sprint(data.Names())+" or folder:PATH (default: the one the model was trained on)")
	dataDir := fs.String("data-dir", "", "look for the data set in `DIR`/NAME first")
	threads := fs.Int("threads", 0, "engine threads (0: every core; scores do not depend on it)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return badInputf("want one model file, got %d arguments", len(pos))
	}
	f, err := model.Load(pos[0])
	if err != nil {
		return badInput(err)
	}
	name := *dataName
	if name == "" {
		name = f.Meta.Dataset
	}
	if name == "" {
		return badInputf("%s holds untrained weights and names no data set: give --data", pos[0])
	}
	var dirs []string
	if *dataDir != "" {
		dirs = append(dirs, *dataDir)
	}
	ds, err := data.Open(name, dirs...)
	if err != nil {
		return badInput(err)
	}
	if ds.Test == nil || ds.Test.Len() == 0 {
		return badInputf("%s has no test split", ds.Name)
	}
	arch := f.Meta.Arch
	if in := (space.Shape{C: ds.Test.C, H: ds.Test.H, W: ds.Test.W}); arch.Input != in || arch.Classes != ds.Test.Classes {
		return badInputf("%s takes %v images in %d classes; %s has %v images in %d", pos[0], arch.Input, arch.Classes, ds.Name, in, ds.Test.Classes)
	}
	if f.Meta.Dataset != "" && f.Meta.Dataset != ds.Name {
		fmt.Fprintf(stderr, "note: %s was trained on %s, not %s\n", pos[0], f.Meta.Dataset, ds.Name)
	}

	pool := parallel.NewPool(*threads)
	defer pool.Close()
	m, err := f.Build(evalBatch, pool)
	if err != nil {
		return badInputf("%s: %w", pos[0], err)
	}
	sc, err := m.Score(ctx, ds.Test, f.Meta.Norm)
	if err != nil {
		return err
	}
	r := evalReport{Model: pos[0], Arch: arch.Name, Data: ds.Name, Images: ds.Test.Len(), TestAcc: sc.Acc, TestLoss: sc.Loss,
		Confusion: sc.Confusion, Threads: pool.Threads()}
	for i, row := range sc.Confusion {
		cs := classScore{Class: i}
		if i < len(f.Meta.Classes) {
			cs.Name = f.Meta.Classes[i]
		}
		for _, n := range row {
			cs.Images += n
		}
		if cs.Images > 0 {
			cs.Acc = float64(row[i]) / float64(cs.Images)
		}
		r.PerClass = append(r.PerClass, cs)
	}
	r.LatencyB1Ms, r.LatencyB128Ms = m.Latency(1), m.Latency(evalBatch)

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printEval(stdout, r)
	return nil
}

func printEval(w io.Writer, r evalReport) {
	fmt.Fprintf(w, "%s (%s) on %s: %d test images\n", r.Model, r.Arch, r.Data, r.Images)
	fmt.Fprintf(w, "  test accuracy %.2f%% (loss %.4f)\n", 100*r.TestAcc, r.TestLoss)
	fmt.Fprintf(w, "  latency       %.2f ms at batch 1, %.1f ms at batch %d on %d threads\n\n", r.LatencyB1Ms, r.LatencyB128Ms, evalBatch, r.Threads)
	label := func(c classScore) string {
		if c.Name != "" {
			return c.Name
		}
		return strconv.Itoa(c.Class)
	}
	width := 5
	for _, c := range r.PerClass {
		width = max(width, len(label(c)))
	}
	fmt.Fprintf(w, "  %-*s %7s %9s\n", width, "class", "images", "accuracy")
	for _, c := range r.PerClass {
		fmt.Fprintf(w, "  %-*s %7d %8.2f%%\n", width, label(c), c.Images, 100*c.Acc)
	}
	fmt.Fprintf(w, "\n  confusion (rows: true class, columns: predicted)\n  %-*s", width, "")
	cell := 5
	for _, row := range r.Confusion {
		for _, n := range row {
			cell = max(cell, len(strconv.Itoa(n))+1)
		}
	}
	for j := range r.Confusion {
		fmt.Fprintf(w, "%*d", cell, j)
	}
	fmt.Fprintln(w)
	for i, row := range r.Confusion {
		var b strings.Builder
		for _, n := range row {
			fmt.Fprintf(&b, "%*d", cell, n)
		}
		fmt.Fprintf(w, "  %-*s%s\n", width, label(r.PerClass[i]), b.String())
	}
}
