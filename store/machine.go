package store

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// ThisMachine describes the computer and binary running now. nasVersion is the caller's version
// string; if it is empty, the main module's version from the build info is used ("(devel)" for a
// binary built from a checkout). The CPU model comes from /proc/cpuinfo, or is "unknown
// GOARCH" where that file is missing or silent.
func ThisMachine(nasVersion string) Machine {
	if nasVersion == "" {
		nasVersion = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			nasVersion = bi.Main.Version
		}
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = cpuModel(b)
	}
	if cpu == "" {
		cpu = "unknown " + runtime.GOARCH
	}
	return Machine{CPUModel: cpu, Cores: runtime.NumCPU(), GoVersion: runtime.Version(), NASVersion: nasVersion}
}

// cpuModel returns the processor name from the text of /proc/cpuinfo, or "" if it names none.
// x86 kernels call it "model name"; some ARM and RISC-V kernels only give "Hardware" or "uarch".
func cpuModel(cpuinfo []byte) string {
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if ok && value != "" && found[key] == "" {
			found[key] = value
		}
	}
	for _, key := range []string{"model name", "Hardware", "uarch", "cpu model", "Processor"} {
		if v := found[key]; v != "" {
			return v
		}
	}
	return ""
}
