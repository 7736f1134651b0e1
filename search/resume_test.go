package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fileCache is a Cache in a JSON-lines file, standing in for the store in the kill -9 test:
// each Put appends one line and syncs it to disk before returning.
type fileCache struct {
	f *os.File
	m map[evalKey]Outcome
}

type cacheLine struct {
	Key      string  `json:"key"`
	Fidelity float64 `json:"fidelity"`
	Outcome
}

// openFileCache loads the cache at path, creating it if needed. A process killed in the middle
// of a Put can leave a partial last line; it is cut off, so that the next line starts clean.
func openFileCache(path string) (*fileCache, error) {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	whole := data[:bytes.LastIndexByte(data, '\n')+1]
	c := &fileCache{m: map[evalKey]Outcome{}}
	for n, line := range bytes.Split(bytes.TrimSuffix(whole, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l cacheLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		c.m[evalKey{l.Key, l.Fidelity}] = l.Outcome
	}
	if c.f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return nil, err
	}
	if err := c.f.Truncate(int64(len(whole))); err != nil {
		return nil, err
	}
	if _, err := c.f.Seek(0, 2); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *fileCache) Lookup(_ context.Context, key string, fidelity float64) (Outcome, bool, error) {
	o, ok := c.m[evalKey{key, fidelity}]
	return o, ok, nil
}

func (c *fileCache) Put(_ context.Context, req Request[string], o Outcome) error {
	line, err := json.Marshal(cacheLine{req.Key, req.Fidelity, o})
	if err != nil {
		return err
	}
	if _, err := c.f.Write(append(line, '\n')); err != nil {
		return err
	}
	c.m[evalKey{req.Key, req.Fidelity}] = o
	return c.f.Sync()
}

func (c *fileCache) Close() error { return c.f.Close() }

// killProblem and killConfig define the search that TestKillNineAndResume interrupts.
var killProblem = twoObjectives{f: newNK(14, 2, 8), failEvery: 7}

func killConfig(strategy string) Config[string] {
	s, err := NewStrategy(strategy)
	if err != nil {
		panic(err)
	}
	return Config[string]{Strategy: s, Seed: 11, Objectives: 2, Budget: 150, Workers: 3, Fidelities: []float64{1, 3}}
}

// TestHelperProcess is the searcher that TestKillNineAndResume starts and kills: it runs
// killConfig over the file cache named by NAS_SEARCH_HELPER_CACHE and, if it gets to the end,
// writes its trials as JSON to NAS_SEARCH_HELPER_OUT.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("NAS_SEARCH_HELPER_CACHE")
	if path == "" {
		return
	}
	cache, err := openFileCache(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ev := newRecorder(killProblem.outcome)
	ev.jitter = 6 * time.Millisecond // slow enough to be killed mid-search
	res, err := Run(context.Background(), bits{n: 14, maxOnes: -1}, ev, cache, killConfig(os.Getenv("NAS_SEARCH_HELPER_STRATEGY")))
	if err == nil {
		var out []byte
		if out, err = json.Marshal(res.Trials); err == nil {
			err = os.WriteFile(os.Getenv("NAS_SEARCH_HELPER_OUT"), out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(strategy, cache, out string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(),
		"NAS_SEARCH_HELPER_CACHE="+cache,
		"NAS_SEARCH_HELPER_STRATEGY="+strategy,
		"NAS_SEARCH_HELPER_OUT="+out)
	cmd.Stderr = os.Stderr
	return cmd
}

func lines(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

func TestKillNineAndResume(t *testing.T) {
	for _, strategy := range StrategyNames {
		t.Run(strategy, func(t *testing.T) {
			dir := t.TempDir()
			clean, err := openFileCache(filepath.Join(dir, "uninterrupted.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer clean.Close()
			want, err := Run(context.Background(), bits{n: 14, maxOnes: -1}, newRecorder(killProblem.outcome), clean, killConfig(strategy))
			if err != nil {
				t.Fatal(err)
			}
			evaluations := want.Stats.Trained

			path := filepath.Join(dir, "killed.jsonl")
			for kill := 1; kill <= 2; kill++ {
				cmd := helper(strategy, path, "")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(30 * time.Second)
				for lines(path) < kill*evaluations/3 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to clean up
					t.Fatal(err)
				}
				cmd.Wait()
				if n := lines(path); n < kill*evaluations/3 || n >= evaluations {
					t.Fatalf("kill %d came after %d of %d evaluations; the test needs it mid-search", kill, n, evaluations)
				}
			}

			out := filepath.Join(dir, "trials.json")
			if err := helper(strategy, path, out).Run(); err != nil {
				t.Fatalf("resumed search: %v", err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []Trial[string]
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if d := diffTrials(got, want.Trials); d != "" {
				t.Fatalf("killed twice and resumed: %s", d)
			}
			reused := 0
			for _, tr := range got {
				if tr.Source == Reused {
					reused++
				}
			}
			if reused < 2*evaluations/3 {
				t.Fatalf("the resumed search reused %d of %d evaluations", reused, evaluations)
			}
			if n := lines(path); n != evaluations {
				t.Fatalf("the cache holds %d evaluations, the uninterrupted search made %d", n, evaluations)
			}
		})
	}
}

func TestFileCacheDropsATornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.jsonl")
	c, err := openFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(context.Background(), Request[string]{Key: "a", Fidelity: 1}, Outcome{Objectives: []float64{1}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"key":"b","fid`) // a Put cut short by kill -9
	f.Close()

	c, err = openFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(context.Background(), Request[string]{Key: "c", Fidelity: 1}, Outcome{Failure: "diverged"}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = openFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.m) != 2 || c.m[evalKey{"a", 1}].Objectives[0] != 1 || c.m[evalKey{"c", 1}].Failure != "diverged" {
		t.Fatalf("cache after a torn line holds %v", c.m)
	}
}
