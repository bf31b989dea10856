//go:build unix

package wakehook

import (
	"os/exec"
	"syscall"
)

// detach puts the command in a process group of its own, so a signal to
// the relay's group (a Ctrl-C, a service manager's stop) does not reach a
// node that is booting.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
