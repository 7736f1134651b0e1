package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
)

// fillVariety stores in s two experiments with a bit of everything: results good and bad, NaN
// and infinite figures, a failure that is not cached, a trial that reuses another experiment's
// result, one recorded outside the queue, a final training of it, a running trial and a
// pending one.
func fillVariety(t testing.TB, s Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	e1 := newExperiment(t, s, prefix+"e1")
	archs := []Arch{testArch(0), testArch(1), testArch(2), testArch(3), testArch(4)}
	addTrials(t, s, e1, 0, archs[:3]...)
	addTrials(t, s, e1, 1, archs[3:]...)
	for i := range 3 {
		tr := claim(t, s, e1, "w1", time.Minute)
		r := testResult(archs[tr.ID%5], 7, i)
		r.Params, r.MACs = 0, 0
		switch i {
		case 0:
			r.ValLoss = math.NaN()
			r.Epochs[1].TrainLoss = math.Inf(1)
			r.Tested = false
			r.TestLoss, r.TestAcc = 0, 0
		case 1:
			r = evaluator.Result{Status: evaluator.StatusDiverged, Message: "loss is NaN at step 3", ValLoss: math.NaN()}
		case 2:
			r = evaluator.Result{Status: evaluator.StatusError, Message: "disk full"}
		}
		if err := s.FinishTrial(ctx, tr.ID, "w1", r); err != nil {
			t.Fatal(err)
		}
	}
	claim(t, s, e1, "w2", time.Hour) // left running; the last trial stays pending
	if err := s.SetExperimentStatus(ctx, e1, ExperimentInterrupted); err != nil {
		t.Fatal(err)
	}

	e2 := newExperiment(t, s, prefix+"e2")
	addTrials(t, s, e2, 0, archs[0]) // cached from e1
	spec := TrialSpec{Key: EvalKey{ArchHash: archs[4].Hash, Dataset: "d", RecipeHash: "r2", Fidelity: 0.5, Seed: 1 << 63},
		Generation: 3, Parents: []string{archs[0].Hash, archs[1].Hash}, Operator: "crossover"}
	src, err := s.RecordTrial(ctx, e2, spec, testResult(archs[4], 1<<63, 9))
	if err != nil {
		t.Fatal(err)
	}
	final := TrialSpec{Key: EvalKey{ArchHash: archs[4].Hash, Dataset: "d", RecipeHash: "full", Fidelity: 30, Seed: 2},
		Generation: 3, Operator: "final", Phase: PhaseFinal, Source: src}
	if _, err := s.RecordTrial(ctx, e2, final, testResult(archs[4], 2, 10)); err != nil {
		t.Fatal(err)
	}
}

// dumpTables returns every row of every table and view of s, each as one line, sorted, with
// true and false as 1 and 0 (PostgreSQL's booleans, SQLite's integers).
func dumpTables(t testing.TB, s *DB) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	names := []string{"v_results", "v_curves", "v_trials", "v_experiments", "v_finals"}
	for _, tb := range copyTables {
		if !tb.skip {
			names = append(names, tb.name)
		}
	}
	err := s.read(ctx, func(tx txn) error {
		for _, name := range names {
			rows, err := tx.QueryContext(ctx, "SELECT * FROM "+name)
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			values := make([]any, len(cols))
			dest := make([]any, len(cols))
			for i := range values {
				dest[i] = &values[i]
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				line := name
				for i, v := range values {
					switch x := v.(type) {
					case bool:
						v = map[bool]int64{false: 0, true: 1}[x]
					case []byte:
						v = string(x)
					}
					line += fmt.Sprintf(" %s=%v", cols[i], v)
				}
				lines = append(lines, line)
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// copyInto copies from into a new database of backend b and returns it, open.
func copyInto(t *testing.T, from *DB, b backend) *DB {
	t.Helper()
	to, _ := openTemp(t, b)
	if _, err := Copy(context.Background(), from, to); err != nil {
		t.Fatalf("copying %s into %s: %v", from.where, to.where, err)
	}
	return to
}

// TestCopyRoundTrip copies a SQLite database into each backend and back into SQLite: every row
// of every table and view arrives as it was, IDs included (an empty target numbers its rows as
// the source did).
func TestCopyRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a, _ := openTemp(t, sqliteBackend)
		fillVariety(t, a, "")
		want := dumpTables(t, a)
		if !strings.Contains(want, "cached=1") || !strings.Contains(want, "status=running") || !strings.Contains(want, "+Inf") ||
			!strings.Contains(want, "v_finals") {
			t.Fatalf("the source lacks a cached trial, a running one, an infinite loss or a final one:\n%s", want)
		}
		middle := copyInto(t, a, b)
		if got := dumpTables(t, middle); got != want {
			t.Errorf("%s after the copy:\n%s\nwant\n%s", b.Name, got, want)
		}
		back := copyInto(t, middle, sqliteBackend)
		if got := dumpTables(t, back); got != want {
			t.Errorf("SQLite after the copy back:\n%s\nwant\n%s", got, want)
		}
		if problems, err := back.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Errorf("Check after the round trip: %q, %v", problems, err)
		}
	})
}

