package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	rtrace "runtime/trace"
)

// startProfiles starts a pprof CPU profile into the file cpu, records every allocation for a
// heap profile written to mem if that is set, and writes Go's execution trace (go tool trace) to
// the file trace; the returned stop ends them all. Empty names profile nothing.
func startProfiles(cpu, mem, trace string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, badInput(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stops = append(stops, func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	if mem != "" {
		runtime.MemProfileRate = 1
		stops = append(stops, func() {
			if f, err := os.Create(mem); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		})
	}
	if trace != "" {
		f, err := os.Create(trace)
		if err != nil {
			stop()
			return nil, badInput(err)
		}
		if err := rtrace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		stops = append(stops, func() {
			rtrace.Stop()
			f.Close()
		})
	}
	return stop, nil
}
