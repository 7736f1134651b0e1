package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gonas/nas/reports"
)

func TestParetoPrintsTheNondominatedNetworks(t *testing.T) {
	db := fixtureDB(t)
	r := reportJSON(t, "--db", db)
	for _, x := range reports.Costs {
		t.Run(string(x), func(t *testing.T) {
			code, out, stderr := runNAS(t, "pareto", "--db", db, "--x", string(x), "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var front []reports.Candidate
			if err := json.Unmarshal([]byte(out), &front); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			onFront := map[int64]bool{}
			for i, c := range front {
				onFront[c.Trial] = true
				if i > 0 && front[i-1].Value(x) > c.Value(x) {
					t.Errorf("front not in increasing order of %s at trial %d", x, c.Trial)
				}
			}
			// Every compared network is on the front or dominated by a member, and no member
			// dominates another.
			dominated := func(c *reports.Candidate, by []reports.Candidate) bool {
				return slices.ContainsFunc(by, func(d reports.Candidate) bool {
					return d.ValAcc >= c.ValAcc && d.Value(x) <= c.Value(x) && (d.ValAcc > c.ValAcc || d.Value(x) < c.Value(x))
				})
			}
			for i := range r.Candidates {
				c := &r.Candidates[i]
				if c.Compared && !onFront[c.Trial] && !dominated(c, front) {
					t.Errorf("trial %d (%s) is neither on the front nor dominated by it", c.Trial, c.Label())
				}
				if !c.Compared && onFront[c.Trial] {
					t.Errorf("trial %d is on the front but not compared (%s, duplicate %v)", c.Trial, c.Status, c.Duplicate)
				}
			}
			for i := range front {
				if dominated(&front[i], front) {
					t.Errorf("front member %d is dominated by another", front[i].Trial)
				}
			}

			code, table, stderr := runNAS(t, "pareto", "--db", db, "--x", string(x))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.HasPrefix(table, "Pareto front: val. accuracy against "+x.Label()) {
				t.Errorf("table output begins %.60q", table)
			}
			for _, c := range front {
				row := regexp.MustCompile(`\|\s+` + strconv.FormatInt(c.Trial, 10) + ` \| ` + regexp.QuoteMeta(c.Label()) + ` `)
				if !row.MatchString(table) {
					t.Errorf("table lacks trial %d %s:\n%s", c.Trial, c.Label(), table)
				}
			}
		})
	}
}