// withoutIDs is ev with the IDs that a copy assigns anew zeroed.
func withoutIDs(ev Evaluation) string {
	ev.Trial.ID, ev.Trial.ExperimentID, ev.Trial.ResultID, ev.ResultID, ev.Trial.Source = 0, 0, 0, 0, 0
	return fmt.Sprintf("%#v", ev)
}

// TestCopyIntoADatabaseInUse copies into a database that holds experiments, architectures and
// cache entries of its own: the copied experiments read as they did, what the target held is
// untouched, and a second copy of the same experiments is refused whole.
func TestCopyIntoADatabaseInUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		from, _ := openTemp(t, sqliteBackend)
		fillVariety(t, from, "")
		to, _ := openTemp(t, b)
		fillVariety(t, to, "old-") // the same architectures and keys, other results
		before := dumpTables(t, to)

		c, err := Copy(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Experiments, []string{"e1", "e2"}) || c.Rows["trials"] != 8 || c.Rows["results"] != 5 ||
			c.Rows["architectures"] != 0 || c.Rows["eval_cache"] != 0 || c.Rows["epochs"] != 9 {
			t.Errorf("Copy = %+v; want e1 and e2 with 8 trials, 5 results, 9 epochs, and no architecture or cache entry new", c)
		}
		for _, name := range c.Experiments {
			src, err := from.Experiment(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			dst, err := to.Experiment(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := from.Evaluations(ctx, src.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := to.Evaluations(ctx, dst.ID)
			if err != nil {
				t.Fatal(err)
			}
			if src.ID = dst.ID; fmt.Sprint(src) != fmt.Sprint(dst) {
				t.Errorf("experiment %s copied as\n%+v\nwant\n%+v", name, dst, src)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d evaluations copied, want %d", name, len(got), len(want))
			}
			copied := map[int64]int64{} // trial IDs of the target by those of the source
			for i := range want {
				copied[want[i].Trial.ID] = got[i].Trial.ID
				if withoutIDs(got[i]) != withoutIDs(want[i]) {
					t.Errorf("%s: evaluation copied as\n%s\nwant\n%s", name, withoutIDs(got[i]), withoutIDs(want[i]))
				}
				if src := want[i].Trial.Source; src != 0 && got[i].Trial.Source != copied[src] {
					t.Errorf("%s: trial %d copied from the source's trial of ID %d, want %d", name, got[i].Trial.ID, got[i].Trial.Source, copied[src])
				}
			}
		}
		for _, e := range []string{"old-e1", "old-e2"} {
			if !strings.Contains(dumpTables(t, to), "experiment="+e) {
				t.Errorf("experiment %s of the target is gone", e)
			}
		}

		after := dumpTables(t, to)
		_, err = Copy(ctx, from, to)
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `"e1", "e2"`) {
			t.Errorf("copying the same experiments again: err = %v, want ErrExists naming e1 and e2", err)
		}
		if got := dumpTables(t, to); got != after {
			t.Error("a refused copy changed the target")
		}
		if before == after {
			t.Error("the copy changed nothing")
		}
	})
}

// TestCopyCoversEveryTable checks copyTables against the schema, so that a migration that adds
// a table or a reference cannot leave Copy behind: every table is copied, and every column that
// refers to a table whose IDs Copy assigns anew is mapped.
func TestCopyCoversEveryTable(t *testing.T) {
	s, _ := openTemp(t, sqliteBackend)
	ctx := context.Background()
	err := s.read(ctx, func(tx txn) error {
		tables, err := queryStrings(ctx, tx, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
		if err != nil {
			return err
		}
		var copied []string
		withIDs := map[string]copyTable{}
		for _, tb := range copyTables {
			copied = append(copied, tb.name)
			withIDs[tb.name] = tb
		}
		slices.Sort(copied)
		if !slices.Equal(tables, copied) {
			t.Errorf("the schema has tables %v, Copy copies %v", tables, copied)
		}
		for _, table := range tables {
			rows, err := tx.QueryContext(ctx, "SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?)", table)
			if err != nil {
				return err
			}
			for rows.Next() {
				var from, to string
				if err := rows.Scan(&from, &to); err != nil {
					return err
				}
				if withIDs[to].id && withIDs[table].refs[from] != to {
					t.Errorf("%s.%s refers to %s, whose IDs Copy assigns anew, but Copy does not map it", table, from, to)
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
