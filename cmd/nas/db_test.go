package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/store"
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
		{"Sound", []string{"db", "check", "--db", good}, 0, good + fmt.Sprintf(": ok (schema %d, 0 experiments)", store.SchemaVersion)},
		{"FlagFirst", []string{"db", "--db", good, "check"}, 0, ": ok"},
		{"Missing", []string{"db", "check", "--db", filepath.Join(dir, "none.db")}, 2, "no such file"},
		{"NotADatabase", []string{"db", "check", "--db", text}, 2, "is not a SQLite database"},
		{"Corrupt", []string{"db", "check", "--db", corrupt}, 1, "is corrupt"},
		{"NoSubcommand", []string{"db"}, 2, "want the subcommand check"},
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
