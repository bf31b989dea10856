//go:build unix

package infra

import (
	"math"
	"syscall"
)

// processFDs is the process's open-file limit, 0 when unknown.
func processFDs() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > math.MaxInt32 {
		return 0
	}
	return int(l.Cur)
}
