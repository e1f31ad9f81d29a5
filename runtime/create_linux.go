package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
)

// child is a container's process started by this process: an init (cmd)
// or a spawned program.
type child struct {
	cmd  *exec.Cmd
	proc *process
	cg   *containerCgroup // nil for exec'd processes
	// mntns holds a spawned container's mount namespace, so that its
	// teardown (unmounting the rootfs and the rest) does not delay the
	// container's exit status: wait releases it in the background.
	mntns *os.File
	// threadGone, when not nil, returns once the thread that spawned the
	// process has ended (spawned.waitThread).
	threadGone func()
}

// initExePath is where the init finds tabula's binary: the protected fd
// passed as its third extra file.
const initExePath = "/proc/self/fd/5"

// loadSpec reads the bundle's config.json, or takes parsed, the spec its
// caller has just written there.
func loadSpec(bundle string, parsed *specs.Spec) (*specs.Spec, error) {
	p := filepath.Join(bundle, "config.json")
	var s specs.Spec
	if parsed != nil {
		s = *parsed
	} else {
		b, err := sysfile.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("bundle %s has no config.json: %w", bundle, errdefs.ErrNotFound)
			}
			return nil, err
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", p, err, errdefs.ErrInvalidArgument)
		}
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("%s: process.args is empty: %w", p, errdefs.ErrInvalidArgument)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%s: root.path is empty: %w", p, errdefs.ErrInvalidArgument)
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	return &s, nil
}

// newInitSpec is the part of spec the init reads: its mounts, devices,
// host name, paths to mask and the like. The process goes separately, the
// seccomp profile compiled; cgroups, namespaces and annotations are the
// parent's business.
func newInitSpec(spec *specs.Spec) *initSpec {
	l := spec.Linux
	return &initSpec{
		Root:              spec.Root,
		Hostname:          spec.Hostname,
		Domainname:        spec.Domainname,
		Mounts:            spec.Mounts,
		Devices:           l.Devices,
		Sysctl:            l.Sysctl,
		RootfsPropagation: l.RootfsPropagation,
		MaskedPaths:       l.MaskedPaths,
		ReadonlyPaths:     l.ReadonlyPaths,
	}
}

func (r *Runtime) create(ctx context.Context, id, bundle string, opts CreateOptions) (_ *Container, retErr error) {
	if opts.NetworkNamespace != nil {
		defer opts.NetworkNamespace.Close()
	}
	dir, err := r.containerDir(id)
	if err != nil {
		return nil, err
	}
	if bundle, err = filepath.Abs(bundle); err != nil {
		return nil, err
	}
	spec, err := loadSpec(bundle, opts.Spec)
	if err != nil {
		return nil, err
	}
	cloneflags, newCgroupNS, join, err := namespacePlan(spec.Linux.Namespaces)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	// A new network namespace takes the kernel most of a millisecond: it
	// is made on another thread while the rest is prepared (or was made
	// by the caller, earlier still), and joined.
	netns := opts.NetworkNamespace
	if cloneflags&unix.CLONE_NEWNET == 0 {
		netns = nil
	} else if netns == nil {
		netns = NewNetworkNamespace()
		defer netns.Close()
	}
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if err := os.MkdirAll(r.StateDir, 0o711); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
		}
		return nil, err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
		}
	}()
	// The cgroup is made, once the ID is surely this container's, while
	// the rest is prepared; whoever needs it waits (a v2 init is born in
	// it, a v1 thread or init enters it).
	cgroup := startCgroup(cgroupPath(spec, id), spec.Linux.Resources)
	defer func() {
		if cg, _ := cgroup(); retErr != nil && cg != nil {
			cg.delete()
		}
	}()
	nsFiles, err := openNamespaces(join)
	if err != nil {
		return nil, err
	}
	defer closeAll(nsFiles)
	initCfg := &initConfig{
		Spec: newInitSpec(spec), Process: spec.Process, Root: root, Bundle: bundle,
		Rootfs: opts.Rootfs, NewCgroupNS: newCgroupNS,
	}
	prog, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	var (
		ch      *child
		console *os.File
		held    bool
		plan    = &createPlan{cfg: initCfg, cloneflags: cloneflags, netns: netns, join: join, nsFiles: nsFiles, cgroup: cgroup}
	)
	// A PID namespace joined holds processes that may trace the fork.
	pidJoin := slices.IndexFunc(join, func(j nsJoin) bool { return j.typ == specs.PIDNamespace })
	// A program to run at once is let go by the thread that spawned it,
	// unless a pids limit must be set first, which the thread counts in.
	runNow := false
	if !r.noSpawn && pidJoin < 0 && canSpawn(unifiedHost(), prog) {
		runNow = opts.Start && (spec.Linux.Resources == nil || spec.Linux.Resources.Pids == nil)
		ch, console, err = spawnContainer(plan, prog, opts, runNow)
		held = !runNow
	} else {
		ch, console, err = r.createInit(ctx, dir, id, plan, prog, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			ch.proc.kill()
			ch.wait()
			ch.closeMntns()
		}
	}()
	cg := ch.cg
	if spec.Linux.Resources != nil && spec.Linux.Resources.Pids != nil {
		if ch.threadGone != nil {
			ch.threadGone() // it counted in the cgroup's pids
		}
		if err := cg.setPidsLimit(spec.Linux.Resources.Pids); err != nil {
			return nil, fmt.Errorf("container %s: %w", id, err)
		}
	}
	pid := ch.proc.Pid
	startTime, _, err := processStat(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: its process died: %w", id, err)
	}
	st := &state{
		ID: id, Pid: pid, Bundle: bundle, StartTime: startTime, Cgroup: cg.path, Status: specs.StateCreated, Held: held,
		Created: time.Now().UTC().Format(time.RFC3339Nano), Annotations: spec.Annotations, dir: dir,
	}
	if runNow {
		st.Status = specs.StateRunning
	}
	if held {
		if err := sysfile.WriteFile(filepath.Join(dir, heldName), nil, 0o600); err != nil {
			return nil, err
		}
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	if pidJoin >= 0 && mayTrace(spec.Process.Capabilities) {
		r.markTracedPIDNS(id, nsFiles[pidJoin])
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, pid); err != nil {
			return nil, err
		}
	}
	console, err = handConsole(console, opts.ConsoleSocket)
	if err != nil {
		return nil, err
	}
	if opts.Start && !runNow {
		if opts.StartAfter != nil {
			<-opts.StartAfter
		}
		if err := r.start(ctx, id); err != nil {
			return nil, err
		}
	}
	return &Container{ID: id, Pid: pid, proc: ch, dir: dir, Console: console}, nil
}

