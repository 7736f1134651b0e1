package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonas/nas/evaluator"
)

// The multi-process tests run this test binary again as the writing process: TestMain sees
// childRole in the environment and runs runChild instead of the tests.
const (
	childRole = "NAS_STORE_TEST_CHILD"
	childDB   = "NAS_STORE_TEST_DB"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		if err := runChild(role, os.Getenv(childDB)); err != nil {
			fmt.Fprintf(os.Stderr, "child %d: %v\n", os.Getpid(), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	childArchs      = 10 // architectures the children choose from
	writersPerChild = 2
	trialsPerWriter = 100
	killLease       = 400 * time.Millisecond
)

// childArch returns the architecture of the child arch set with hash h.
func childArch(h string) Arch {
	for i := range childArchs {
		if a := testArch(i); a.Hash == h {
			return a
		}
	}
	panic("store test: no child architecture " + h)
}

// expectedResult is the result children store for trial tr, a function of the trial alone so
// that the parent can check every stored result.
func expectedResult(tr Trial) evaluator.Result {
	return testResult(childArch(tr.Key.ArchHash), tr.Key.Seed, int(tr.ID))
}

// runChild is a writing process. Role "writers" runs writersPerChild goroutines that each add,
// claim and finish trialsPerWriter trials and then drain the queue; role "killable" does the
// same in one goroutine until it is killed. Every trial whose result committed is reported on
// stdout as "done ID" after FinishTrial returned.
func runChild(role, path string) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	exp, err := s.CreateExperiment(ctx, Experiment{Name: "shared", Config: []byte("x"), Strategy: "ga", Machine: ThisMachine("test")})
	if errors.Is(err, ErrExists) {
		var e Experiment
		e, err = s.Experiment(ctx, "shared")
		exp = e.ID
	}
	if err != nil {
		return err
	}
	var out sync.Mutex
	report := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	report("ready")

	work := func(w int, n int, lease time.Duration) error {
		owner := fmt.Sprintf("%d/%d", os.Getpid(), w)
		rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(w)))
		for i := 0; n < 0 || i < n; i++ {
			a := testArch(rng.IntN(childArchs))
			if err := s.PutArch(ctx, a); err != nil {
				return err
			}
			// A seed per process, writer and step: keys are distinct, so every trial trains.
			seed := uint64(os.Getpid())<<32 | uint64(w)<<24 | uint64(i)
			if _, err := s.AddTrials(ctx, exp, []TrialSpec{{Key: EvalKey{ArchHash: a.Hash, Dataset: "synthetic",
				RecipeHash: "r1", Fidelity: 1, Seed: seed}, Operator: "mutate", Parents: []string{a.Hash}}}); err != nil {
				return err
			}
			if err := finishOne(ctx, s, exp, owner, lease, report); err != nil && !errors.Is(err, ErrNoTrial) {
				return err
			}
			if i%10 == 0 {
				if _, err := s.Evaluations(ctx, exp); err != nil {
					return err
				}
			}
		}
		for {
			if err := finishOne(ctx, s, exp, owner, lease, report); errors.Is(err, ErrNoTrial) {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	switch role {
	case "killable":
		return work(0, -1, killLease)
	case "writers":
		errs := make(chan error, writersPerChild)
		for w := range writersPerChild {
			go func() { errs <- work(w, trialsPerWriter, time.Minute) }()
		}
		var all []error
		for range writersPerChild {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}
	return fmt.Errorf("unknown role %q", role)
}

// finishOne claims a trial, "trains" it for a moment with a heartbeat and stores its expected result.
func finishOne(ctx context.Context, s Store, exp int64, owner string, lease time.Duration, report func(string, ...any)) error {
	tr, err := s.ClaimTrial(ctx, exp, owner, lease)
	if err != nil {
		return err
	}
	time.Sleep(time.Millisecond)
	if err := s.Heartbeat(ctx, tr.ID, owner, lease); err != nil {
		return err
	}
	if err := s.FinishTrial(ctx, tr.ID, owner, expectedResult(tr)); err != nil {
		return err
	}
	report("done %d", tr.ID)
	return nil
}

// child is a running child process and the lines it has printed.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

func startChild(t *testing.T, role, path string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), lines: make(chan string, 1024)}
	c.cmd.Env = append(os.Environ(), childRole+"="+role, childDB+"="+path)
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// done collects the IDs the child reported as committed until its stdout closes, then waits for it.
func (c *child) done(t *testing.T, ids map[int64]bool) error {
	t.Helper()
	for line := range c.lines {
		if id, ok := strings.CutPrefix(line, "done "); ok {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			if ids[n] {
				t.Errorf("trial %d reported done twice", n)
			}
			ids[n] = true
		}
	}
	return c.cmd.Wait()
}

// checkCommitted opens the database at path and checks its integrity and that every trial in
// ids is done with its expected result. It returns the trials.
func checkCommitted(t *testing.T, path string, ids map[int64]bool) []Trial {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("integrity: %v %v", problems, err)
	}
	e, err := s.Experiment(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Evaluations(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]Evaluation{}
	for _, ev := range evs {
		stored[ev.Trial.ID] = ev
		if !sameResult(ev.Result, expectedResult(ev.Trial)) {
			t.Errorf("trial %d holds %+v, want %+v", ev.Trial.ID, ev.Result, expectedResult(ev.Trial))
		}
	}
	for id := range ids {
		if _, ok := stored[id]; !ok {
			t.Errorf("trial %d was reported committed but has no result", id)
		}
	}
	trials, err := s.Trials(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	return trials
}

func TestConcurrentProcessesLoseNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		if testing.Short() {
			t.Skip("starts processes")
		}
		path := b.Fresh(t)
		const processes = 4
		// All start at once on a file none of them has created yet.
		var children []*child
		for range processes {
			children = append(children, startChild(t, "writers", path))
		}
		ids := map[int64]bool{}
		for _, c := range children {
			if err := c.done(t, ids); err != nil {
				t.Errorf("child: %v\n%s", err, c.stderr.String())
			}
		}
		const want = processes * writersPerChild * trialsPerWriter
		if len(ids) != want {
			t.Errorf("%d trials reported done, want %d", len(ids), want)
		}
		trials := checkCommitted(t, path, ids)
		if len(trials) != want {
			t.Errorf("%d trials stored, want %d", len(trials), want)
		}
		for _, tr := range trials {
			if tr.Status != TrialDone || tr.Attempts != 1 {
				t.Errorf("trial %d: %s after %d attempts, want done after 1", tr.ID, tr.Status, tr.Attempts)
			}
		}
	})
}

