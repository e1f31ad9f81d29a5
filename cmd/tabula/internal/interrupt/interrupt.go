// Package interrupt gives tabula's commands a context canceled by SIGINT
// or SIGTERM, with the signals registered from the very start of the
// process.
//
// Registering a signal with the Go runtime takes a round trip through its
// signal thread, each. run, debug, exec and start also register the dozen
// signals they relay to a container's process, which must be caught before
// the process starts: registered from main, they kept `tabula run` waiting
// about half a millisecond. This package's init starts the registration
// instead, so that it overlaps the initialization of the packages that come
// after it (this one imports nothing of tabula's, and is initialized
// early). Until a command catches the relayed signals itself, they are
// ignored.
package interrupt

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Relayed are the signals run, debug, exec and start -a relay to the
// process they start in a container (container.ForwardedSignals, which a test checks).
var Relayed = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGALRM, syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPWR,
}

// Reexecuted are the names under which tabula starts itself as a helper
// (container.MonitorName, StarterName and ReaperName, which a test checks),
// and reexecEnv the variable that marks it as a container's init: those
// handle their signals themselves.
var Reexecuted = []string{"tabula-monitor", "tabula-starter", "tabula-reaper"}

const reexecEnv = "_TABULA_RUNTIME_INIT"

// early is the registration the init started: its channel, closed
// registered once done. Nil for a helper process.
var early *registration

type registration struct {
	c          chan os.Signal
	registered chan struct{}
}

func init() {
	if os.Getenv(reexecEnv) != "" || len(os.Args) == 0 || slices.Contains(Reexecuted, base(os.Args[0])) {
		return
	}
	early = register(Signals(os.Args[1:]))
}

// base is the last element of path. It is not filepath.Base, so that this
// package imports only what is initialized early: it is initialized, and
// the registration started, as soon as os/signal is.
func base(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// register starts registering sigs in the background.
func register(sigs []os.Signal) *registration {
	r := &registration{c: make(chan os.Signal, len(sigs)), registered: make(chan struct{})}
	go func() {
		signal.Notify(r.c, sigs...)
		close(r.registered)
	}()
	return r
}

// Signals are the signals registered for command line args: SIGINT and
// SIGTERM, and the relayed ones for the commands that relay them.
func Signals(args []string) []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if name := CommandName(args); name == "run" || name == "debug" || name == "exec" || name == "start" {
		sigs = append(sigs, Relayed...)
	}
	return sigs
}

// CommandName is the command args names: their first word that is neither
// a flag nor the value of the root's --root or --log-level.
func CommandName(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			return ""
		case a == "--root" || a == "--log-level":
			i++
		case !strings.HasPrefix(a, "-"):
			return a
		}
	}
	return ""
}

// Context returns a context canceled by SIGINT or SIGTERM, with the
// registration the init started, or, in a process that started none,
// one started now. stop cancels it and lets the signals go.
func Context() (ctx context.Context, stop func()) {
	if early == nil {
		early = register(Signals(os.Args[1:]))
	}
	r := early
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		<-r.registered
		defer signal.Stop(r.c)
		for {
			select {
			case s := <-r.c:
				if s == os.Interrupt || s == syscall.SIGTERM {
					cancel()
				}
			case <-stopped:
				return
			}
		}
	}()
	return ctx, func() { cancel(); close(stopped) }
}
