package container

import "os"

// MonitorName is the argv[0] that makes tabula run as the monitor of a
// detached container.
const MonitorName = "tabula-monitor"

// ExitError carries a container's exit code to tabula's own exit.
type ExitError struct {
	Code int
	Err  error // nil when the container itself exited with Code
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }
func (e *ExitError) ExitCode() int { return e.Code }

// Stdio are the terminal or pipes of a foreground container or exec.
type Stdio struct {
	In, Out, Err *os.File
	// Signals, for Run, are the signals to relay to the container, caught
	// beforehand with CatchSignals; when nil, Run catches them itself.
	Signals *Signals
}

// Signals are the signals caught for a foreground container (see
// CatchSignals).
type Signals struct {
	c     chan os.Signal
	ready chan struct{} // closed once they are caught
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

type monitorReport struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// StarterName is the argv[0] of the short-lived process a monitor starts to
// create and start its container, so that the monitor itself never carries
// the memory that work needs.
const StarterName = "tabula-starter"

// ExecOptions are the flags of `tabula exec`.
type ExecOptions struct {
	Cmd         []string
	User        string
	Env         []string
	Workdir     string
	Tty         bool
	Interactive bool
}
