package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonas/nas/store"
	"github.com/gonas/nas/store/storetest"
)

// TestNASHelperProcess is nas itself, with main's signal handling, for the tests that run nas
// commands as separate processes: it runs the arguments in NAS_TEST_ARGS, one per line.
func TestNASHelperProcess(t *testing.T) {
	args := os.Getenv("NAS_TEST_ARGS")
	if args == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, strings.Split(args, "\n"), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// nasProcess returns the command that runs nas with args in a process of its own.
func nasProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNASHelperProcess$")
	cmd.Env = append(os.Environ(), "NAS_TEST_ARGS="+strings.Join(args, "\n"))
	return cmd
}

// chaosExperiment writes the experiment of the chaos tests into dir and returns its path:
// successive halving over two data fractions, NSGA-II batches of four and a baseline, on
// trainings of a second or two.
func chaosExperiment(t *testing.T, dir string) string {
	t.Helper()
	configs, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`name: chaos
space: %[1]s/spaces/fashion_small.yaml
dataset: synthetic
recipe: {epochs: 1, batch: 32, data_fraction: 0.06, val_fraction: 0.05}
fidelity: {by: data_fraction, levels: [0.03, 0.06], eta: 2}
strategy: {name: nsga2, pop_size: 4}
objectives: [val_acc, macs]
constraints: {max_params: 60k, max_macs: 4M}
budget: {evaluations: 24}
seed: 3
baselines: [%[1]s/baselines/small/nin_small_mnist.yaml]
`, configs)
	p := filepath.Join(dir, "chaos.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// queuedTrials returns every trial of experiment name in the database at path, in the order of
// their IDs, with what was computed for it, and fails the test unless all are finished. It also
// returns the evaluations that computed their own result (not taken from the cache).
func queuedTrials(t *testing.T, path, name string) ([]string, []store.Evaluation) {
	t.Helper()
	evs := finishedTrials(t, path, name)
	var rows []string
	var computed []store.Evaluation
	for _, ev := range evs {
		tr, r := ev.Trial, ev.Result
		rows = append(rows, fmt.Sprintf("trial %d: generation %d %s %.12s fidelity %v parents %v latency %v: %s val_acc %v val_loss %v epochs %d cached %v",
			tr.ID, tr.Generation, tr.Operator, tr.Key.ArchHash, tr.Key.Fidelity, tr.Parents, tr.Latency, r.Status, r.ValAcc, r.ValLoss, len(r.Epochs), ev.Cached))
		if !ev.Cached {
			computed = append(computed, ev)
		}
	}
	return rows, computed
}

// syncBuffer is a bytes.Buffer that processes' output may be written to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// supervised is a nas process that is restarted whenever it is killed, until it exits by itself.
type supervised struct {
	name     string
	args     []string
	log      syncBuffer // the output of every run
	mu       sync.Mutex
	cmd      *exec.Cmd // the current run
	starts   int
	held     int // runs refused because another coordinator held the experiment
	finished chan error
}

func supervise(name string, args ...string) *supervised {
	p := &supervised{name: name, args: args, finished: make(chan error, 1)}
	go p.loop()
	return p
}

func (p *supervised) loop() {
	for {
		cmd := nasProcess(p.args...)
		var stderr syncBuffer
		cmd.Stdout = &p.log
		cmd.Stderr = &stderr
		p.mu.Lock()
		err := cmd.Start()
		p.cmd, p.starts = cmd, p.starts+1
		p.mu.Unlock()
		if err != nil {
			p.finished <- err
			return
		}
		cmd.Wait()
		fmt.Fprint(&p.log, stderr.String())
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			continue // killed: start it again
		case ws.ExitStatus() == 0:
			p.finished <- nil
			return
		case ws.ExitStatus() == 1 && strings.Contains(stderr.String(), "is held by the coordinator"):
			// The killed coordinator's hold has not expired yet.
			p.mu.Lock()
			p.held++
			p.mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		p.finished <- fmt.Errorf("%s exited with %v:\n%s", p.name, cmd.ProcessState, p.log.String())
		return
	}
}

// kill sends SIGKILL to the current run, and reports whether there was one to kill.
func (p *supervised) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.cmd.ProcessState == nil && p.cmd.Process.Kill() == nil
}

