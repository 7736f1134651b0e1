package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/store"
	"github.com/gonas/nas/store/storetest"
)

func TestDBCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "nas.db")
	s, err := store.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096; i < len(b); i++ { // every page but the first, with the header
		b[i] = byte(i * 13)
	}
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout for code 0, in stderr otherwise
	}{
		{"Sound", []string{"db", "check", "--db", good}, 0, fmt.Sprintf("%s: ok (schema %d, 0 experiments)", good, store.SchemaVersion)},
		{"FlagFirst", []string{"db", "--db", good, "check"}, 0, ": ok"},
		{"Missing", []string{"db", "check", "--db", filepath.Join(dir, "none.db")}, 2, "no database at " + dir},
		{"NotADatabase", []string{"db", "check", "--db", text}, 2, "is not a SQLite database"},
		{"Corrupt", []string{"db", "check", "--db", corrupt}, 1, "is corrupt"},
		{"NoSubcommand", []string{"db"}, 2, "want one subcommand, init, migrate, check or copy"},
		{"TwoSubcommands", []string{"db", "check", "init"}, 2, "want one subcommand"},
		{"CopyWithoutTarget", []string{"db", "copy", good}, 2, "nas db copy takes two databases, FROM and TO"},
		{"MigrateMissing", []string{"db", "migrate", "--db", filepath.Join(dir, "none.db")}, 2, "nas db init makes one"},
		{"InitExisting", []string{"db", "init", "--db", good}, 2, fmt.Sprintf("holds a nas database already (schema %d); nas db migrate upgrades it", store.SchemaVersion)},
		{"InitForeign", []string{"db", "init", "--db", text}, 2, "is not a SQLite database"},
		{"BadURL", []string{"db", "check", "--db", "postgres://u:pw@host/db?pool_max_conns=-1"}, 2, "pool_max_conns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runNAS(t, tc.args...)
			got := out
			if tc.code != 0 {
				got = stderr
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("nas %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, stderr, tc.code, tc.want)
			}
		})
	}
}

// TestDBOnEachBackend walks a database of each backend through its life with nas: init,
// migrate, a search, check, a report, and a copy into SQLite that reports the same. The search
// stores the same trials in either database.
func TestDBOnEachBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs searches")
	}
	ref := filepath.Join(t.TempDir(), "reference.db")
	if code, _, stderr := runNAS(t, "search", tinyExperiment, "--db", ref); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := trialsOf(t, ref)
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		dsn := b.Fresh(t)
		secret := "" // a password nas must never print
		if store.IsURL(dsn) {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(u.User.Username(), "hunter2") // the test server trusts everyone
			dsn, secret = u.String(), "hunter2"
		}
		step := func(code int, want string, args ...string) string {
			t.Helper()
			got, out, stderr := runNAS(t, args...)
			if secret != "" && strings.Contains(out+stderr, secret) {
				t.Errorf("nas %v printed the password: %s%s", args[:2], out, stderr)
			}
			if got != code || !strings.Contains(out+stderr, want) {
				t.Fatalf("nas %v: exit %d, stdout %q, stderr %q; want exit %d and %q", args, got, out, stderr, code, want)
			}
			return out
		}
		empty := "no database at" // a SQLite file that does not exist yet
		if secret != "" {
			empty = "holds no nas data yet"
		}
		step(2, empty, "db", "check", "--db", dsn)
		step(0, fmt.Sprintf("a new nas database (schema %d)", store.SchemaVersion), "db", "init", "--db", dsn)
		step(2, "holds a nas database already", "db", "init", "--db", dsn)
		step(0, fmt.Sprintf("schema %d already, nothing to migrate", store.SchemaVersion), "db", "migrate", "--db", dsn)
		step(0, "", "search", tinyExperiment, "--db", dsn)
		if got := trialsOf(t, dsn); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the search stored\n%s\nwant, as in SQLite,\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		step(0, fmt.Sprintf("ok (schema %d, 1 experiments)", store.SchemaVersion), "db", "check", "--db", dsn)
		step(0, "tiny", "ls", "--db", dsn)
		report := step(0, "", "report", "tiny", "--format", "csv", "--db", dsn)

		copied := filepath.Join(t.TempDir(), "copy.db")
		step(0, "copied 1 experiments (tiny) to "+copied+": 7 trials, 7 results, 7 new architectures", "db", "copy", dsn, copied)
		step(2, `holds experiments of the same names already ("tiny")`, "db", "copy", dsn, copied)
		if again := step(0, "", "report", "tiny", "--format", "csv", "--db", copied); again != report {
			t.Errorf("the copy reports\n%s\nwant\n%s", again, report)
		}
	})
}
