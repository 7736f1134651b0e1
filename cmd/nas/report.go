package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

func init() { register(&reportCommand{}) }

type reportCommand struct{}

func (*reportCommand) Name() string { return "report" }

func (*reportCommand) Synopsis() string {
	return "summarise an experiment: best networks, Pareto fronts, baselines, progress and plots"
}

// reportFormats are the values of nas report's --format, with what --out names for each.
var reportFormats = []string{"table", "md", "csv", "json", "html", "svg", "png"}

func (c *reportCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, experimentUsage, stderr)
	db := dbFlag(fs)
	format := fs.String("format", "table", "output format: "+strings.Join(reportFormats, ", ")+
		" (svg and png write one file per plot)")
	out := fs.String("out", "", "write to `PATH` instead of standard output; for svg and png, the folder for the plots (default: the current one)")
	top := fs.Int("top", reports.DefaultTop, "how many of the best networks to list")
	acc := fs.String("accuracy", "", "rank by val_acc, test_acc or final_acc (default: final_acc after nas finalize, else test_acc if every compared network was tested, else val_acc)")
	pos, err := parseArgs(fs, args, optional, "experiment name")
	if err != nil {
		return err
	}
	if !slices.Contains(reportFormats, *format) {
		return badInputf("--format %q: valid formats are %s", *format, strings.Join(reportFormats, ", "))
	}
	if *top < 1 {
		return badInputf("--top must be at least 1 (got %d)", *top)
	}
	opt := reports.Options{Top: *top}
	if *acc != "" {
		if opt.Accuracy, err = evaluator.ParseObjective(*acc, reports.Accuracies); err != nil {
			return badInputf("--accuracy: %w", err)
		}
	}
	r, err := loadReport(ctx, *db, experimentArg(pos), opt)
	if err != nil {
		return err
	}
	if *format == "svg" || *format == "png" {
		return writeFigures(r, *format, *out, stdout)
	}
	return writeDocument(*out, stdout, *format, r)
}

// document is what nas report and nas compare write, in every text format they take.
type document interface {
	WriteText(io.Writer) error
	WriteMarkdown(io.Writer) error
	WriteCSV(io.Writer) error
	WriteJSON(io.Writer) error
	WriteHTML(io.Writer) error
}

// writeDocument writes d in format (table, md, csv, json or html) to out, or to stdout when
// out is empty.
func writeDocument(out string, stdout io.Writer, format string, d document) error {
	return writeTo(out, stdout, func(w io.Writer) error {
		switch format {
		case "md":
			return d.WriteMarkdown(w)
		case "csv":
			return d.WriteCSV(w)
		case "json":
			return d.WriteJSON(w)
		case "html":
			return d.WriteHTML(w)
		}
		return d.WriteText(w)
	})
}

// experimentUsage is the usage line of the commands that show one experiment.
const experimentUsage = "[EXPERIMENT] [flags]\n\nWithout EXPERIMENT, the most recently created experiment in the database is shown."

// experimentArg is the experiment named by the positional arguments, or "" for the latest.
func experimentArg(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return pos[0]
}

// loadReport reads the experiment called name (the latest when empty) from the database at db
// and computes its report.
func loadReport(ctx context.Context, db, name string, opt reports.Options) (*reports.Report, error) {
	st, err := openStore(db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	d, err := reports.Fetch(ctx, st, name)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, reports.ErrNoExperiment) {
		return nil, badInputf("%s: %w", db, err)
	}
	if err != nil {
		return nil, err
	}
	r, err := reports.New(d, opt)
	if err != nil {
		return nil, badInputf("experiment %s: %w", d.Experiment.Name, err)
	}
	return r, nil
}

// writeTo calls write with stdout, or with the file at path when path is not empty.
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return badInput(err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFigures writes each of r's figures as NAME.svg or NAME.png in the folder dir and lists the
// files on stdout.
func writeFigures(r *reports.Report, format, dir string, stdout io.Writer) error {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return badInput(err)
	}
	for _, f := range r.Figures() {
		path := filepath.Join(dir, f.Name+"."+format)
		write := f.WriteSVG
		if format == "png" {
			write = f.WritePNG
		}
		if err := writeTo(path, nil, write); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", path, f.Title)
	}
	return nil
}
