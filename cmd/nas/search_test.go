package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/store"
)

const tinyExperiment = "../../configs/search/tiny.yaml"

// tinyWith writes the tiny experiment with old replaced by new into dir, the paths it names made
// absolute, and returns its path.
func tinyWith(t *testing.T, dir, old, new string) string {
	t.Helper()
	tiny, err := os.ReadFile(tinyExperiment)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(filepath.Dir(tinyExperiment))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(tiny), "../", abs+"/../")
	if !strings.Contains(text, old) {
		t.Fatalf("the tiny experiment has no %q", old)
	}
	p := filepath.Join(dir, "changed.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(text, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// finishedTrials returns the finished trials of experiment name in the database at path, in the
// order they were added, and fails the test unless every trial of it is finished.
func finishedTrials(t *testing.T, path, name string) []store.Evaluation {
	t.Helper()
	st, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	exp, err := st.Experiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.Trials(ctx, exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Evaluations(ctx, exp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(trials) {
		t.Fatalf("%s: %d of %d trials of %s are finished", path, len(evs), len(trials), name)
	}
	return evs
}

// trialsOf returns what the finished trials of experiment tiny in the database at path say
// about the search, sorted, and fails the test unless every trial is finished.
func trialsOf(t *testing.T, path string) []string {
	t.Helper()
	evs := finishedTrials(t, path, "tiny")
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("gen %d %s %s %v %s val_acc %v", ev.Trial.Generation, ev.Trial.Operator,
			ev.Trial.Key.ArchHash, ev.Trial.Parents, ev.Result.Status, ev.Result.ValAcc)
	}
	slices.Sort(out)
	return out
}

// TestSearchTiny runs the tiny experiment once, never interrupted, and checks against it what
// nas search does when it resumes, is refused or is killed.
func TestSearchTiny(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "reference.db")
	code, out, stderr := runNAS(t, "search", tinyExperiment, "--db", ref, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum search.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json printed no summary: %v\n%s", err, out)
	}
	if sum.Status != store.ExperimentDone || sum.Stats.Trials != 6 || len(sum.Front) == 0 || len(sum.Baselines) != 1 {
		t.Errorf("summary %+v", sum)
	}
	want := trialsOf(t, ref)
	if len(want) != 7 {
		t.Fatalf("%d trials stored, want 6 and a baseline:\n%s", len(want), strings.Join(want, "\n"))
	}
	copyRef := func(t *testing.T) string {
		b, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(t.TempDir(), "nas.db")
		if err := os.WriteFile(db, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return db
	}

	t.Run("ResumesAFinishedExperimentFromTheStore", func(t *testing.T) {
		db := copyRef(t)
		code, out, stderr := runNAS(t, "search", tinyExperiment, "--db", db)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{"gen 0: 3/6 evaluations", "gen 1: 6/6 evaluations, best val_acc", "reused 6"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("progress lacks %q:\n%s", want, stderr)
			}
		}
		if !strings.Contains(out, "nin_small_mnist") || !strings.Contains(out, "baseline") || !strings.Contains(out, "0 trained, 6 reused") {
			t.Errorf("the summary lacks the baseline or the reuse:\n%s", out)
		}
		if got := trialsOf(t, db); !slices.Equal(got, want) {
			t.Errorf("resuming a finished experiment changed its trials:\n%s", strings.Join(got, "\n"))
		}
	})

	t.Run("RefusesToResumeAChangedExperiment", func(t *testing.T) {
		db := copyRef(t)
		changed := tinyWith(t, t.TempDir(), "seed: 1", "seed: 2")
		code, _, stderr := runNAS(t, "search", changed, "--db", db)
		if code != 2 || !strings.Contains(stderr, `experiment "tiny"`) || !strings.Contains(stderr, "seed differ") || !strings.Contains(stderr, "--name") {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming the seed and suggesting --name", code, stderr)
		}
	})

	// Stop a search once the baseline and two candidates are stored, in the middle of the
	// search, then resume it.
	for _, sig := range []os.Signal{os.Kill, os.Interrupt} {
		t.Run("ResumesAfter"+strings.ToUpper(sig.String()[:1])+sig.String()[1:], func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "nas.db")
			cmd := exec.Command(os.Args[0], "-test.run=^TestSearchHelperProcess$")
			cmd.Env = append(os.Environ(), "NAS_SEARCH_TEST_DB="+db)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for stored := 0; stored < 3; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("the search stored fewer than 3 trials in 2 minutes")
				}
				stored = countTrials(db)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			stopped := countTrials(db)
			if stopped >= 7 {
				t.Fatalf("the search had ended (%d trials) before it was stopped", stopped)
			}
			t.Logf("stopped after %d trials", stopped)
			if sig == os.Interrupt {
				// Ctrl-C: the command stops cleanly, says so, and marks the experiment interrupted.
				if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "interrupted; run the same command again") {
					t.Errorf("after Ctrl-C: exit %d (%v), stderr:\n%s", code, err, stderr.String())
				}
				if status := experimentStatus(t, db); status != store.ExperimentInterrupted {
					t.Errorf("after Ctrl-C the experiment is %q, want interrupted", status)
				}
			}
			code, _, errs := runNAS(t, "search", tinyExperiment, "--db", db)
			if code != 0 {
				t.Fatalf("resuming: exit %d: %s", code, errs)
			}
			if got := trialsOf(t, db); !slices.Equal(got, want) {
				t.Errorf("stopped after %d trials and resumed:\n%s\nnever interrupted:\n%s", stopped, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if status := experimentStatus(t, db); status != store.ExperimentDone {
				t.Errorf("after resuming, the experiment is %q, want done", status)
			}
		})
	}
}

