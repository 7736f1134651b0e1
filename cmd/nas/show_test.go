package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gonas/nas/store"
)

func TestLsListsExperimentsWithProgress(t *testing.T) {
	db := fixtureDB(t)
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	exps, _ := st.Experiments(context.Background())
	evals, _ := st.Evaluations(context.Background(), exps[0].ID)
	st.Close()

	code, out, stderr := runNAS(t, "ls", "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	row := regexp.MustCompile(`(?m)^\|\s*` + regexp.QuoteMeta(exps[0].Name) + `\s*\|.*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)%`).FindStringSubmatch(out)
	if row == nil {
		t.Fatalf("no row for experiment %q in:\n%s", exps[0].Name, out)
	}
	if row[2] != strconv.Itoa(len(evals)) {
		t.Errorf("done column %s, store has %d finished trials", row[2], len(evals))
	}
	best := 0.0
	for _, ev := range evals {
		if ev.Result.Status == "ok" {
			best = max(best, ev.Result.ValAcc)
		}
	}
	if want := strconv.FormatFloat(100*best, 'f', 2, 64); row[3] != want {
		t.Errorf("best val acc %s%%, want %s%%", row[3], want)
	}
}

func TestShowTrialPrintsItsCurve(t *testing.T) {
	db := fixtureDB(t)
	st, _ := store.OpenReadOnly(db)
	exps, _ := st.Experiments(context.Background())
	evals, _ := st.Evaluations(context.Background(), exps[0].ID)
	st.Close()
	var ev store.Evaluation
	for _, e := range evals {
		if len(e.Result.Epochs) > len(ev.Result.Epochs) {
			ev = e
		}
	}
	code, out, stderr := runNAS(t, "show", strconv.FormatInt(ev.Trial.ID, 10), "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{ev.Arch.Hash, ev.Arch.Name, strconv.FormatInt(ev.Arch.Params, 10)} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	curve := out[strings.Index(out, "Learning curve"):]
	rows := regexp.MustCompile(`(?m)^\|\s*\d+\s*\|`).FindAllString(curve, -1)
	if len(rows) != len(ev.Result.Epochs) {
		t.Errorf("curve has %d rows, result has %d epochs:\n%s", len(rows), len(ev.Result.Epochs), curve)
	}
}

func TestShowExperimentListsEveryFinishedTrial(t *testing.T) {
	db := fixtureDB(t)
	st, _ := store.OpenReadOnly(db)
	exps, _ := st.Experiments(context.Background())
	evals, _ := st.Evaluations(context.Background(), exps[0].ID)
	st.Close()
	code, out, stderr := runNAS(t, "show", exps[0].Name, "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, ev := range evals {
		if !regexp.MustCompile(`(?m)^\|\s*` + strconv.FormatInt(ev.Trial.ID, 10) + `\s*\|\s*` + regexp.QuoteMeta(ev.Arch.Name)).MatchString(out) {
			t.Errorf("no row for trial %d (%s)", ev.Trial.ID, ev.Arch.Name)
		}
	}
}

func TestShowRejectsUnknownTrialsAndExperiments(t *testing.T) {
	db := fixtureDB(t)
	for _, arg := range []string{"99999", "no-such-experiment"} {
		code, _, stderr := runNAS(t, "show", arg, "--db", db)
		if code != 2 || !strings.Contains(stderr, "nas ls") {
			t.Errorf("show %s: exit %d, stderr %q; want 2 and a hint", arg, code, stderr)
		}
	}
	code, _, stderr := runNAS(t, "ls", "--db", db+".missing")
	if code != 2 {
		t.Errorf("ls on a missing file: exit %d (%s), want 2", code, stderr)
	}
}
