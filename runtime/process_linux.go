package runtime

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// process is a child of this process that it alone reaps: a container's
// program or init, or an exec'd process.
//
// It is what os.Process would be, less what its first use in a process
// costs: os checks that the kernel supports pidfds by forking a throwaway
// child, which here blocks the caller half a millisecond, in every run
// just as the program starts. No pidfd is needed: a child's PID names no
// other process until the child is reaped, only wait reaps it, and after
// that kill signals nothing.
type process struct {
	Pid int

	mu     sync.Mutex
	reaped bool
}

func newProcess(pid int) *process { return &process{Pid: pid} }

// kill sends SIGKILL, unless the process has been reaped.
func (p *process) kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return unix.ESRCH
	}
	return unix.Kill(p.Pid, unix.SIGKILL)
}

// wait waits for the process to end and reaps it. It waits without reaping
// first, so that kill, meanwhile, can only meet the process or its zombie.
func (p *process) wait() (syscall.WaitStatus, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			if err != nil {
				return 0, err
			}
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(p.Pid, &ws, 0, nil)
		if err != syscall.EINTR {
			p.reaped = true
			return ws, err
		}
	}
}