// startCgroup starts making the cgroup at path and returns the function
// that waits for it.
func startCgroup(path string, res *specs.LinuxResources) func() (*containerCgroup, error) {
	made := make(chan struct{})
	var cg *containerCgroup
	var err error
	go func() {
		cg, err = newCgroup(path, res)
		close(made)
		if err == nil && cg.v1 != nil {
			hostCgroupMounts() // for the mount of /sys/fs/cgroup, soon
		}
	}()
	return func() (*containerCgroup, error) {
		<-made
		return cg, err
	}
}

// createInit starts tabula again as the container's init, which sets the
// container up around itself and waits on the exec fifo for Start.
func (r *Runtime) createInit(ctx context.Context, dir, id string, plan *createPlan, prog []byte, opts CreateOptions) (*child, *os.File, error) {
	cfg := plan.cfg
	fifo := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", fifo, err)
	}
	// The init reopens the fifo after it has become the container's user
	// and may have lost CAP_DAC_OVERRIDE: the fifo is that user's.
	if u := cfg.Process.User; u.UID != 0 || u.GID != 0 {
		if err := os.Chown(fifo, int(u.UID), int(u.GID)); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", fifo, err)
		}
	}
	cmd, err := newInitCmd("create", id, opts.Stdin, opts.Stdout, opts.Stderr, cfg.Process.Terminal)
	if err != nil {
		return nil, nil, err
	}
	join, nsFiles := plan.join, plan.nsFiles
	cmd.SysProcAttr.Cloneflags = plan.cloneflags
	if plan.netns != nil {
		f, err := plan.netns.file()
		if err != nil {
			return nil, nil, err
		}
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
		join = append(slices.Clip(join), nsJoin{typ: specs.NetworkNamespace, path: f.Name()})
		nsFiles = append(slices.Clip(nsFiles), f)
	}
	ch := &child{cmd: cmd}
	// On a v2 host the init is born in its cgroup (CLONE_INTO_CGROUP); on
	// v1 it moves itself in as the first thing it does with its
	// configuration, so the cgroup may be finished while its binary loads.
	if unifiedHost() {
		c, err := plan.cgroup()
		if err != nil {
			return nil, nil, err
		}
		ch.cg = c
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(c.dir.Fd())
	}
	config := func() (*initConfig, error) {
		if ch.cg == nil {
			c, err := plan.cgroup()
			if err != nil {
				return nil, err
			}
			ch.cg = c
			cfg.CgroupTasks, cfg.CgroupMounts = c.taskFiles(), c.mounts()
		}
		cfg.Fifo, cfg.Seccomp = fifo, prog
		return cfg, nil
	}
	var enter func() error
	if len(join) > 0 {
		enter = func() error { return setnsAll(join, nsFiles) }
	}
	console, err := ch.start(ctx, true, config, enter, nil)
	if err != nil {
		return nil, nil, err
	}
	return ch, console, nil
}

