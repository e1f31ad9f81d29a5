package runtime

import (
	"context"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
)

// exec starts p in container id. The process is forked from a throwaway
// thread that has already joined the container's cgroup and namespaces
// (the PID namespace applies to the thread's children), so it is born
// inside. Where it can (spawn_linux.go), the thread joins the mount
// namespace too and takes p's credentials, capabilities and seccomp
// filter before it forks p itself; otherwise it forks tabula's init from
// the protected binary, which does all that and execve's p.
func (r *Runtime) exec(ctx context.Context, id string, p *specs.Process, opts ExecOptions) (*Process, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command: %w", id, errdefs.ErrInvalidArgument)
	}
	st, err := r.loadState(id)
	if err != nil {
		return nil, err
	}
	pidfd, err := st.openLive()
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	spec, err := loadSpec(st.Bundle, opts.Spec)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	proc := execProcess(spec.Process, p)

	// The mount namespace is entered last (by the init itself, once its
	// binary is loaded: tabula's binary need not exist in the container's
	// filesystem, nor its dynamic loader, for a test binary).
	var join []nsJoin
	for _, ns := range nsProcName {
		if ns.typ != specs.MountNamespace {
			join = append(join, nsJoin{typ: ns.typ, path: "/proc/" + strconv.Itoa(st.Pid) + "/ns/" + ns.name})
		}
	}
	mntns, err := os.Open("/proc/" + strconv.Itoa(st.Pid) + "/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer mntns.Close()
	nsFiles, err := openNamespaces(join)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer closeAll(nsFiles)
	// The namespaces opened must still be the container's.
	if !st.alive() {
		return nil, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	var cg *containerCgroup
	if st.Cgroup != "" {
		if cg, err = loadCgroup(st.Cgroup); err != nil {
			return nil, fmt.Errorf("exec in container %s: cgroup %s: %w", id, st.Cgroup, err)
		}
	}
	prog, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w: %w", id, err, errdefs.ErrInvalidArgument)
	}
	if !r.noSpawn && !mayTrace(spec.Process.Capabilities) && !pidnsTraced(st.dir) && canSpawn(unifiedHost(), prog) {
		s, err := spawn(&spawnPlan{
			process: proc, seccomp: prog, stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
			enter: func() error {
				// The cgroup first: its files are found through the
				// host's mount namespace.
				if cg != nil {
					if err := enterCgroup(cg); err != nil {
						return err
					}
				}
				return setnsAll(append(join, nsJoin{typ: specs.MountNamespace, path: mntns.Name()}), append(nsFiles, mntns))
			},
		})
		if err != nil {
			return nil, fmt.Errorf("exec in container %s: %w", id, err)
		}
		s.finish(releaseRun)
		return r.execStarted(&child{proc: newProcess(s.pid), threadGone: s.waitThread}, s.console, opts)
	}
	cmd, err := newInitCmd("exec", id, opts.Stdin, opts.Stdout, opts.Stderr, proc.Terminal)
	if err != nil {
		return nil, err
	}
	if cg != nil && cg.v2 {
		d, err := cg.openDir()
		if err != nil {
			return nil, err
		}
		defer d.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(d.Fd())
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, mntns) // fd 6, after child.start's three
	ch := &child{cmd: cmd}
	config := func() (*initConfig, error) { return &initConfig{Process: proc, Seccomp: prog}, nil }
	console, err := ch.start(ctx, false, config, func() error { return setnsAll(join, nsFiles) }, cg)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	return r.execStarted(ch, console, opts)
}

// execStarted records an exec'd process's PID where opts say and hands
// its terminal over.
func (r *Runtime) execStarted(ch *child, console *os.File, opts ExecOptions) (*Process, error) {
	pid := ch.proc.Pid
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, pid); err != nil {
			ch.proc.kill()
			ch.proc.wait()
			return nil, err
		}
	}
	console, err := handConsole(console, opts.ConsoleSocket)
	if err != nil {
		return nil, err
	}
	return &Process{Pid: pid, proc: ch, Console: console}, nil
}

// execProcess fills what p leaves unset from the container's process:
// environment, working directory, capabilities, rlimits; no-new-privileges
// holds if either asks for it.
func execProcess(base, p *specs.Process) *specs.Process {
	out := *p
	if base == nil {
		return &out
	}
	if len(out.Env) == 0 {
		out.Env = base.Env
	}
	if out.Cwd == "" {
		out.Cwd = base.Cwd
	}
	if out.Capabilities == nil {
		out.Capabilities = base.Capabilities
	}
	if out.Rlimits == nil {
		out.Rlimits = base.Rlimits
	}
	out.NoNewPrivileges = out.NoNewPrivileges || base.NoNewPrivileges
	return &out
}
