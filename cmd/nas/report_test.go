package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/reports/reporttest"
	"github.com/gonas/nas/store"
)

// fixtureDB writes reporttest's experiments into a new database and returns its path.
func fixtureDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nas.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := reporttest.Build(context.Background(), st, baselineDir+"small"); err != nil {
		t.Fatal(err)
	}
	return path
}

// reportJSON runs nas report --format json with args and decodes the report.
func reportJSON(t *testing.T, args ...string) reports.Report {
	t.Helper()
	code, out, stderr := runNAS(t, append([]string{"report", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r reports.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out)
	}
	return r
}

func TestReportWritesEveryFormat(t *testing.T) {
	db := fixtureDB(t)
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"table", func(t *testing.T, out string) {
			for _, want := range []string{"Summary\n=======", "| experiment    | fixture (nsga2, seed 7): done", "Pareto front\n", "Baselines and the found networks"} {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in\n%s", want, out)
				}
			}
		}},
		{"md", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "## Summary\n\n- **experiment**: fixture") || !strings.Contains(out, "\n|---:|") {
				t.Errorf("not the Markdown report:\n%s", out)
			}
		}},
		{"csv", func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 18 || rows[0][0] != "trial" {
				t.Errorf("%d CSV rows, want a header and the 17 finished trials of the fixture", len(rows))
			}
		}},
		{"json", func(t *testing.T, out string) {
			var r reports.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.Experiment.Name != reporttest.Experiment {
				t.Errorf("JSON of %q, %v; want the latest experiment, %s", r.Experiment.Name, err, reporttest.Experiment)
			}
		}},
		{"html", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "<!DOCTYPE html>") || strings.Count(out, "<svg ") != 4 {
				t.Errorf("not an HTML page with the four figures: %.200s", out)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			code, out, stderr := runNAS(t, "report", "--db", db, "--format", tc.format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			tc.check(t, out)
			file := filepath.Join(t.TempDir(), "report."+tc.format)
			code, out, stderr = runNAS(t, "report", "--db", db, "--format", tc.format, "--out", file)
			if code != 0 || out != "" {
				t.Fatalf("--out: exit %d, stdout %q: %s", code, out, stderr)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, string(b))
		})
	}
}

func TestReportWritesOneFilePerPlot(t *testing.T) {
	db := fixtureDB(t)
	for _, format := range []string{"svg", "png"} {
		t.Run(format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plots")
			code, out, stderr := runNAS(t, "report", "--db", db, "--format", format, "--out", dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, name := range []string{"bubble", "front", "progress", "curves"} {
				path := filepath.Join(dir, name+"."+format)
				if !strings.Contains(out, path+": ") {
					t.Errorf("%s is not listed in\n%s", path, out)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if format == "png" {
					if _, err := png.Decode(bytes.NewReader(b)); err != nil {
						t.Errorf("%s: %v", path, err)
					}
				} else if !bytes.HasPrefix(b, []byte("<?xml")) || !bytes.HasSuffix(b, []byte("</svg>\n")) {
					t.Errorf("%s is not an SVG document", path)
				}
			}
		})
	}
}

func TestReportOfANamedExperiment(t *testing.T) {
	db := fixtureDB(t)
	r := reportJSON(t, reporttest.Warmup, "--db", db, "--top", "1")
	if r.Experiment.Name != reporttest.Warmup || len(r.Candidates) != 1 {
		t.Errorf("report of %s with %d candidates, want %s with its one trial", r.Experiment.Name, len(r.Candidates), reporttest.Warmup)
	}
	if r = reportJSON(t, "--db", db, "--top", "3"); len(r.Top) != 3 {
		t.Errorf("--top 3 listed %d", len(r.Top))
	}
}

func TestReportAndParetoRefuseBadInput(t *testing.T) {
	db := fixtureDB(t)
	missing := filepath.Join(t.TempDir(), "missing.db")
	foreign := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(foreign, bytes.Repeat([]byte("not a database\n"), 10), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown experiment", []string{"report", "nope", "--db", db}, `experiment "nope": not found; the database holds: warmup, fixture`},
		{"two experiments", []string{"report", "a", "b", "--db", db}, "want at most one experiment name"},
		{"missing database", []string{"report", "--db", missing}, "no database at " + missing},
		{"foreign file", []string{"report", "--db", foreign}, "is not a SQLite database"},
		{"unknown format", []string{"report", "--db", db, "--format", "pdf"}, "valid formats are table, md, csv, json, html, svg, png"},
		{"no rows", []string{"report", "--db", db, "--top", "0"}, "--top must be at least 1"},
		{"unknown accuracy", []string{"report", "--db", db, "--accuracy", "f1"}, `unknown objective "f1"; valid: val_acc, test_acc`},
		{"untested", []string{"report", "--db", db, "--accuracy", "test_acc"}, "test_acc was not measured for trial"},
		{"pareto: unknown cost", []string{"pareto", "--db", db, "--x", "flops"}, `--x: unknown objective "flops"; valid: macs, params, latency`},
		{"pareto: cost as accuracy", []string{"pareto", "--db", db, "--y", "macs"}, `--y: unknown objective "macs"; valid: val_acc, test_acc`},
		{"pareto: untested", []string{"pareto", "--db", db, "--y", "test_acc"}, "test_acc was not measured"},
		{"pareto: unknown experiment", []string{"pareto", "nope", "--db", db}, `experiment "nope": not found`},
		{"pareto: unknown format", []string{"pareto", "--db", db, "--format", "html"}, "valid formats are table, md, json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runNAS(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
