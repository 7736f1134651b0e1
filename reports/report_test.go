package reports_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/reports/reporttest"
	"github.com/gonas/nas/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const baselineDir = "../configs/baselines/small"

var fixture struct {
	once sync.Once
	path string
	err  error
}

// fixtureDB returns the path of a database holding reporttest's experiments, built once per test
// binary.
func fixtureDB(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "reports-fixture")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.path = filepath.Join(dir, "fixture.db")
		st, err := store.Open(fixture.path)
		if err != nil {
			fixture.err = err
			return
		}
		defer st.Close()
		fixture.err = reporttest.Build(context.Background(), st, baselineDir)
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.path != "" {
		os.RemoveAll(filepath.Dir(fixture.path))
	}
	os.Exit(code)
}

// fixtureData reads the fixture's experiment name (the latest when empty) with fixed times.
func fixtureData(t *testing.T, name string) *reports.Data {
	t.Helper()
	st, err := store.OpenReadOnly(fixtureDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := reports.Fetch(context.Background(), st, name)
	if err != nil {
		t.Fatal(err)
	}
	reporttest.FixTimes(d)
	return d
}

// fixtureReport is the report of the fixture's experiment with opt.
func fixtureReport(t *testing.T, opt reports.Options) *reports.Report {
	t.Helper()
	r, err := reports.New(fixtureData(t, ""), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		i := 0
		for i < min(len(gl), len(wl)) && bytes.Equal(gl[i], wl[i]) {
			i++
		}
		line := func(ls [][]byte) []byte {
			if i < len(ls) {
				return ls[i]
			}
			return []byte("(end of output)")
		}
		t.Errorf("output differs from %s (run go test -update to accept it) at line %d:\ngot:  %s\nwant: %s",
			path, i+1, line(gl), line(wl))
	}
}

func TestTextOutputsMatchGoldenFiles(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	for _, f := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return r.WriteText(b) }},
		{"report.md", func(b *bytes.Buffer) error { return r.WriteMarkdown(b) }},
		{"report.csv", func(b *bytes.Buffer) error { return r.WriteCSV(b) }},
	} {
		t.Run(f.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, b.Bytes())
		})
	}
}

func TestFiguresMatchGoldenSVG(t *testing.T) {
	r := fixtureReport(t, reports.Options{})
	for _, f := range r.Figures() {
		t.Run(f.Name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, f.Name+".svg", b.Bytes())
		})
	}
}
