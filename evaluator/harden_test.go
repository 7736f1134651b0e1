package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonas/nas/space"
)

// fakeMachine points MemoryLimit at files of the test's making and unsets $NAS_MEMORY_LIMIT.
func fakeMachine(t *testing.T, meminfo string, cgroups ...string) {
	t.Helper()
	dir := t.TempDir()
	oldFiles, oldMeminfo := cgroupLimitFiles, meminfoFile
	t.Cleanup(func() { cgroupLimitFiles, meminfoFile = oldFiles, oldMeminfo })
	meminfoFile = filepath.Join(dir, "meminfo")
	if meminfo != "" {
		os.WriteFile(meminfoFile, []byte(meminfo), 0o644)
	}
	cgroupLimitFiles = nil
	for i, c := range cgroups {
		f := filepath.Join(dir, "cgroup"+string(rune('0'+i)))
		os.WriteFile(f, []byte(c), 0o644)
		cgroupLimitFiles = append(cgroupLimitFiles, f)
	}
	cgroupLimitFiles = append(cgroupLimitFiles, filepath.Join(dir, "absent"))
	t.Setenv(MemoryLimitEnv, "")
	os.Unsetenv(MemoryLimitEnv)
}

func TestMemoryLimitReadsTheMachine(t *testing.T) {
	const meminfo = "MemTotal:       24683748 kB\nMemFree:        1000 kB\nMemAvailable:   2000 kB\n"
	for _, tc := range []struct {
		name    string
		cgroups []string
		want    int64
		source  string
	}{
		{"no cgroup limit: MemTotal", nil, 24683748 * 1024, "MemTotal"},
		{"cgroup v2 unlimited", []string{"max\n"}, 24683748 * 1024, "MemTotal"},
		{"cgroup v1 unlimited", []string{"9223372036854771712\n"}, 24683748 * 1024, "MemTotal"},
		{"cgroup v2 limit", []string{"1073741824\n"}, 1 << 30, "cgroup"},
		{"the smaller of two cgroup limits", []string{"2147483648\n", "1073741824\n"}, 1 << 30, "cgroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeMachine(t, meminfo, tc.cgroups...)
			got, source, err := MemoryLimit()
			if err != nil || got != tc.want || !strings.Contains(source, tc.source) {
				t.Errorf("MemoryLimit() = %d, %q, %v; want %d from %s", got, source, err, tc.want, tc.source)
			}
		})
	}
	t.Run("nothing to read", func(t *testing.T) {
		fakeMachine(t, "")
		if got, _, err := MemoryLimit(); got != 0 || err != nil {
			t.Errorf("MemoryLimit() = %d, %v; want 0 (unknown), nil", got, err)
		}
	})
}

func TestMemoryLimitEnvOverridesAndIsChecked(t *testing.T) {
	fakeMachine(t, "MemTotal: 1000 kB\n")
	t.Setenv(MemoryLimitEnv, "5000000")
	if got, source, err := MemoryLimit(); got != 5000000 || source != "$NAS_MEMORY_LIMIT" || err != nil {
		t.Errorf("MemoryLimit() = %d, %q, %v; want 5000000 from $NAS_MEMORY_LIMIT", got, source, err)
	}
	for _, bad := range []string{"0", "-1", "1G", "lots", "99999999999999999999"} {
		t.Setenv(MemoryLimitEnv, bad)
		if _, _, err := MemoryLimit(); err == nil || !strings.Contains(err.Error(), "between 1 and 9223372036854775807") {
			t.Errorf("$NAS_MEMORY_LIMIT=%s: error %v, want one giving the bounds", bad, err)
		}
	}
}

func TestCheckMemoryGivesTheEstimateAndTheLimit(t *testing.T) {
	t.Setenv(MemoryLimitEnv, "1048576")
	c := space.Counts{Params: 1000, Activations: 10000}
	if err := CheckMemory(c, 1); err != nil { // 92 kB
		t.Errorf("92 kB under a 1 MiB limit: %v", err)
	}
	err := CheckMemory(c, 128) // 10.2 MB
	var me *MemoryError
	if !errors.As(err, &me) || me.Estimate != c.TrainMemory(128) || me.Limit != 1<<20 ||
		!strings.Contains(err.Error(), "about 9.8 MiB at batch 128") || !strings.Contains(err.Error(), "over the 1.0 MiB that $NAS_MEMORY_LIMIT allows") {
		t.Errorf("error %v, want a *MemoryError with the estimate and the limit", err)
	}
	err = CheckMemory(space.Counts{Activations: math.MaxInt64 / 2}, 1024)
	if err == nil || !strings.Contains(err.Error(), "more than 2^63 bytes") {
		t.Errorf("a saturated estimate: error %v", err)
	}
}

func TestEvaluateRefusesOverMemoryBeforeBuilding(t *testing.T) {
	t.Setenv(MemoryLimitEnv, "100000")
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), syntheticDataset(100), quickRecipe(), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOverBudget || !strings.Contains(res.Message, "over the 0.1 MiB that $NAS_MEMORY_LIMIT allows") ||
		res.PeakMemBytes != 0 || len(res.Epochs) != 0 || res.Params == 0 {
		t.Errorf("result %+v; want over_budget with counts, before any buffer or epoch", res)
	}
}

func TestNonFiniteValidationLossDivergesAfterOneStep(t *testing.T) {
	r := quickRecipe()
	r.Epochs, r.Batch, r.LR = 1, 512, 1000 // one step over the 320 training images
	res, err := Evaluate(context.Background(), parseArch(t, tinyArch), syntheticDataset(400), r, Options{Seed: 1, SkipLatency: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusDiverged || !strings.Contains(res.Message, "validation loss is") || len(res.Epochs) != 1 {
		t.Fatalf("status %s (%s) after %d epochs; want diverged on the validation loss after the one step", res.Status, res.Message, len(res.Epochs))
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the diverged result does not encode: %v", err)
	}
}

func TestEmptyRecipeFileMeansDefaults(t *testing.T) {
	for _, doc := range []string{"", "# nothing set here\n", "---\n"} {
		r, err := ParseRecipe([]byte(doc), "empty.yaml")
		if err != nil || r.Hash() != DefaultRecipe().Hash() {
			t.Errorf("%q: %+v, %v; want the default recipe", doc, r, err)
		}
	}
}

func TestRecipeErrorsGiveBothBoundsAndTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"epochs: 100000000\n", `f.yaml:1:1: field "epochs": must be between 1 and 10000 (got 100000000)`},
		{"lr: .inf\n", `f.yaml:1:1: field "lr": must be in (0, 1000] (got +Inf)`},
		{"weight_decay: 5\n", `f.yaml:1:1: field "weight_decay": must be in [0, 1] (got 5)`},
		{"crop_pad: 1000000\n", `f.yaml:1:1: field "crop_pad": must be between 0 and 1024 (got 1000000)`},
		{"threads: 100000\n", `f.yaml:1:1: field "threads": must be between 0 and 4096`},
		{"time_limit: soon\n", `f.yaml:1:13: field "time_limit": want a duration such as 90s, 10m or 1h, got "soon"`},
		{"time_limit: 100000h\n", `f.yaml:1:1: field "time_limit": must be between 0 (none) and 8760h0m0s (got 100000h0m0s)`},
	} {
		_, err := ParseRecipe([]byte(tc.yaml), "f.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error\n%v\nwant\n%s", tc.yaml, err, tc.want)
		}
	}
}