// TestChaos runs a search as a coordinator and three workers in separate processes, kills one
// of them with SIGKILL at a random moment ten times and restarts it, and checks that the search
// ends with the trials and results of a run in one process, none lost and no evaluation
// trained to completion twice.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test trains for a minute or more")
	}
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) { chaos(t, b) })
}

func chaos(t *testing.T, b storetest.Backend) {
	exp := chaosExperiment(t, t.TempDir())
	ref := b.Fresh(t)
	if code, _, stderr := runNAS(t, "search", exp, "--db", ref, "--workers", "1", "--threads", "1"); code != 0 {
		t.Fatalf("the run in one process: exit %d\n%s", code, stderr)
	}
	want, _ := queuedTrials(t, ref, "chaos")

	db := b.Fresh(t)
	const lease = "2s"
	procs := []*supervised{supervise("coordinator", "search", exp, "--db", db, "--workers", "0", "--lease", lease)}
	for i := range 3 {
		procs = append(procs, supervise(fmt.Sprintf("worker %d", i+1), "worker", "--db", db, "--experiment", "chaos", "--threads", "1", "--lease", lease))
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("kill schedule seed %d", seed)
	kills := 0
	for kills < 10 {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		victim := procs[rng.IntN(len(procs))]
		if kills == 4 {
			victim = procs[0] // the coordinator is killed at least once
		}
		if !victim.kill() {
			if done := experimentDone(t, db); done {
				t.Fatalf("the search ended after %d kills; the test needs a longer search", kills)
			}
			continue
		}
		kills++
		t.Logf("kill %d: %s", kills, victim.name)
	}
	deadline := time.After(5 * time.Minute)
	for _, p := range procs {
		select {
		case err := <-p.finished:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			for _, p := range procs {
				p.kill()
			}
			t.Fatalf("%s has not finished 5 minutes after the last kill:\n%s", p.name, p.log.String())
		}
	}
	for _, p := range procs {
		t.Logf("%s: %d runs, %d refused while the killed coordinator's hold lasted", p.name, p.starts, p.held)
		if strings.Contains(p.log.String(), "result dropped") {
			t.Errorf("%s trained a trial that another worker had taken over:\n%s", p.name, p.log.String())
		}
	}

	got, computed := queuedTrials(t, db, "chaos")
	if !slices.Equal(got, want) {
		t.Errorf("with kills:\n%s\nin one process:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	trained := map[store.EvalKey]int{}
	for _, ev := range computed {
		if trained[ev.Trial.Key]++; trained[ev.Trial.Key] > 1 {
			t.Errorf("evaluation %+v was trained to completion twice", ev.Trial.Key)
		}
		if ev.Worker == "" {
			t.Errorf("trial %d does not record the worker that trained it", ev.Trial.ID)
		}
	}
}

// experimentDone reports whether experiment chaos in the database at path is done.
func experimentDone(t *testing.T, path string) bool {
	st, err := store.OpenReadOnly(path)
	if err != nil {
		return false
	}
	defer st.Close()
	e, err := st.Experiment(context.Background(), "chaos")
	return err == nil && e.Status == store.ExperimentDone
}

// TestTwoCoordinatorsAtOnce starts two searches of one experiment at the same moment: one runs
// it, the other exits at once with exit code 1 and a message naming the holder, having written
// nothing.
func TestTwoCoordinatorsAtOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) { twoCoordinators(t, b.Fresh(t)) })
}