// TestSearchHelperProcess is the nas search that TestSearchTiny starts and stops, with the
// signal handling of main.
func TestSearchHelperProcess(t *testing.T) {
	db := os.Getenv("NAS_SEARCH_TEST_DB")
	if db == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, []string{"search", tinyExperiment, "--db", db, "--workers", "1", "--threads", "1"}, os.Stdout, os.Stderr))
}

// experimentStatus returns the status of experiment tiny in the database at path.
func experimentStatus(t *testing.T, path string) store.ExperimentStatus {
	t.Helper()
	st, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.Experiment(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	return exp.Status
}

func TestSearchRefusesBadInputWithExitCode2(t *testing.T) {
	cases := []struct {
		name     string
		old, new string // a change to the tiny experiment, if any
		args     []string
		want     string // a regexp over stderr
	}{
		{"an unknown key", "seed: 1", "seeds: 1", nil, `changed\.yaml:\d+:\d+: field "seeds": unknown field`},
		{"a strategy out of range", "pop_size: 3", "pop_size: 2", nil, `changed\.yaml:\d+:\d+: field "strategy\.pop_size": nsga2: pop_size is 2`},
		{"an over-constrained space", "max_params: 60k", "max_params: 10", nil, `cannot meet its constraints.*over the budget of 10`},
		{"too many threads", "", "", []string{tinyExperiment, "--workers", "2", "--threads", "100000"}, `usable cores`},
		{"no file", "", "", []string{"--json"}, `want one experiment file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"search", "--db", filepath.Join(dir, "nas.db")}, c.args...)
			if c.old != "" {
				args = append(args, tinyWith(t, dir, c.old, c.new))
			}
			code, _, stderr := runNAS(t, args...)
			if code != 2 || !regexp.MustCompile(c.want).MatchString(stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, c.want)
			}
		})
	}
}

// countTrials returns how many trials the database at path holds, 0 if it cannot be read yet.
func countTrials(path string) int {
	st, err := store.OpenReadOnly(path)
	if err != nil {
		return 0
	}
	defer st.Close()
	exps, err := st.Experiments(context.Background())
	if err != nil || len(exps) == 0 {
		return 0
	}
	trials, _ := st.Trials(context.Background(), exps[0].ID)
	return len(trials)
}

func TestSearchSummaryMatchesGolden(t *testing.T) {
	sum := &search.Summary{
		Experiment: "quick", Status: store.ExperimentDone, Objectives: []evaluator.Objective{evaluator.ValAcc, evaluator.MACs},
		Workers: 2, Threads: 1,
		Stats:         search.Stats{Batches: 3, Trials: 24, Budget: 24, Trained: 21, Duplicates: 3, Best: []float64{-0.763, 468128}, FrontSize: 2},
		DuplicateRate: 0.125,
		Front: []search.Entry{
			{Trial: 10, Name: "quick/t10", Family: "resnext+inception+se+ror", Batch: 1, Operator: "crossover+mutate", Status: evaluator.StatusOK, ValAcc: 0.763, Params: 27654, MACs: 1251912, LatencyMs: 0.34},
			{Trial: 14, Name: "quick/t14", Family: "resnext+preact_basic+se+ror", Batch: 1, Operator: "mutate", Status: evaluator.StatusOK, ValAcc: 0.666, Params: 7532, MACs: 468128, LatencyMs: 0.25},
		},
		Baselines: []search.Entry{
			{Trial: -1, Name: "resnet20_mnist", Family: "basic", Operator: "baseline", Status: evaluator.StatusOK, ValAcc: 0.7477, Params: 272186, MACs: 31021952, LatencyMs: 1.92},
			{Trial: -1, Name: "vgg_small_mnist", Family: "plain", Operator: "baseline", Status: evaluator.StatusDiverged},
		},
		Seeded: []string{"resnet20_mnist"},
	}
	var out bytes.Buffer
	for _, s := range []search.Stats{{Batches: 1, Trials: 8, Budget: 24}, {Batches: 2, Trials: 16, Budget: 24, Trained: 15, Duplicates: 1, Failures: 1, Best: []float64{-0.75, 1.5e6}, FrontSize: 3}, sum.Stats} {
		fmt.Fprintln(&out, batchLine(s, sum.Objectives, 4*time.Minute))
	}
	printSummary(&out, sum)
	checkGolden(t, "search_summary.golden", out.String())
}
