//go:build !linux

package runtime

import (
	"context"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
)

type child struct{}

func (r *Runtime) create(ctx context.Context, id, bundle string, opts CreateOptions) (*Container, error) {
	return nil, errdefs.ErrNotImplemented
}
func (r *Runtime) start(ctx context.Context, id string) error { return errdefs.ErrNotImplemented }
func (c *Container) wait() (ExitStatus, error)                { return ExitStatus{}, errdefs.ErrNotImplemented }
func (p *Process) wait() (ExitStatus, error)                  { return ExitStatus{}, errdefs.ErrNotImplemented }
func (r *Runtime) kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return errdefs.ErrNotImplemented
}
func (r *Runtime) delete(ctx context.Context, id string, force bool) error {
	return errdefs.ErrNotImplemented
}
func (r *Runtime) exec(ctx context.Context, id string, p *specs.Process, opts ExecOptions) (*Process, error) {
	return nil, errdefs.ErrNotImplemented
}
func reexec() bool { return false }

// NewNetworkNamespace makes nothing: Create fails on this system anyway.
func NewNetworkNamespace() *NetworkNamespace { return &NetworkNamespace{} }

// Close does nothing.
func (n *NetworkNamespace) Close() error { return nil }
