package main

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
)

func init() { register(&paretoCommand{}) }

type paretoCommand struct{}

func (*paretoCommand) Name() string { return "pareto" }

func (*paretoCommand) Synopsis() string {
	return "print an experiment's Pareto front in a cost and an accuracy"
}

// paretoFormats are the values of nas pareto's --format.
var paretoFormats = []string{"table", "md", "json"}

func (c *paretoCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, experimentUsage, stderr)
	db := dbFlag(fs)
	xName := fs.String("x", string(evaluator.MACs), "cost: "+evaluator.ObjectiveNames(reports.Costs))
	yName := fs.String("y", string(evaluator.ValAcc), "accuracy: "+evaluator.ObjectiveNames(reports.Accuracies))
	format := fs.String("format", "table", "output format: "+strings.Join(paretoFormats, ", "))
	pos, err := parseArgs(fs, args, optional, "experiment name")
	if err != nil {
		return err
	}
	if !slices.Contains(paretoFormats, *format) {
		return badInputf("--format %q: valid formats are %s", *format, strings.Join(paretoFormats, ", "))
	}
	x, err := evaluator.ParseObjective(*xName, reports.Costs)
	if err != nil {
		return badInputf("--x: %w", err)
	}
	y, err := evaluator.ParseObjective(*yName, reports.Accuracies)
	if err != nil {
		return badInputf("--y: %w", err)
	}
	r, err := loadReport(ctx, *db, experimentArg(pos), reports.Options{Accuracy: y})
	if err != nil {
		return err
	}
	front, err := r.ParetoFront(x, y)
	if err != nil {
		return badInputf("experiment %s: %w", r.Experiment.Name, err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(front)
	}
	return reports.WriteTable(stdout, reports.FrontTable(x, y, front), *format == "md")
}
