package evaluator

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gonas/nas/space"
)

// MemoryLimitEnv names the environment variable that sets the memory a training may use, in
// bytes, in place of what the machine allows: for tests, and for a user who shares the machine.
const MemoryLimitEnv = "NAS_MEMORY_LIMIT"

// Where MemoryLimit reads the machine's limits; tests point them elsewhere.
var (
	cgroupLimitFiles = []string{
		"/sys/fs/cgroup/memory.max",                   // cgroup v2: a number of bytes or "max"
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1: a number, near 2^63 when unlimited
	}
	meminfoFile = "/proc/meminfo"
)

// MemoryLimit returns the bytes of memory that one training may use and where the figure
// comes from: $NAS_MEMORY_LIMIT when it is set, else the smaller of the cgroup's limit and
// the machine's MemTotal. MemTotal rather than MemAvailable, so that whether a network fits
// does not depend on what else runs at the time, and a search stores the same verdict for the
// same network on the same machine. A limit of 0 means none is known (no /proc, no cgroup).
func MemoryLimit() (int64, string, error) {
	if v, ok := os.LookupEnv(MemoryLimitEnv); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 {
			return 0, "", fmt.Errorf("$%s is %q; it must be a whole number of bytes between 1 and %d", MemoryLimitEnv, v, int64(math.MaxInt64))
		}
		return n, "$" + MemoryLimitEnv, nil
	}
	limit, source := int64(0), ""
	if n, ok := memTotal(); ok {
		limit, source = n, meminfoFile+" MemTotal"
	}
	for _, f := range cgroupLimitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		if err == nil && n > 0 && (limit == 0 || n < limit) {
			limit, source = n, "the cgroup's limit ("+f+")"
		}
	}
	return limit, source, nil
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal() (int64, bool) {
	f, err := os.Open(meminfoFile)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb < 1 || kb > math.MaxInt64/1024 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// MemoryError reports a network whose training would need more memory than the machine allows.
type MemoryError struct {
	Estimate int64 // bytes, space.Counts.TrainMemory at Batch
	Batch    int
	Limit    int64  // bytes
	Source   string // where Limit comes from
}

// Error gives the estimate and the limit in MiB, and what to change.
func (e *MemoryError) Error() string {
	est := fmt.Sprintf("%.1f MiB", float64(e.Estimate)/(1<<20))
	if e.Estimate == math.MaxInt64 {
		est = "more than 2^63 bytes"
	}
	return fmt.Sprintf("training needs about %s at batch %d (activations·batch·8 B + params·12 B), over the %.1f MiB that %s allows; use a smaller batch or network",
		est, e.Batch, float64(e.Limit)/(1<<20), e.Source)
}

// CheckMemory compares the training-memory estimate of a network with counts c at batch size
// batch with MemoryLimit, before anything is allocated. Over the limit, the error is a
// *MemoryError; an invalid $NAS_MEMORY_LIMIT is another error.
func CheckMemory(c space.Counts, batch int) error {
	limit, source, err := MemoryLimit()
	if err != nil || limit == 0 {
		return err
	}
	if est := c.TrainMemory(batch); est > limit {
		return &MemoryError{Estimate: est, Batch: batch, Limit: limit, Source: source}
	}
	return nil
}