func twoCoordinators(t *testing.T, db string) {
	var cmds [2]*exec.Cmd
	var outs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = nasProcess("search", tinyExperiment, "--db", db, "--workers", "1", "--threads", "1")
		cmds[i].Stderr = &outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cmds {
		c.Wait()
	}
	winner, loser := 0, 1
	if cmds[0].ProcessState.ExitCode() != 0 {
		winner, loser = 1, 0
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s:%d", host, cmds[winner].Process.Pid)
	if code := cmds[winner].ProcessState.ExitCode(); code != 0 {
		t.Fatalf("neither search ran: exit codes %d and %d\n%s\n%s", code, cmds[loser].ProcessState.ExitCode(), outs[0].String(), outs[1].String())
	}
	if code, msg := cmds[loser].ProcessState.ExitCode(), outs[loser].String(); code != 1 ||
		!strings.Contains(msg, `experiment "tiny" is held by the coordinator `+holder+" since") {
		t.Errorf("the second search: exit %d, stderr:\n%s\nwant exit 1 naming the holder %s", code, msg, holder)
	}

	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	ws, err := st.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Name != holder {
		t.Errorf("workers %+v, want only the running search's %s", ws, holder)
	}
	exps, err := st.Experiments(ctx)
	if err != nil || len(exps) != 1 || exps[0].Status != store.ExperimentDone || exps[0].Coordinator != (store.Hold{}) {
		t.Fatalf("experiments %+v (%v), want tiny, done and released", exps, err)
	}
	evs, err := st.Evaluations(ctx, exps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	trained := 0
	for _, ev := range evs {
		if !ev.Cached {
			trained++
			if ev.Worker != holder {
				t.Errorf("trial %d was trained by %q, want %s", ev.Trial.ID, ev.Worker, holder)
			}
		}
	}

	code, out, stderr := runNAS(t, "ls", "--workers", "--db", db)
	row := regexp.MustCompile(regexp.QuoteMeta(holder) + ` +\| stopped +\| .* ago +\| - +\| +` + fmt.Sprint(trained) + ` +\|`)
	if code != 0 || !row.MatchString(out) {
		t.Errorf("nas ls --workers: exit %d, %s\n%s\nwant %s stopped, holding nothing, with %d results", code, stderr, out, holder, trained)
	}
}

func TestWorkerRefusesBadInputWithExitCode2(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no slots", []string{"--slots", "0"}, "--slots and --threads must be at least 1"},
		{"too many threads", []string{"--slots", "2", "--threads", "100000"}, "usable cores"},
		{"a negative lease", []string{"--lease", "-1s"}, "--lease must be positive"},
		{"an argument", []string{"quick"}, "want no arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "nas.db")
			code, _, stderr := runNAS(t, append([]string{"worker", "--db", db}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, c.want)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("a refused worker created %s", db)
			}
		})
	}
}

// TestWorkerHandsBackItsTrialOnSIGTERM stops a worker in the middle of a training with SIGTERM:
// it exits at once with code 0, and its trial is pending again, for another worker to take.
func TestWorkerHandsBackItsTrialOnSIGTERM(t *testing.T) {
	db := filepath.Join(t.TempDir(), "nas.db")
	coordinator := nasProcess("search", tinyExperiment, "--db", db, "--workers", "0")
	worker := nasProcess("worker", "--db", db, "--experiment", "tiny", "--threads", "1")
	var werr bytes.Buffer
	worker.Stderr = &werr
	for _, c := range []*exec.Cmd{coordinator, worker} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer coordinator.Process.Kill()
	defer worker.Process.Kill()
	held := func() (store.Trial, bool) {
		st, err := store.OpenReadOnly(db)
		if err != nil {
			return store.Trial{}, false
		}
		defer st.Close()
		ws, err := st.Workers(context.Background())
		if err != nil || len(ws) != 1 || len(ws[0].Holding) == 0 {
			return store.Trial{}, false
		}
		exp, err := st.Experiment(context.Background(), "tiny")
		if err != nil {
			return store.Trial{}, false
		}
		ts, err := st.Trials(context.Background(), exp.ID)
		if err != nil {
			return store.Trial{}, false
		}
		for _, tr := range ts {
			if tr.ID == ws[0].Holding[0] {
				return tr, true
			}
		}
		return store.Trial{}, false
	}
	deadline := time.Now().Add(time.Minute)
	var tr store.Trial
	for ok := false; !ok; tr, ok = held() {
		if time.Now().After(deadline) {
			t.Fatal("the worker held no trial within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	worker.Wait()
	if code := worker.ProcessState.ExitCode(); code != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("after SIGTERM the worker exited with %d in %v:\n%s", code, time.Since(start), werr.String())
	}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts, err := st.Trials(context.Background(), tr.ExperimentID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.ID == tr.ID && (x.Status != store.TrialPending || x.LeaseOwner != "" || x.Attempts != 1) {
			t.Errorf("trial %d after SIGTERM: %s under %q, attempt %d; want pending again", x.ID, x.Status, x.LeaseOwner, x.Attempts)
		}
	}
	ws, err := st.Workers(context.Background())
	if err != nil || len(ws) != 1 || ws[0].Stopped.IsZero() || len(ws[0].Holding) != 0 {
		t.Errorf("workers after SIGTERM: %+v (%v), want one, stopped, holding nothing", ws, err)
	}
}
