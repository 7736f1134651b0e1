package benchmark

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/trace"
	"slices"
	"strings"
	"testing"

	"github.com/gonas/nas/space"
)

func TestParseThreads(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	list := fmt.Sprintf("1, 1,%d", cores)
	if ts, err := ParseThreads(list); err != nil || len(ts) != 3 || ts[2] != cores {
		t.Errorf("ParseThreads(%q) = %v, %v", list, ts, err)
	}
	for _, bad := range []string{"0", "1,x", "", "-2", fmt.Sprint(cores + 1)} {
		if _, err := ParseThreads(bad); err == nil {
			t.Errorf("ParseThreads(%q) gave no error", bad)
		}
	}
}

func TestParseModes(t *testing.T) {
	if only, err := ParseModes("all", NetModes); only != nil || err != nil {
		t.Errorf("all: %v, %v; want nil, nil", only, err)
	}
	if only, err := ParseModes("infer", NetModes); err != nil || len(only) != 1 || !only["infer"] {
		t.Errorf("infer: %v, %v", only, err)
	}
	if _, err := ParseModes("train,backward", NetModes); err == nil {
		t.Error("an unknown mode gave no error")
	}
}

func TestTimeSkipsModesNotAsked(t *testing.T) {
	m := NewModes(Quick, map[string]bool{"infer": true})
	calls := 0
	step := func() { calls++ }
	if err := m.Time(context.Background(), "train", 1, 1, step); err != nil || calls != 0 {
		t.Fatalf("train, not asked for: %d calls, %v", calls, err)
	}
	m.Timing.Reps, m.Timing.Target = 3, 0
	if err := m.Time(context.Background(), "infer", 2e6, 4, step); err != nil {
		t.Fatal(err)
	}
	r := m.Results["infer"]
	// Two warm-up calls, then 3 repeats of at least one call.
	if r == nil || calls < 5 || r.Reps != 3 || r.Ms <= 0 || r.ImgPerS <= 0 || m.Results["train"] != nil {
		t.Errorf("%d calls, results %+v", calls, m.Results)
	}
}

func TestTimeStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewModes(Quick, nil).Time(ctx, "infer", 1, 1, func() {}); err == nil {
		t.Error("a cancelled context gave no error")
	}
}

func TestSampleIsFixedBySeedAndRespectsTheBudget(t *testing.T) {
	load := func() *space.SearchSpace {
		sp, err := space.LoadSpace("../../configs/spaces/fashion_small.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	sp := load()
	a, err := Sample(sp, 6, 7, 128)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sample(load(), 6, 7, 128)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Sample(sp, 6, 8, 128)
	if err != nil {
		t.Fatal(err)
	}
	hashes := func(as []*space.Arch) []string {
		var hs []string
		for i, x := range as {
			if x.Name != CandidateName(i) {
				t.Errorf("candidate %d is named %s", i, x.Name)
			}
			h, err := x.Hash()
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		return hs
	}
	ha, hb, hc := hashes(a), hashes(b), hashes(c)
	if !slices.Equal(ha, hb) {
		t.Errorf("seed 7 gave %v, then %v", ha, hb)
	}
	if slices.Equal(ha, hc) {
		t.Errorf("seeds 7 and 8 gave the same sample %v", ha)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ha)))) != len(ha) {
		t.Errorf("the sample repeats a network: %v", ha)
	}

	// A budget that only small networks meet: every candidate meets it.
	const limit = 20000
	sp.Budget = space.Budget{MaxParams: limit}
	small, err := Sample(sp, 4, 7, 128)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range small {
		if cnt, err := x.Counts(); err != nil || cnt.Params > limit {
			t.Errorf("%s: %d params over the budget of %d (%v)", x.Name, cnt.Params, limit, err)
		}
	}
	sp.Budget = space.Budget{MaxParams: 1}
	if _, err := Sample(sp, 1, 7, 128); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("an unmeetable budget gave %v, want an error naming the budget", err)
	}
}

// TestTimeMarksEachCallInTheTrace checks that, while Go's execution tracer runs, every timed
// call is a region named after its mode, so that a trace shows one step per thread.
func TestTimeMarksEachCallInTheTrace(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("the tracer is busy: %v", err)
	}
	calls := 0
	m := NewModes(Timing{Reps: 2, MinSteps: 1}, nil)
	err := m.Time(context.Background(), "infer", 1, 1, func() { calls++ })
	trace.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("infer")); n == 0 {
		t.Errorf("%d calls, but the trace never names the mode", calls)
	}
}
