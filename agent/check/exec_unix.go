//go:build unix

package check

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own and kills the whole
// group when the probe ends early: a check script's children (curl, nc)
// must not outlive it and pile up.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
