package container

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reaper is the body of --init: PID 1 of the container starts args as its
// child, forwards every signal to it, reaps every zombie and exits with the
// child's status.
func Reaper(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "tabula-reaper: no command to run")
		return 127
	}
	sigc := make(chan os.Signal, 32)
	signal.Notify(sigc)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "tabula-reaper: %v\n", err)
		return 127
	}
	proc, err := os.StartProcess(path, args, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tabula-reaper: %v\n", err)
		return 126
	}
	child := proc.Pid
	for s := range sigc {
		sig := s.(syscall.Signal)
		if sig != unix.SIGCHLD {
			if sig != unix.SIGURG { // the Go runtime's own
				unix.Kill(child, sig)
			}
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 0
}
