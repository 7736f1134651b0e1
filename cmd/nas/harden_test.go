package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/store"
)

// The cases of docs/hardening.md: each input class, what nas answers and with which exit code.

// wantExit runs nas with args and checks its exit code, that stderr holds every one of want, and
// that nothing was printed on stdout when the command failed.
func wantExit(t *testing.T, code int, want []string, args ...string) {
	t.Helper()
	got, stdout, stderr := runNAS(t, args...)
	if got != code {
		t.Errorf("nas %s: exit %d, want %d; stderr %q", strings.Join(args, " "), got, code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("nas %s: stderr %q lacks %q", strings.Join(args, " "), stderr, w)
		}
	}
	if code != 0 && stdout != "" {
		t.Errorf("nas %s failed but printed %q", strings.Join(args, " "), stdout)
	}
}

func TestTrainRefusesANetworkOverTheMemoryLimit(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	t.Setenv(evaluator.MemoryLimitEnv, "1000000")
	db := filepath.Join(t.TempDir(), "nas.db")
	wantExit(t, 2, []string{"training needs about 2.2 MiB at batch 32", "over the 1.0 MiB that $NAS_MEMORY_LIMIT allows"},
		"train", arch, "--data", "synthetic", "--recipe", recipe, "--db", db)
	if _, err := os.Stat(db); err == nil {
		t.Error("the refused training created the database")
	}
	t.Setenv(evaluator.MemoryLimitEnv, "a lot")
	wantExit(t, 2, []string{"$NAS_MEMORY_LIMIT is \"a lot\""}, "train", arch, "--data", "synthetic", "--recipe", recipe)
}

func TestSearchStoresOverMemoryNetworksAsOverBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a search")
	}
	t.Setenv(evaluator.MemoryLimitEnv, "3000000")
	db := filepath.Join(t.TempDir(), "nas.db")
	for run := range 2 { // the second run resumes from the stored verdicts
		if code, _, stderr := runNAS(t, "search", tinyExperiment, "--db", db, "--threads", "1", "--workers", "1"); code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
	}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.Experiment(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	evals, err := st.Evaluations(context.Background(), exp.ID)
	if err != nil || len(evals) != 7 {
		t.Fatalf("%d evaluations (%v), want the budget's 6 and the baseline", len(evals), err)
	}
	for _, e := range evals {
		if e.Result.Status != evaluator.StatusOverBudget || !strings.Contains(e.Result.Message, "$NAS_MEMORY_LIMIT") || len(e.Result.Epochs) != 0 {
			t.Errorf("trial %d: %s (%s), want over_budget by the memory check, untrained", e.Trial.ID, e.Result.Status, e.Result.Message)
		}
	}
}

func TestThreadsAreBoundedByTheCores(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	over := fmt.Sprint(runtime.GOMAXPROCS(0) + 1)
	bound := fmt.Sprintf("between 0 and %d, the usable cores", runtime.GOMAXPROCS(0))
	wantExit(t, 2, []string{bound}, "train", arch, "--data", "synthetic", "--recipe", recipe, "--threads", over)
	wantExit(t, 2, []string{"must not exceed them"}, "search", tinyExperiment, "--db", filepath.Join(t.TempDir(), "x.db"), "--threads", over)
	wantExit(t, 2, []string{fmt.Sprintf("between 1 and %d, the usable cores", runtime.GOMAXPROCS(0))}, "bench", arch, "--threads", over)
}

func TestDataMistakesNameWhatIsMissing(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere")
	oneClass, emptyClass := filepath.Join(dir, "one"), filepath.Join(dir, "empty")
	for _, f := range []string{filepath.Join(oneClass, "a", "1.png"), filepath.Join(emptyClass, "a", "1.png")} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, tinyPNG, 0o644)
	}
	os.MkdirAll(filepath.Join(emptyClass, "b"), 0o755)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a --data-dir that does not exist", []string{"--data", "mnist", "--data-dir", missing}, missing + "/mnist (no such folder), " + missing + " (no such folder)"},
		{"a --data-dir without the files", []string{"--data", "mnist", "--data-dir", dir}, dir + " (lacks train-images-idx3-ubyte[.gz]"},
		{"folder: with no path", []string{"--data", "folder:"}, `"folder:" names no folder`},
		{"an image folder of one class", []string{"--data", "folder:" + oneClass}, "has one class subfolder (a); a classifier needs at least two"},
		{"an empty class folder", []string{"--data", "folder:" + emptyClass}, filepath.Join(emptyClass, "b") + " holds no PNG or JPEG images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantExit(t, 2, []string{tc.want}, append([]string{"train", arch, "--recipe", recipe}, tc.args...)...)
		})
	}
}