// newInitCmd prepares the re-execution of tabula as an init.
func newInitCmd(mode, id string, stdin, stdout, stderr *os.File, terminal bool) (*exec.Cmd, error) {
	cmd := &exec.Cmd{
		Path: initExePath,
		Args: []string{"tabula-init", id},
		// One P and no GC: the init is short-lived and single-threaded in
		// spirit; fewer runtime threads also make its execve quicker.
		Env:         []string{envInit + "=" + mode, "GOMAXPROCS=1", "GOGC=off"},
		SysProcAttr: &syscall.SysProcAttr{},
	}
	// Typed nils would become non-nil interfaces; os/exec gives the
	// process /dev/null for a nil one.
	if stdin != nil && !terminal {
		cmd.Stdin = stdin
	}
	if stdout != nil && !terminal {
		cmd.Stdout = stdout
	}
	if stderr != nil && !terminal {
		cmd.Stderr = stderr
	}
	return cmd, nil
}

// start starts the init (from a throwaway thread that enter has moved into
// namespaces to join, if any), in v1 cgroup cg if not nil, hands it its
// configuration and waits for its report: created (create) or the execve
// of the program (exec). It returns the pty master when the process has a
// terminal.
//
// An exec'd process is born in the container's cgroup: on v2 through
// CLONE_INTO_CGROUP, on v1 because the thread that forks it has entered the
// cgroup first. A container's init is born in its cgroup on v2; on v1 it
// moves itself in before it sets anything up (initConfig.CgroupTasks).
func (ch *child) start(ctx context.Context, create bool, config func() (*initConfig, error), enter func() error, cg *containerCgroup) (console *os.File, retErr error) {
	exe, err := protectedExe()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	syncP, syncC := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync-init")
	defer syncP.Close()
	cmd := ch.cmd
	cmd.ExtraFiles = append([]*os.File{cfgR, syncC, exe}, cmd.ExtraFiles...)
	if enter == nil && (cg == nil || cg.v1 == nil) {
		err = cmd.Start()
	} else {
		err = onThrowawayThread(func() error {
			// The cgroup first: its files are found through the host's
			// cgroup namespace.
			if cg != nil {
				leave, err := cg.enterThread()
				if err != nil {
					return fmt.Errorf("enter cgroup %s: %w", cg.path, err)
				}
				defer leave()
			}
			if enter != nil {
				if err := enter(); err != nil {
					return err
				}
			}
			return cmd.Start()
		})
	}
	syncC.Close()
	if err != nil {
		return nil, err
	}
	ch.proc = newProcess(cmd.Process.Pid)
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
			cmd.Wait()
			if console != nil {
				console.Close()
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	cfg, err := config()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	go func() {
		cfgW.Write(b)
		cfgW.Close()
	}()

	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(syncP.Fd()), buf, oob, 0)
		if err != nil {
			return console, fmt.Errorf("read the init's report: %w", err)
		}
		if n == 0 {
			if ctx.Err() != nil {
				return console, ctx.Err()
			}
			if !create {
				return console, nil // exec: the program replaced the init
			}
			cmd.Wait()
			if ch.cg != nil && ch.cg.oomKills() > 0 {
				return console, fmt.Errorf("the container's init was killed for lack of memory: raise the memory limit: %w", errdefs.ErrInvalidArgument)
			}
			return console, fmt.Errorf("the container's init exited before reporting (%v)", cmd.ProcessState)
		}
		var m syncMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return console, fmt.Errorf("read the init's report: %w", err)
		}
		switch m.Type {
		case "console":
			scms, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil || len(scms) != 1 {
				return console, fmt.Errorf("receive the terminal: %v", err)
			}
			rights, err := unix.ParseUnixRights(&scms[0])
			if err != nil || len(rights) != 1 {
				return console, fmt.Errorf("receive the terminal: %v", err)
			}
			unix.CloseOnExec(rights[0])
			console = os.NewFile(uintptr(rights[0]), "console")
		case "created":
			return console, nil
		case "error":
			if m.Program != nil {
				return console, m.Program
			}
			return console, errors.New(m.Error)
		}
	}
}

func writePidFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := sysfile.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return os.Rename(tmp, path)
}

// handConsole returns the pty master the caller keeps: nil when there is
// none or when socket is set, in which case it is sent there and closed.
func handConsole(console *os.File, socket string) (*os.File, error) {
	if console == nil || socket == "" {
		return console, nil
	}
	err := sendConsole(socket, console)
	console.Close()
	return nil, err
}

// sendConsole hands the pty master to runc's --console-socket protocol: one
// message carrying the fd as SCM_RIGHTS.
func sendConsole(socket string, console *os.File) error {
	conn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(conn)
	if err := unix.Connect(conn, &unix.SockaddrUnix{Name: socket}); err != nil {
		return fmt.Errorf("connect to console socket %s: %w", socket, err)
	}
	if err := unix.Sendmsg(conn, []byte(console.Name()), unix.UnixRights(int(console.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send the terminal to %s: %w", socket, err)
	}
	return nil
}
