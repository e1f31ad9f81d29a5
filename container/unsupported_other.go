//go:build !linux

package container

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/tabula-dev/tabula/errdefs"
)

// ForwardedSignals are relayed to a foreground container's PID 1: none
// here, where no container runs.
var ForwardedSignals []os.Signal

var errNoContainers = fmt.Errorf("containers run on Linux only: %w", errdefs.ErrNotImplemented)

func (c *Containers) Run(ctx context.Context, rec *Record, stdio Stdio) (int, error) {
	return 0, errNoContainers
}

// CatchSignals catches nothing where containers do not run.
func CatchSignals() *Signals {
	s := &Signals{ready: make(chan struct{})}
	close(s.ready)
	return s
}

// Stop does nothing.
func (s *Signals) Stop() {}

func (c *Containers) StartDetached(ctx context.Context, rec *Record) error { return errNoContainers }
func (c *Containers) Kill(ctx context.Context, rec *Record, sig syscall.Signal) error {
	return errNoContainers
}
func (c *Containers) Stop(ctx context.Context, rec *Record, timeout time.Duration) error {
	return errNoContainers
}
func (c *Containers) Start(ctx context.Context, rec *Record) error    { return errNoContainers }
func (c *Containers) Register(ctx context.Context, rec *Record) error { return errNoContainers }
func (c *Containers) StartAttached(ctx context.Context, rec *Record, stdio Stdio) (int, error) {
	return 0, errNoContainers
}
func (c *Containers) Remove(ctx context.Context, rec *Record, force bool) error {
	return errNoContainers
}
func (c *Containers) Wait(ctx context.Context, rec *Record) (int, error) { return 0, errNoContainers }
func (c *Containers) Exec(ctx context.Context, rec *Record, eo ExecOptions, stdio Stdio) (int, error) {
	return 0, errNoContainers
}

// Monitor, Starter and Reaper are Linux-only entry points.
func Monitor(args []string) int { return 2 }
func Starter(args []string) int { return 2 }
func Reaper(args []string) int  { return 2 }

func (c *Containers) takeRecycled(dir string) bool { return false }
func (c *Containers) spreadContainers()            {}
