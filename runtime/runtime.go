package runtime

import (
	"context"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime creates and manages containers whose runtime state lives under
// StateDir, one directory per container ID (like runc's /run/runc).
type Runtime struct {
	StateDir string

	noSpawn bool // tests: always start tabula's init (see spawn_linux.go)
}

// CreateOptions are what a caller gives Create besides the bundle.
type CreateOptions struct {
	// Stdin, Stdout and Stderr become the container process's fds 0-2; nil
	// means /dev/null. Ignored when the process has a terminal.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket is runc's --console-socket: the pty master of a terminal
	// process is sent there. When empty and the process has a terminal, the
	// master is returned in Container.Console.
	ConsoleSocket string
	// PidFile, when set, receives the container process's host PID.
	PidFile string
	// Rootfs are mounted, in order, at the spec's root path inside the
	// container's new mount namespace before pivot_root (tabula's overlay of
	// image layers), so nothing stays mounted on the host when the
	// container's mount namespace goes away.
	Rootfs []specs.Mount
	// Spec, when set, is the bundle's config.json as its caller has just
	// written it: Create uses it instead of reading the file again.
	Spec *specs.Spec
	// NetworkNamespace, when set, is joined instead of the new network
	// namespace the spec asks for; Create closes it either way.
	NetworkNamespace *NetworkNamespace
	// Start has the program run as soon as the container is made, as runc
	// run does, without a call to Start.
	Start bool
	// StartAfter, when set with Start, holds the program until it is
	// closed: the container is made meanwhile. A caller that relays
	// signals to the program closes it once they are caught.
	StartAfter <-chan struct{}
}

// NetworkNamespace is a network namespace made ahead of Create
// (NewNetworkNamespace).
type NetworkNamespace struct {
	done chan struct{}
	f    *os.File
	err  error
}

// Container is a created container, as seen by the process that created it.
type Container struct {
	ID  string
	Pid int
	// Console is the pty master when the process has a terminal and no
	// console socket was given.
	Console *os.File

	proc *child // the init process, when this process created it
	dir  string // its state directory
}

// ExitStatus is how a container's process ended.
type ExitStatus struct {
	Code      int // 128+signal when killed by a signal, as a shell reports it
	Signal    syscall.Signal
	OOMKilled bool
}

// Create sets up the container of the bundle at bundle (config.json and the
// rootfs) and leaves its process waiting for Start. Errors are reported with
// the part of the spec that failed ("mount /proc: …").
func (r *Runtime) Create(ctx context.Context, id, bundle string, opts CreateOptions) (*Container, error) {
	return r.create(ctx, id, bundle, opts)
}

// Start runs the user process of a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	return r.start(ctx, id)
}

// Wait waits for the container's process to end and returns its status. Only
// the process that created the container can wait for it.
func (c *Container) Wait() (ExitStatus, error) {
	return c.wait()
}

// State returns the OCI state of container id; a process that has died is
// reported as stopped, never as running.
func (r *Runtime) State(ctx context.Context, id string) (*specs.State, error) {
	st, err := r.loadState(id)
	if err != nil {
		return nil, err
	}
	return st.oci(), nil
}

// List returns the state of every container under StateDir.
func (r *Runtime) List(ctx context.Context) ([]*specs.State, error) {
	return r.list(ctx)
}

// Kill sends sig to the container's process, or with all to every process of
// its cgroup.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return r.kill(ctx, id, sig, all)
}

// Delete removes a stopped container's cgroup and state; force kills it first.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	return r.delete(ctx, id, force)
}

// ExecOptions are the stdio of an exec'd process.
type ExecOptions struct {
	Stdin, Stdout, Stderr *os.File
	ConsoleSocket         string
	PidFile               string
	// Spec, when set, is the container's config.json as the caller has
	// read it: Exec uses it instead of reading the file again.
	Spec *specs.Spec
}

// Process is a process started by Exec.
type Process struct {
	Pid     int
	Console *os.File

	proc *child
}

// Exec starts p inside the running container id: all its namespaces and its
// cgroup, the same capabilities, seccomp and no-new-privileges unless p says
// otherwise.
func (r *Runtime) Exec(ctx context.Context, id string, p *specs.Process, opts ExecOptions) (*Process, error) {
	return r.exec(ctx, id, p, opts)
}

// Wait waits for an exec'd process to end.
func (p *Process) Wait() (ExitStatus, error) {
	return p.wait()
}

// Reexec runs the container init when the current process was started by
// Create or Exec as one; it then never returns. Otherwise it returns false.
// main calls it before anything else.
func Reexec() bool { return reexec() }
