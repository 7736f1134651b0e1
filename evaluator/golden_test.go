// The golden bits are those of the amd64 assembly kernels (AVX2 and AVX-512 give the same); the
// plain Go kernels round differently.

//go:build amd64 && !purego

package evaluator

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"hash"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/space"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBaselinesTrainBitForBit trains every network of configs/baselines/small for three steps on
// deterministic data (the last step on a partial batch), then runs an inference forward, on one
// and on two threads, and compares the SHA-256 of the bits of the weights, the BatchNorm running
// statistics and the class probabilities of the inference forward with testdata/train3steps.golden. The golden file was
// written by the engine before its fusion plan was made explicit: any change to what the engine
// computes, down to the last bit, shows here (and must come with a new engine.Version).
func TestBaselinesTrainBitForBit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains every small baseline")
	}
	paths, err := filepath.Glob("../configs/baselines/small/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no baselines found: %v", err)
	}
	var got strings.Builder
	for _, path := range paths {
		arch, err := space.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		net, err := arch.Expand()
		if err != nil {
			t.Fatal(err)
		}
		var first string
		for _, threads := range []int{1, 2} {
			sum := trainThreeSteps(t, net, threads)
			if threads == 1 {
				first = sum
			} else if sum != first {
				t.Errorf("%s: %s on 1 thread, %s on 2", arch.Name, first, sum)
			}
		}
		fmt.Fprintf(&got, "%s %s\n", arch.Name, first)
	}
	golden := filepath.Join("testdata", "train3steps.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestBaselinesTrainBitForBit -update to write it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("three training steps differ from %s:\ngot:\n%swant:\n%s", golden, got.String(), want)
	}
}

// trainThreeSteps builds net for batches of 8 on a pool of threads, trains it for three steps of
// SGD with the default recipe and returns "weights:<sha> state:<sha> probs:<sha>", each a SHA-256
// prefix.
func trainThreeSteps(t *testing.T, net *space.Net, threads int) string {
	t.Helper()
	const batch = 8
	pool := parallel.NewPool(threads)
	defer pool.Close()
	m, err := Build(net, batch, pool, 7, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	opt := newOptimizer(g, DefaultRecipe())
	classes := net.Layers[net.Outputs[0]].Shape.C
	fill := func(step int) {
		for i := range m.Input.Value {
			// A fixed pseudo-random pattern in [-2, 2), different at each step.
			h := uint32(i)*2654435761 ^ uint32(step+1)*40503
			h ^= h >> 13
			h *= 0x5bd1e995
			h ^= h >> 15
			m.Input.Value[i] = float32(h>>8)/(1<<22) - 2
		}
		for i := range m.Loss.Labels {
			m.Loss.Labels[i] = int32((i*7 + step*3) % classes)
		}
	}
	for step := range 3 {
		fill(step)
		n := batch
		if step == 2 {
			n = batch - 3
		}
		g.SetActiveBatch(n)
		g.SetStep(uint64(step))
		g.Forward(true)
		if loss := m.Loss.Value(); math.IsNaN(loss) || math.IsInf(loss, 0) {
			t.Fatalf("%s: step %d: loss %v", net.Name, step, loss)
		}
		g.Backward()
		opt.Step(0.05)
	}
	fill(3)
	g.SetActiveBatch(batch)
	g.Forward(false)
	hashOf := func(bufs ...[]float32) string {
		h := sha256.New()
		for _, b := range bufs {
			writeBits(h, b)
		}
		return fmt.Sprintf("%x", h.Sum(nil))[:16]
	}
	var weights, state [][]float32
	for _, p := range g.Params() {
		weights = append(weights, p.Value)
	}
	for _, b := range g.State() {
		state = append(state, b.Value)
	}
	var probs [][]float32
	for i := range batch {
		probs = append(probs, m.Loss.Probs(i))
	}
	return fmt.Sprintf("weights:%s state:%s probs:%s", hashOf(weights...), hashOf(state...), hashOf(probs...))
}

// writeBits writes the bits of v to h, little-endian.
func writeBits(h hash.Hash, v []float32) {
	var b [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		h.Write(b[:])
	}
}
