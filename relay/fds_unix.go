//go:build unix

package relay

import (
	"math"
	"syscall"
)

// ProcessFDs is the process's open-file limit, 0 when unknown: what a
// resource manager for an infrastructure role may size its file
// descriptors from (ResourceManager here, node/infra's bootstrap host).
func ProcessFDs() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > math.MaxInt32 {
		return 0
	}
	return int(l.Cur)
}