// tinyPNG is a 1×1 gray PNG.
var tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU\x00\x00\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND\xaeB`\x82")

func TestTrainRefusesAHeadWrittenForOtherClasses(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "seven.yaml")
	// The head's conv fixes seven classes; built for the synthetic set's ten, it does not fit.
	os.WriteFile(arch, []byte("name: seven\ninput: [1, 28, 28]\nclasses: 7\nstages:\n  - {family: basic, blocks: 1, width: 8}\n"+
		"head:\n  - {op: conv, filters: 7, kernel: 1}\n  - {op: globalavgpool}\n"), 0o644)
	db := filepath.Join(dir, "nas.db")
	wantExit(t, 2, []string{"seven built for synthetic's 10 classes: ", `field "head": the network outputs 7×1×1, not 10 classes`},
		"train", arch, "--data", "synthetic", "--db", db)
	if _, err := os.Stat(db); err == nil {
		t.Error("the refused training created the database")
	}
}

func TestArchitectureZerosAreErrors(t *testing.T) {
	dir := t.TempDir()
	for name, stage := range map[string]string{"blocks": "{family: basic, blocks: 0, width: 8}", "stride": "{family: basic, width: 8, stride: 0}"} {
		arch := filepath.Join(dir, name+".yaml")
		os.WriteFile(arch, []byte("name: zero\ninput: [1, 28, 28]\nclasses: 10\nstages:\n  - "+stage+"\n"), 0o644)
		wantExit(t, 2, []string{arch + ":5:", `field "stages[0].` + name + `"`, "(got 0)"}, "info", arch)
	}
}

func TestAnEmptyRecipeFileMeansDefaults(t *testing.T) {
	arch, _ := writeTrainFiles(t)
	dir := t.TempDir()
	for name, text := range map[string]string{"empty.yaml": "", "comments.yaml": "# nothing to change\n\n# really\n"} {
		recipe := filepath.Join(dir, name)
		os.WriteFile(recipe, []byte(text), 0o644)
		code, stdout, stderr := runNAS(t, "train", arch, "--data", "synthetic", "--recipe", recipe, "--batch", "256", "--json")
		if code != 0 || !strings.Contains(stdout, `"status": "ok"`) {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
	}
}

func TestSearchBudgetBelowThePopulationWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "nas.db")
	exp := tinyWith(t, dir, "evaluations: 6", "evaluations: 2")
	wantExit(t, 2, []string{exp + ":", `field "budget.evaluations": must be between 3, the trials of the initial population of 3, and 1000000 (got 2)`},
		"search", exp, "--db", db)
	exp = tinyWith(t, dir, "evaluations: 6", "evaluations: 6\n  time: soon")
	wantExit(t, 2, []string{exp + ":", `field "budget.time"`}, "search", exp, "--db", db)
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused experiment created the database")
	}
}

func TestBadDatabasesGetOneExitCodeFromEveryCommand(t *testing.T) {
	arch, recipe := writeTrainFiles(t)
	dir := t.TempDir()
	foreign := filepath.Join(dir, "notes.db")
	os.WriteFile(foreign, []byte("hello, this is not SQLite\n"), 0o644)
	commands := func(db string) [][]string {
		return [][]string{
			{"train", arch, "--data", "synthetic", "--recipe", recipe, "--db", db},
			{"search", tinyExperiment, "--db", db},
			{"ls", "--db", db},
			{"show", "1", "--db", db},
			{"report", "tiny", "--db", db},
			{"pareto", "tiny", "--db", db},
			{"export", "1", "--db", db},
			{"db", "check", "--db", db},
		}
	}
	for _, args := range commands(foreign) {
		wantExit(t, 2, []string{foreign + " is not a SQLite database"}, args...)
	}
	for _, args := range commands(os.DevNull) {
		wantExit(t, 2, []string{"/dev/null is a device, not a database file"}, args...)
	}
	for _, args := range commands(dir) {
		wantExit(t, 2, []string{dir + " is a folder, not a database file"}, args...)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(os.DevNull + suffix); err == nil {
			t.Errorf("%s%s was created", os.DevNull, suffix)
		}
	}
	missingDir := filepath.Join(dir, "no", "such", "nas.db")
	wantExit(t, 2, []string{"cannot create the database " + missingDir + ": folder " + filepath.Dir(missingDir) + " does not exist"},
		"train", arch, "--data", "synthetic", "--recipe", recipe, "--db", missingDir)
}

func TestReadOnlyDatabasesAreNamed(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t, "TestReadOnlyDatabasesAreNamed")
		return
	}
	arch, recipe := writeTrainFiles(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "nas.db")
	if code, _, stderr := runNAS(t, "train", arch, "--data", "synthetic", "--recipe", recipe, "--db", db); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	os.Chmod(db, 0o444)
	wantExit(t, 1, []string{db + " is read-only"}, "train", arch, "--data", "synthetic", "--recipe", recipe, "--db", db, "--seed", "2")
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	wantExit(t, 0, nil, "ls", "--db", db)
	wantExit(t, 1, []string{"folder " + dir + " is read-only"}, "train", arch, "--data", "synthetic", "--recipe", recipe, "--db", filepath.Join(dir, "new.db"))
}

func TestBenchChecksMemoryAndBounds(t *testing.T) {
	t.Setenv(evaluator.MemoryLimitEnv, "1000000")
	arch := baselineDir + "small/resnet20_mnist.yaml"
	wantExit(t, 2, []string{arch + ": training needs about", "over the 1.0 MiB that $NAS_MEMORY_LIMIT allows"},
		"bench", arch, "--threads", "1", "--reps", "1")
	wantExit(t, 2, []string{"--batch must be between 1 and 65536"}, "bench", arch, "--batch", "100000")
}

// runAsNobody runs the test called name in a copy of this test binary as uid and gid 65534:
// root writes read-only files anyway, so permissions are tested as another user.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nas-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "nas.test")
	b, err := os.ReadFile(exe)
	if err == nil {
		err = os.WriteFile(bin, b, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o777)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^"+name+"$", "-test.count", "1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot switch to uid 65534 here (%v); run the test as a user other than root", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as uid 65534: %v\n%s", name, err, out)
	}
}

func TestFinalizeNeedsTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	wantExit(t, 2, []string{"no database at " + db}, "finalize", "quick", "--db", db, "--recipe", "../../configs/recipes/standard.yaml")
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was created (%v)", db, err)
	}
}
