package evaluator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

// tinyArch is a small residual net with squeeze-and-excitation that learns the synthetic set in
// a few hundred steps.
const tinyArch = `
name: tiny
input: [1, 28, 28]
classes: 10
stem:
  - {op: conv, filters: 8, kernel: 3, stride: 2, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 1, width: 8, se: {ratio: 4}}
  - {family: basic, blocks: 1, width: 16, stride: 2}
`

func parseArch(t testing.TB, src string) *space.Arch {
	t.Helper()
	a, err := space.Parse([]byte(src), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func syntheticDataset(n int) *data.Dataset {
	all := data.Synthetic(n+n/5, 1, 28, 28, 10, 3)
	train := *all
	train.Pixels = all.Pixels[:n*all.ImageSize()]
	train.Labels = all.Labels[:n]
	test := *all
	test.Pixels = all.Pixels[n*all.ImageSize():]
	test.Labels = all.Labels[n:]
	return &data.Dataset{Name: "synthetic", Train: &train, Test: &test}
}

func quickRecipe() Recipe {
	r := DefaultRecipe()
	r.Epochs = 3
	r.Batch = 32
	r.LR = 0.1
	r.ValFraction = 0.2
	return r
}

func TestEvaluateLearnsSyntheticSet(t *testing.T) {
	ds := syntheticDataset(3000)
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), ds, quickRecipe(), Options{Seed: 1, Test: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK {
		t.Fatalf("status %s: %s", res.Status, res.Message)
	}
	if res.ValAcc < 0.95 || res.TestAcc < 0.95 {
		t.Errorf("val accuracy %.3f, test accuracy %.3f; want both >= 0.95", res.ValAcc, res.TestAcc)
	}
	if len(res.Epochs) != 3 || res.Epochs[2].TrainLoss >= res.Epochs[0].TrainLoss {
		t.Errorf("epochs %+v: want 3 with a falling training loss", res.Epochs)
	}
	counts, _ := parseArch(t, tinyArch).Counts()
	if res.Params != counts.Params || res.MACs != counts.MACs {
		t.Errorf("params/MACs %d/%d, space counts %d/%d", res.Params, res.MACs, counts.Params, counts.MACs)
	}
	if !res.Tested || res.LatencyB1Ms <= 0 || res.LatencyB128Ms <= 0 || res.PeakMemBytes <= 0 || res.ImagesPerSec <= 0 {
		t.Errorf("missing measurements: %+v", res)
	}
}

// writeIDX writes a set in the IDX format of MNIST, gzipped.
func writeIDX(t *testing.T, path string, dims []int, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	header := []byte{0, 0, 8, byte(len(dims))}
	for _, d := range dims {
		header = binary.BigEndian.AppendUint32(header, uint32(d))
	}
	zw.Write(header)
	zw.Write(payload)
	zw.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateOnSmallIDXFiles(t *testing.T) {
	ds := syntheticDataset(2000)
	dir := filepath.Join(t.TempDir(), "mnist")
	os.MkdirAll(dir, 0o755)
	labels := func(s *data.Set) []byte {
		b := make([]byte, s.Len())
		for i, l := range s.Labels {
			b[i] = byte(l)
		}
		return b
	}
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), []int{ds.Train.Len(), 28, 28}, ds.Train.Pixels)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), []int{ds.Train.Len()}, labels(ds.Train))
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{ds.Test.Len(), 28, 28}, ds.Test.Pixels)
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{ds.Test.Len()}, labels(ds.Test))

	opened, err := data.Open("mnist", filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	r := quickRecipe()
	r.LR = 0.1
	r.ValFraction = 0
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), opened, r, Options{Seed: 2, Test: true, SkipLatency: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK || res.TestAcc < 0.9 {
		t.Errorf("status %s, test accuracy %.3f; want ok and >= 0.9", res.Status, res.TestAcc)
	}
}

func TestEvaluateReportsDivergence(t *testing.T) {
	r := quickRecipe()
	r.LR = 1000
	r.Epochs = 1
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), syntheticDataset(400), r, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusDiverged || !strings.Contains(res.Message, "loss is") {
		t.Errorf("status %s (%s), want diverged", res.Status, res.Message)
	}
}

func TestEvaluateStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := quickRecipe()
	res, err := Evaluate(ctx, parseArch(t, tinyArch), syntheticDataset(400), r, Options{Seed: 1, Progress: func(p Progress) {
		if p.Step == 3 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCancelled {
		t.Errorf("status %s (%s), want cancelled", res.Status, res.Message)
	}
}

func TestEvaluateIsDeterministicAcrossThreads(t *testing.T) {
	ds := syntheticDataset(300)
	r := quickRecipe()
	r.Epochs = 2
	r.CropPad, r.Flip, r.Erase = 2, true, 0.3
	run := func(threads int) Result {
		pool := parallel.NewPool(threads)
		defer pool.Close()
		res, err := Evaluate(context.Background(), parseArch(t, tinyArch), ds, r, Options{Seed: 5, Pool: pool, Test: true, SkipLatency: true})
		if err != nil || res.Status != StatusOK {
			t.Fatalf("threads %d: %v %s %s", threads, err, res.Status, res.Message)
		}
		for i := range res.Epochs {
			res.Epochs[i].Seconds = 0
		}
		// Timings, and the memory of per-thread scratch space, are the only parts that may vary.
		res.TrainSeconds, res.ImagesPerSec, res.Threads, res.PeakMemBytes = 0, 0, 0, 0
		res.Phases = Phases{}
		return res
	}
	one, two, seven := run(1), run(2), run(7)
	if !reflect.DeepEqual(one, two) || !reflect.DeepEqual(one, seven) {
		t.Errorf("results differ with the thread count:\n1: %+v\n2: %+v\n7: %+v", one, two, seven)
	}
}

func TestEvaluateRejectsMismatchedData(t *testing.T) {
	a := parseArch(t, strings.Replace(tinyArch, "classes: 10", "classes: 7", 1))
	_, err := Evaluate(context.Background(), a, syntheticDataset(100), quickRecipe(), Options{})
	if err == nil || !strings.Contains(err.Error(), "7 classes") {
		t.Errorf("error %v, want one about 7 classes", err)
	}
}

func TestParseRecipe(t *testing.T) {
	r, err := ParseRecipe([]byte("epochs: 3\nlr: 0.05\nflip: true\ntime_limit: 90s\n"), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultRecipe()
	want.Epochs, want.LR, want.Flip, want.TimeLimit = 3, 0.05, true, Duration(90e9)
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	for _, c := range []struct{ name, src, want string }{
		{"unknown key", "epochs: 2\nlearning_rate: 0.1\n", `r.yaml:2:1`},
		{"wrong type", "epochs: two\n", `r.yaml:1:`},
		{"out of range", "epochs: 2\nmomentum: 1.5\n", `r.yaml:2:`},
		{"bad optimizer", "optimizer: adam\n", `"sgd" or "adamw"`},
		{"bad duration", "time_limit: soon\n", `duration`},
	} {
		_, err := ParseRecipe([]byte(c.src), "r.yaml")
		var ce *space.ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want a ConfigError containing %q", c.name, err, c.want)
		}
	}
}

func TestShippedRecipesParse(t *testing.T) {
	paths, _ := filepath.Glob("../configs/recipes/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no recipes in configs/recipes")
	}
	for _, p := range paths {
		if _, err := LoadRecipe(p); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParseRecipe(f *testing.F) {
	f.Add([]byte("epochs: 3\nlr: 0.05\n"))
	f.Add([]byte("step_epochs: [1, 2]\nschedule: step\nepochs: 3\n"))
	f.Add([]byte("time_limit: 10m\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecipe(b, "f.yaml")
		if err == nil {
			if verr := r.Validate(); verr != nil {
				t.Fatalf("parsed recipe does not validate: %v", verr)
			}
		}
	})
}

// TestPhasesAccountForTheWallTime checks that the phases of an evaluation are where its time
// went: each measured, none negative, together the evaluation's wall time.
func TestPhasesAccountForTheWallTime(t *testing.T) {
	ds := syntheticDataset(300)
	start := time.Now()
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), ds, quickRecipe(), Options{Seed: 3, Test: true})
	wall := time.Since(start).Seconds()
	if err != nil || res.Status != StatusOK {
		t.Fatalf("%v %s %s", err, res.Status, res.Message)
	}
	p := res.Phases
	for name, v := range map[string]float64{"build": p.Build, "data": p.Data, "first step": p.FirstStep, "steps": p.Steps,
		"validation": p.Validation, "test": p.Test, "latency": p.Latency} {
		if v <= 0 {
			t.Errorf("phase %s took %v s", name, v)
		}
	}
	if p.Wait < 0 || p.Total() > wall || p.Total() < 0.9*wall {
		t.Errorf("phases %+v add up to %.4f s (waiting %.4f) of the %.4f s the evaluation took", p, p.Total(), p.Wait, wall)
	}
	if train := p.FirstStep + p.Steps + p.Wait + p.Validation; math.Abs(train-res.TrainSeconds) > 1e-3 {
		t.Errorf("the training loop's phases add up to %.4f s, its time to %.4f s", train, res.TrainSeconds)
	}
}

// TestAPreparedSplitGivesTheSameResult checks that an evaluation with a Split prepared
// beforehand ends exactly as one that prepares its own, and that a Split prepared for another
// seed or recipe is not used.
func TestAPreparedSplitGivesTheSameResult(t *testing.T) {
	ds := syntheticDataset(300)
	r := quickRecipe()
	r.DataFraction = 0.5
	run := func(split *Split) Result {
		res, err := Evaluate(context.Background(), parseArch(t, tinyArch), ds, r, Options{Seed: 5, Split: split, SkipLatency: true, Test: true})
		if err != nil || res.Status != StatusOK {
			t.Fatalf("%v %s %s", err, res.Status, res.Message)
		}
		for i := range res.Epochs {
			res.Epochs[i].Seconds = 0
		}
		res.TrainSeconds, res.ImagesPerSec, res.PeakMemBytes, res.Phases = 0, 0, 0, Phases{}
		return res
	}
	own := run(nil)
	if got := run(NewSplit(ds, r, 5)); !reflect.DeepEqual(got, own) {
		t.Errorf("with a prepared split:\n%+v\nwant\n%+v", got, own)
	}
	other := r
	other.DataFraction = 0.25
	for name, s := range map[string]*Split{"seed": NewSplit(ds, r, 6), "fraction": NewSplit(ds, other, 5)} {
		if s.Fits(ds, r, 5) {
			t.Errorf("a split of another %s fits", name)
		}
		if got := run(s); !reflect.DeepEqual(got, own) {
			t.Errorf("with a split of another %s:\n%+v\nwant\n%+v", name, got, own)
		}
	}
}
