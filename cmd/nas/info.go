package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/space"
)

func init() { register(&infoCommand{}) }

type infoCommand struct{}

func (*infoCommand) Name() string { return "info" }

func (*infoCommand) Synopsis() string {
	return "show an architecture's layers, parameters, MACs and memory estimate, or the engine's plan"
}

// infoLayer is one layer in nas info's JSON.
type infoLayer struct {
	Name   string      `json:"name"`
	Type   string      `json:"type"`
	Inputs []int       `json:"inputs"`
	Output space.Shape `json:"output"`
	Params int64       `json:"params"`
	MACs   int64       `json:"macs"`
}

// infoReport is nas info's JSON.
type infoReport struct {
	Name        string      `json:"name"`
	Hash        string      `json:"hash"`
	Input       space.Shape `json:"input"`
	Classes     int         `json:"classes"`
	Params      int64       `json:"params"`
	MACs        int64       `json:"macs"`
	Activations int64       `json:"activations"`
	Batch       int         `json:"batch"`
	TrainMemory int64       `json:"train_memory_bytes"`
	Layers      []infoLayer `json:"layers"`
}

func (c *infoCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "ARCH.yaml [flags]", stderr)
	input := fs.String("input", "", "override the input shape with `C,H,W`, e.g. 1,28,28")
	classes := fs.Int("classes", 0, "override the number of classes")
	batch := fs.Int("batch", 128, "batch size of the training memory estimate")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	plan := fs.Bool("plan", false, "print the engine's plan instead of the table: per node, its op, the convolutions'\n"+
		"algorithms, which op computes it, the prologue and epilogue fused into its op, its gradient buffer")
	pos, err := parseArgs(fs, args, oneArg, "architecture file")
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > evaluator.MaxBatch {
		return badInputf("--batch must be between 1 and %d (got %d)", evaluator.MaxBatch, *batch)
	}
	if *plan && *asJSON {
		return badInputf("--plan prints text: it does not go with --json")
	}
	arch, err := space.Load(pos[0])
	if err != nil {
		return badInput(err)
	}
	if *input != "" {
		if arch.Input, err = parseShape(*input); err != nil {
			return badInput(err)
		}
	}
	if *classes != 0 {
		arch.Classes = *classes
	}
	net, err := arch.Expand()
	if err != nil {
		return badInputf("%s with the overrides: %w", pos[0], err)
	}
	if *plan {
		return printPlan(stdout, net)
	}
	hash, err := arch.Hash()
	if err != nil {
		return err
	}
	counts := net.Counts()
	rep := infoReport{Name: arch.Name, Hash: hash, Input: arch.Input, Classes: arch.Classes,
		Params: counts.Params, MACs: counts.MACs, Activations: counts.Activations,
		Batch: *batch, TrainMemory: counts.TrainMemory(*batch)}
	for _, l := range net.Layers {
		rep.Layers = append(rep.Layers, infoLayer{Name: l.Name, Type: layerType(l), Inputs: l.Inputs,
			Output: l.Shape, Params: l.Params, MACs: l.MACs})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printInfo(stdout, rep, net)
}

// parseShape reads C,H,W.
func parseShape(s string) (space.Shape, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return space.Shape{}, fmt.Errorf("--input must be C,H,W, e.g. 1,28,28 (got %q)", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return space.Shape{}, fmt.Errorf("--input must be three positive integers C,H,W (got %q)", s)
		}
		v[i] = n
	}
	return space.Shape{C: v[0], H: v[1], W: v[2]}, nil
}

// layerType describes a layer's op and geometry, e.g. "conv 3x3 s2 g8".
func layerType(l space.Layer) string {
	t := string(l.Op)
	switch l.Op {
	case space.OpConv, space.OpMaxPool, space.OpAvgPool:
		t += fmt.Sprintf(" %dx%d", l.KH, l.KW)
		if l.Stride != 1 {
			t += fmt.Sprintf(" s%d", l.Stride)
		}
		if l.Groups > 1 {
			t += fmt.Sprintf(" g%d", l.Groups)
		}
	case space.OpZeroPad:
		t += fmt.Sprintf(" s%d", l.Stride)
	case space.OpAdd:
		if l.Scale != 1 {
			t += fmt.Sprintf(" ×%g", l.Scale)
		}
	case space.OpDropout, space.OpDropPath:
		t += fmt.Sprintf(" p=%.3g", l.P)
	}
	return t
}

// printInfo writes the per-layer table and the totals.
func printInfo(w io.Writer, rep infoReport, net *space.Net) error {
	table := reports.Table{
		Title:  fmt.Sprintf("%s  input %v  classes %d  hash %s", rep.Name, rep.Input, rep.Classes, rep.Hash[:12]),
		Header: []string{"layer", "type", "output", "params", "MACs"},
		Right:  []bool{false, false, true, true, true},
	}
	for _, l := range rep.Layers {
		table.Rows = append(table.Rows, []string{l.Name, l.Type, l.Output.String(), reports.Thousands(l.Params), reports.Thousands(l.MACs)})
	}
	if err := reports.WriteTable(w, table, false); err != nil {
		return err
	}
	aux := ""
	if len(net.Outputs) > 1 {
		aux = " (auxiliary classifiers excluded)"
	}
	fmt.Fprintf(w, "params:      %s\n", reports.Thousands(rep.Params))
	fmt.Fprintf(w, "MACs:        %s (%s)%s\n", reports.Thousands(rep.MACs), reports.Metric(float64(rep.MACs)), aux)
	fmt.Fprintf(w, "activations: %s per sample\n", reports.Thousands(rep.Activations))
	_, err := fmt.Fprintf(w, "training memory at batch %d: %.1f MiB (estimate: activations·batch·4 B·2 + params·4 B·3)\n",
		rep.Batch, float64(rep.TrainMemory)/(1<<20))
	return err
}

// printPlan builds net as the evaluator trains it and writes the engine's plan (engine.Graph.Plan).
// The plan does not depend on the batch size, so the graph is built for batches of one.
func printPlan(w io.Writer, net *space.Net) error {
	pool := parallel.NewPool(1)
	defer pool.Close()
	m, err := evaluator.Build(net, 1, pool, 1, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "plan of %s, engine version %d\n", net.Name, engine.Version); err != nil {
		return err
	}
	_, err = io.WriteString(w, m.Graph.Plan())
	return err
}
