//go:build unix

package search

import (
	"errors"
	"syscall"
)

// processExists reports whether a process of that pid runs on this machine.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