func TestKilledWriterLosesNoCommittedResult(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		if testing.Short() {
			t.Skip("starts and kills processes")
		}
		path := b.Fresh(t)
		seed := uint64(time.Now().UnixNano())
		t.Logf("random kill times from seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 0))
		const kills = 30
		ids := map[int64]bool{}
		deadline := time.Now().Add(30 * time.Second)
		for k := 0; k < kills && time.Now().Before(deadline); k++ {
			c := startChild(t, "killable", path)
			if line := <-c.lines; line != "ready" {
				c.cmd.Process.Kill()
				c.cmd.Wait()
				t.Fatalf("child said %q instead of ready\n%s", line, c.stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := c.done(t, ids)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want killed by SIGKILL\n%s", err, c.stderr.String())
			}
			checkCommitted(t, path, ids)
		}
		if len(ids) == 0 {
			t.Fatal("no child committed anything before it was killed")
		}

		// Trials the dead children held are claimable once their leases expire, and nothing else is left.
		trials := checkCommitted(t, path, ids)
		held := map[int64]bool{}
		for _, tr := range trials {
			if tr.Status == TrialRunning {
				held[tr.ID] = true
			}
		}
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		e, err := s.Experiment(ctx, "shared")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(killLease)
		for {
			tr, err := s.ClaimTrial(ctx, e.ID, "survivor", time.Minute)
			if errors.Is(err, ErrNoTrial) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			delete(held, tr.ID)
			if err := s.FinishTrial(ctx, tr.ID, "survivor", expectedResult(tr)); err != nil {
				t.Fatal(err)
			}
			ids[tr.ID] = true
		}
		if len(held) > 0 {
			t.Errorf("trials %v held by dead children were not claimed again", held)
		}
		retried := 0
		for _, tr := range checkCommitted(t, path, ids) {
			if tr.Status != TrialDone {
				t.Errorf("trial %d is %s, want done", tr.ID, tr.Status)
			}
			if tr.Attempts > 1 {
				retried++
			}
		}
		t.Logf("%d results committed by killed children, %d trials taken over from a dead one", len(ids), retried)
		if retried == 0 {
			t.Error("no trial was ever taken over from a killed child; the test proved nothing about leases")
		}
	})
}
