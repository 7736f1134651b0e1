//go:build !unix

package search

// processExists reports whether a process of that pid runs on this machine; where nas cannot
// tell, it assumes so, and a dead process's holds and leases expire in their time.
func processExists(pid int) bool { return true }
