package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

// TestSweepThenCompare runs the tiny experiment under two strategies and two seeds in one
// command, runs it again (which resumes every run), and compares the four runs.
func TestSweepThenCompare(t *testing.T) {
	db := filepath.Join(t.TempDir(), "nas.db")
	sweep := []string{"search", tinyExperiment, "--db", db, "--seeds", "1-2", "--strategies", "nsga2,random"}
	code, _, stderr := runNAS(t, sweep...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	names := []string{"tiny/nsga2/s1", "tiny/random/s1", "tiny/nsga2/s2", "tiny/random/s2"}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	es, err := st.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(names) {
		t.Fatalf("%d experiments stored, want %v", len(es), names)
	}
	for i, e := range es {
		strategy := strings.Split(names[i], "/")[1]
		if e.Name != names[i] || e.Strategy != strategy || e.Seed != uint64(i/2+1) || e.Status != store.ExperimentDone {
			t.Errorf("experiment %d: %s, %s, seed %d, %s; want %s", i, e.Name, e.Strategy, e.Seed, e.Status, names[i])
		}
		trials, err := st.Trials(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		searched := 0
		for _, tr := range trials {
			if tr.Operator != "baseline" {
				searched++
				if strategy == "random" && tr.Operator != "init" && tr.Operator != "random" {
					t.Errorf("%s: trial %d made by %s", e.Name, tr.ID, tr.Operator)
				}
			}
		}
		if searched != 6 {
			t.Errorf("%s: %d trials, want the budget of 6 for every strategy", e.Name, searched)
		}
	}
	st.Close()

	t.Run("RunningTheSweepAgainResumesEveryRun", func(t *testing.T) {
		code, out, stderr := runNAS(t, sweep...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if n := strings.Count(out, "6 evaluations, 0 trained"); n != 4 {
			t.Errorf("%d of 4 runs resumed without training:\n%s", n, out)
		}
	})

	t.Run("CompareGroupsTheRunsByStrategy", func(t *testing.T) {
		code, out, stderr := runNAS(t, "compare", "tiny/*", "--db", db, "--group-by", "strategy", "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var c reports.Comparison
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Experiments) != 4 || len(c.Groups) != 2 || c.Budget != 6 || c.Reference.MACs != 4e6 || len(c.Tests) != 2 {
			t.Errorf("comparison: %d experiments, %d groups, budget %d, reference %+v, %d tests",
				len(c.Experiments), len(c.Groups), c.Budget, c.Reference, len(c.Tests))
		}
		for _, e := range c.Experiments {
			if e.AtBudget.Hypervolume <= 0 || e.AtBudget.Hypervolume > 1 {
				t.Errorf("%s: hypervolume %v at the budget", e.Name, e.AtBudget.Hypervolume)
			}
		}
	})

	t.Run("EveryFormatRenders", func(t *testing.T) {
		for _, f := range compareFormats {
			code, out, stderr := runNAS(t, "compare", "tiny/nsga2/*", "tiny/random/s1", "--db", db, "--format", f)
			if code != 0 || !strings.Contains(out, "tiny/random/s1") {
				t.Errorf("--format %s: exit %d: %s\n%s", f, code, stderr, out)
			}
		}
	})

	t.Run("BadInputExitsWith2", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"compare", "tiny/nsga2/s1", "--db", db}, "at least two experiments"},
			{[]string{"compare", "none/*", "tiny/*", "--db", db}, "no experiment matches none/*"},
			{[]string{"compare", "tiny/nsga2/s1", "tiny/nsga2/s9", "--db", db}, "tiny/nsga2/s9"},
			{[]string{"compare", "tiny/*", "--db", db, "--group-by", "seed"}, `--group-by "seed"`},
			{[]string{"compare", "tiny/*", "--db", db, "--format", "svg"}, `--format "svg"`},
			{[]string{"search", tinyExperiment, "--db", db, "--strategies", "nsga2,bogus"}, `"bogus" is not a strategy`},
			{[]string{"search", tinyExperiment, "--db", db, "--seeds", "3-1"}, `"3-1" is not a seed`},
			{[]string{"search", tinyExperiment, "--db", db, "--seeds", "1,1"}, "seed 1 is given twice"},
			{[]string{"search", tinyExperiment, "--db", db, "--seeds", "1", "--name", "x"}, "--name cannot be given"},
		} {
			code, _, stderr := runNAS(t, c.args...)
			if code != 2 || !regexp.MustCompile(regexp.QuoteMeta(c.want)).MatchString(stderr) {
				t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
			}
		}
	})
}
