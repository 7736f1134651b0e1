package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filledDB creates a closed nas database at path with enough rows to span many pages.
func filledDB(t testing.TB, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp := newExperiment(t, s, "e")
	archs := map[string]Arch{}
	for i := range 40 {
		a := testArch(i)
		archs[a.Hash] = a
		addTrials(t, s, exp, 0, a)
	}
	for range archs {
		tr := claim(t, s, exp, "w", time.Minute)
		if err := s.FinishTrial(ctx, tr.ID, "w", testResult(archs[tr.Key.ArchHash], 7, int(tr.ID))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns the names and contents of every file in dir.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestOpenRefusesWithoutTouching(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string) // writes the bad file at path
		kind error
		text string // a part of the message
	}{
		{"TextFile", func(t *testing.T, path string) {
			writeFile(t, path, []byte("experiments:\n  - name: a\n"))
		}, ErrNotSQLite, `nas.db is not a SQLite database (it begins with "experiments:\n  -")`},
		{"ShortFile", func(t *testing.T, path string) {
			writeFile(t, path, []byte("SQLite format 3\x00\x10\x00"))
		}, ErrNotSQLite, "is not a SQLite database"},
		{"PNG", func(t *testing.T, path string) {
			writeFile(t, path, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 200)...))
		}, ErrNotSQLite, "is not a SQLite database"},
		{"GarbledPage", func(t *testing.T, path string) {
			filledDB(t, path)
			damage(t, path, func(b []byte) []byte {
				for i := 2 * 4096; i < 3*4096; i++ {
					b[i] = byte(i * 7)
				}
				return b
			})
		}, ErrCorrupt, "is corrupt"},
		{"Truncated", func(t *testing.T, path string) {
			filledDB(t, path)
			damage(t, path, func(b []byte) []byte { return b[:len(b)/2] })
		}, ErrCorrupt, "is corrupt"},
		{"BadPageSize", func(t *testing.T, path string) {
			filledDB(t, path)
			damage(t, path, func(b []byte) []byte { b[16], b[17] = 0x12, 0x34; return b })
		}, ErrCorrupt, "is corrupt"},
		{"NewerSchema", func(t *testing.T, path string) {
			filledDB(t, path)
			db := rawDB(t, sqliteBackend, path, "mode=rw")
			if _, err := db.Exec("PRAGMA user_version = 7"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, ErrNewerSchema, fmt.Sprintf("nas.db was written by a newer nas (schema 7, this binary knows %d); upgrade nas", SchemaVersion)},
		{"NegativeSchemaVersion", func(t *testing.T, path string) {
			filledDB(t, path)
			db := rawDB(t, sqliteBackend, path, "mode=rw")
			if _, err := db.Exec("PRAGMA user_version = -5"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, ErrCorrupt, "nas.db is corrupt (its header gives schema version -5)"},
		{"OtherProgram", func(t *testing.T, path string) {
			db := rawDB(t, sqliteBackend, path, "mode=rwc")
			if _, err := db.Exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, ErrNotNAS, "is a SQLite database of another program"},
		{"OtherApplicationID", func(t *testing.T, path string) {
			db := rawDB(t, sqliteBackend, path, "mode=rwc")
			if _, err := db.Exec("PRAGMA application_id = 42"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, ErrNotNAS, "application_id 0x2a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "nas.db")
			tc.make(t, path)
			before := snapshot(t, dir)
			// Relative, as a user types it, so that the message names the file the same way.
			t.Chdir(dir)
			for name, open := range map[string]func(string) (*DB, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
				s, err := open("nas.db")
				if err == nil {
					s.Close()
					t.Fatalf("%s succeeded, want an error", name)
				}
				var fe *FileError
				if !errors.Is(err, tc.kind) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.text) {
					t.Errorf("%s: err = %v\nwant a FileError %q containing %q", name, err, tc.kind, tc.text)
				}
				after := snapshot(t, dir)
				for f, content := range before {
					if after[f] != content {
						t.Errorf("%s changed %s", name, f)
					}
				}
				for f := range after {
					if _, ok := before[f]; !ok {
						t.Errorf("%s left a new file %s", name, f)
					}
				}
			}
		})
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damage rewrites the file at path with edit applied to its content.
func damage(t testing.TB, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, edit(b))
}

func TestOpenEmptyFileMakesADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.db")
	writeFile(t, path, nil)
	if _, err := OpenReadOnly(path); !errors.Is(err, ErrOlderSchema) {
		t.Errorf("OpenReadOnly of an empty file: err = %v, want ErrOlderSchema", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	newExperiment(t, s, "e")
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, sqliteMagic) {
		t.Errorf("after Open and Close the file begins %q (%v), want a SQLite header", b[:min(len(b), 16)], err)
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.db")
	if _, err := OpenReadOnly(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly of a missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s", path)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "my nas.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
}

// FuzzOpen feeds arbitrary bytes to Open as a database file: it must not panic, and when it
// refuses a file it must leave it as it was.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	filledDB(f, path)
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:4096])
	f.Add([]byte("SQLite format 3\x00"))
	f.Add([]byte("not a database at all"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "nas.db")
		writeFile(t, path, b)
		s, err := Open(path)
		if err != nil {
			if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
				t.Fatalf("Open failed (%v) and changed the file", err)
			}
			return
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
