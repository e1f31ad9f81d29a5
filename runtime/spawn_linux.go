package runtime

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/sysfile"
)

// Create and Exec start most processes from the calling process itself,
// without starting tabula a second time as an init (spawn). A throwaway
// thread gets ready, still privileged: for a new container it enters the
// cgroup and namespaces, mounts the root filesystem and pivots into it
// (buildContainer); for an exec it enters the running container's cgroup
// and namespaces. It then becomes the process's user with its
// capabilities, no-new-privileges and seccomp filter, and forks the program
// under ptrace, which stops it just after its execve, before its first
// instruction. For a new container, only then does the new PID namespace
// exist, so another thread, still privileged, mounts /proc for it
// (procfs's pidns option) and applies the masked and read-only paths and
// sysctls (finishProc). The thread then lets the program go: at once for
// an exec, or a container created to run at once (CreateOptions.Start);
// otherwise stopped (SIGSTOP) for Start to continue.
//
// Between its fork and its execve, the program shares this process's
// memory (Go forks with CLONE_VM|CLONE_VFORK) and already has the
// container's credentials and PID namespace: a process of the container
// that could ptrace it then could rewrite tabula. This process is made
// non-dumpable first, so that only a tracer with CAP_SYS_PTRACE could,
// and nothing is spawned into a PID namespace whose processes may hold
// that capability: an exec into a container whose bounding set has it
// (mayTrace) or whose PID namespace such a container has joined
// (tracedMark), a container joining another's PID namespace.
//
// The re-executed init remains for all that, and for what this cannot do:
// a v2 cgroup (a thread cannot enter one alone, and the cgroup namespace
// must be rooted there), a kernel without procfs's pidns option, Yama
// forbidding PTRACE_TRACEME, and a seccomp profile that denies what the
// thread does once its filter is loaded (threadCalls). The init forks
// with all of tabula's capabilities, which no tracer in the container
// holds, and drops them only in its own memory.

// canSpawn reports whether Create or Exec may spawn the process, given its
// compiled seccomp filter.
func canSpawn(unified bool, seccompProg []byte) bool {
	if unified || !procPidnsOption() || !traceMeAllowed() {
		return false
	}
	return seccompProg == nil || seccompAllows(seccompProg, threadCalls)
}

// mayTrace reports whether processes with capabilities caps may ptrace
// others of the same user regardless of dumpability.
func mayTrace(caps *specs.LinuxCapabilities) bool {
	return caps != nil && slices.ContainsFunc(caps.Bounding, func(c string) bool {
		return strings.EqualFold(strings.TrimPrefix(strings.ToUpper(c), "CAP_"), "SYS_PTRACE")
	})
}

// tracedMark, in a container's state directory, says that a container
// whose processes may trace others has joined its PID namespace (debug's
// toolbox): nothing is spawned into it any more.
const tracedMark = "pidns-traced"

// markTracedPIDNS marks every other container of this runtime whose PID
// namespace is pidns, which container id (that may trace) has joined.
func (r *Runtime) markTracedPIDNS(id string, pidns *os.File) {
	var want unix.Stat_t
	if unix.Fstat(int(pidns.Fd()), &want) != nil {
		return
	}
	ents, _ := os.ReadDir(r.StateDir)
	for _, e := range ents {
		if e.Name() == id || !ValidID(e.Name()) {
			continue
		}
		st, err := r.loadState(e.Name())
		if err != nil || st.status == specs.StateStopped {
			continue
		}
		var ns unix.Stat_t
		if unix.Stat("/proc/"+strconv.Itoa(st.Pid)+"/ns/pid", &ns) == nil && ns.Ino == want.Ino && ns.Dev == want.Dev {
			sysfile.WriteFile(filepath.Join(st.dir, tracedMark), []byte(id), 0o600)
		}
	}
}

// pidnsTraced reports whether a container that may trace has joined the
// PID namespace of the container whose state directory is dir.
func pidnsTraced(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, tracedMark))
	return err == nil
}

// threadCalls are the system calls (and first arguments) that the thread
// makes, and that its fork makes before execve, under the container's
// seccomp filter beyond what any program does.
var threadCalls = [][2]uint64{
	{unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)},
	{unix.SYS_PTRACE, unix.PTRACE_TRACEME},
	{unix.SYS_PTRACE, unix.PTRACE_SETOPTIONS},
	{unix.SYS_PTRACE, unix.PTRACE_DETACH},
	{unix.SYS_WAIT4, 0},
	{unix.SYS_KILL, 0},
	{unix.SYS_DUP3, 0},
	{unix.SYS_PRLIMIT64, 0},
	{unix.SYS_SETSID, 0},
	{unix.SYS_IOCTL, 0},
	{unix.SYS_EXECVE, 0},
}

// procPidnsOption reports whether procfs takes the pidns mount option
// (Linux 6.15 and later).
var procPidnsOption = sync.OnceValue(func() bool {
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fs)
	ns, err := unix.Open("/proc/self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(ns)
	return unix.FsconfigSetFd(fs, "pidns", ns) == nil
})

// traceMeAllowed reports whether a process may have its parent trace it
// (PTRACE_TRACEME) once the parent has dropped its capabilities: not under
// Yama's admin-only or no-attach modes (ptrace_scope 2 and 3).
var traceMeAllowed = sync.OnceValue(func() bool {
	b, err := sysfile.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return true // no Yama
	}
	scope := strings.TrimSpace(string(b))
	return scope == "0" || scope == "1"
})

// spawnPlan is a process for spawn to start.
type spawnPlan struct {
	process *specs.Process
	seccomp []byte      // compiled, or nil
	stdio   [3]*os.File // nil: /dev/null
	// console makes the pty (when the process has one) the container's
	// /dev/console too.
	console bool
	// enter readies the thread, whose filesystem attributes are already
	// its own, while it still has this process's privileges: namespaces,
	// cgroup, and the rootfs for a new container.
	enter func() error
	// complete, when not nil, finishes the container around the stopped
	// program, from another thread (finishProc).
	complete func(pid int) error
}

// spawnContainer spawns a new container's program and lets it run, or,
// unless run is set, stops it (SIGSTOP) for Start.
func spawnContainer(plan *createPlan, prog []byte, opts CreateOptions, run bool) (*child, *os.File, error) {
	p := plan.cfg.Process
	s, err := spawn(&spawnPlan{
		process: p, seccomp: prog, console: true,
		stdio:    [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
		enter:    func() error { return buildContainer(plan) },
		complete: func(pid int) error { return finishProc(pid, plan.cfg) },
	})
	if err != nil {
		return nil, nil, err
	}
	mntns, err := os.Open("/proc/" + strconv.Itoa(s.pid) + "/ns/mnt")
	if err != nil {
		s.finish(releaseKill)
		if s.console != nil {
			s.console.Close()
		}
		return nil, nil, err
	}
	mode := releaseStopped
	if run {
		mode = releaseRun
		if opts.StartAfter != nil {
			<-opts.StartAfter
		}
	}
	if err := s.finish(mode); err != nil {
		// It died: reaped, and its thread out of the cgroup, which the
		// failed Create removes.
		mntns.Close()
		if s.console != nil {
			s.console.Close()
		}
		reapTraced(s.pid)
		s.waitThread()
		return nil, nil, fmt.Errorf("the program ended before it started: %w", err)
	}
	cg, _ := plan.cgroup() // entered by the thread: made
	return &child{proc: newProcess(s.pid), cg: cg, mntns: mntns, threadGone: s.waitThread}, s.console, nil
}

// createPlan is what the thread does to build a new container (enter).
type createPlan struct {
	cfg        *initConfig
	cloneflags uintptr
	// netns, when not nil, is the new network namespace to join instead
	// of creating one (CLONE_NEWNET in cloneflags).
	netns   *NetworkNamespace
	join    []nsJoin
	nsFiles []*os.File
	// cgroup returns the container's cgroup once made (concurrently with
	// the rest).
	cgroup func() (*containerCgroup, error)
}

// spawned is a program forked by spawn and stopped after its execve.
type spawned struct {
	pid     int
	console *os.File
	// release lets the program go, or kills it (finish); the tracing
	// thread then exits.
	release chan releaseMode
	// done is closed once the thread is through with the program, just
	// before it exits.
	done chan struct{}
	tid  int // the thread's
	// detachErr is how letting the program run went (releaseRun): ESRCH
	// when it had died.
	detachErr error
}

// waitThread returns once the thread has ended: it sat in the container's
// cgroup, which cannot be removed before, and counted in its pids.
func (s *spawned) waitThread() {
	<-s.done
	waitThreadExit(s.tid)
}

// spawn starts a process on a throwaway thread readied by plan.enter and
// forks it from there; see the comment at the top of this file.
func spawn(plan *spawnPlan) (_ *spawned, retErr error) {
	p := plan.process
	// What the user and capabilities become is read from this process's
	// /proc, before the thread leaves it.
	uc, err := planUserAndCaps(p)
	if err != nil {
		return nil, err
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	var files [3]uintptr
	for i, f := range plan.stdio {
		if f == nil || p.Terminal {
			f = devNull
		}
		files[i] = f.Fd()
	}
	// See the comment at the top of this file; the kernel also does it
	// when the thread changes user.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("make tabula non-dumpable: %w", err)
	}
	s := &spawned{pid: -1, release: make(chan releaseMode), done: make(chan struct{})}
	errc := make(chan error, 1)
	goThrowaway(func() {
		s.tid = unix.Gettid()
		defer close(s.done)
		console, err := forkProgram(plan, uc, files, s)
		s.console = console
		errc <- err
		mode := releaseKill
		if err == nil {
			mode = <-s.release
		}
		switch mode {
		case releaseRun:
			s.detachErr = unix.PtraceDetach(s.pid)
			return
		case releaseStopped:
			// PTRACE_DETACH delivers its data argument as a signal: the
			// program stops until Start. It must have stopped before
			// Start's SIGCONT, which would otherwise come first and be lost.
			unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(s.pid), 0, uintptr(unix.SIGSTOP), 0, 0)
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(s.pid, &ws, unix.WUNTRACED|unix.WALL, nil); err != unix.EINTR {
					return
				}
			}
		}
		// The tracee must not outlive this thread: it would run on
		// unfinished.
		if s.pid > 0 {
			unix.Kill(s.pid, unix.SIGKILL)
			reapTraced(s.pid)
		}
	})
	if err := <-errc; err != nil {
		s.waitThread()
		return nil, err
	}
	defer func() {
		if retErr != nil {
			s.finish(releaseKill)
			if s.console != nil {
				s.console.Close()
			}
		}
	}()
	if plan.complete != nil {
		if err := plan.complete(s.pid); err != nil {
			return nil, err
		}
	}
	if err := setOOMScoreAdj(s.pid, p); err != nil {
		return nil, err
	}
	return s, nil
}

// releaseMode is what the thread of a spawned program does with it.
type releaseMode int

const (
	releaseKill    releaseMode = iota // kill it
	releaseRun                        // let it run
	releaseStopped                    // let it go stopped, for Start's SIGCONT
)

// finish has the thread let the program go, or kill it, and returns the
// error letting it run met. Once the program is let go the thread's end is
// left to child.wait (threadGone); after a kill it is waited for, as the
// cgroup's removal comes next.
func (s *spawned) finish(mode releaseMode) error {
	s.release <- mode
	if mode != releaseKill {
		<-s.done
		return s.detachErr
	}
	s.waitThread()
	return nil
}

// waitThreadExit returns once thread tid of this process has ended.
func waitThreadExit(tid int) {
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if err != nil {
		return // ended already (ESRCH)
	}
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(pfd, -1); err != unix.EINTR {
			return
		}
	}
}

// When spawn makes each of the spec's mounts.
const (
	beforeCgroup = iota // by the thread, while the cgroup is made
	afterCgroup         // by the thread, in the cgroup and its namespace
	afterFork           // by finishProc, once the PID namespace exists
)

// mountPhases assigns the spec's mounts to phases: cgroup filesystems show
// the cgroup namespace of whoever mounts them, and procfs the PID
// namespace. A mount whose destination is above or below that of an
// earlier mount in a later phase goes in that phase too, so that mounts
// stack in the spec's order.
func mountPhases(mounts []specs.Mount) []int {
	phase := make([]int, len(mounts))
	for i, m := range mounts {
		switch {
		case underProc(m.Destination):
			phase[i] = afterFork
		case m.Type == "cgroup" || m.Type == "cgroup2":
			phase[i] = afterCgroup
		}
		for j := range i {
			if phase[j] > phase[i] && nested(mounts[i].Destination, mounts[j].Destination) {
				phase[i] = phase[j]
			}
		}
	}
	return phase
}

// nested reports whether one of two paths is the other or below it.
func nested(a, b string) bool {
	a, b = filepath.Clean("/"+a), filepath.Clean("/"+b)
	return a == b || strings.HasPrefix(a, strings.TrimSuffix(b, "/")+"/") || strings.HasPrefix(b, strings.TrimSuffix(a, "/")+"/")
}

// underProc reports whether a mount destination is /proc or below it.
func underProc(dest string) bool {
	d := filepath.Clean("/" + dest)
	return d == "/proc" || strings.HasPrefix(d, "/proc/")
}

// buildContainer readies the spawning thread of a new container: it joins
// or creates the namespaces, mounts the rootfs in phases around the
// cgroup's creation, pivots into it and sets the host name.
func buildContainer(plan *createPlan) error {
	cfg := plan.cfg
	if err := setnsAll(plan.join, plan.nsFiles); err != nil {
		return err
	}
	// The namespaces but the cgroup one, and the mounts that do not need
	// the cgroup, while the cgroup is being made.
	flags := plan.cloneflags
	if plan.netns != nil {
		f, err := plan.netns.file()
		if err != nil {
			return err
		}
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("join the network namespace: %w", err)
		}
		flags &^= unix.CLONE_NEWNET
	}
	if err := unix.Unshare(int(flags)); err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	phase := mountPhases(cfg.Spec.Mounts)
	if err := mountRootfs(cfg); err != nil {
		return err
	}
	if err := mountSpec(cfg, func(i int) bool { return phase[i] == beforeCgroup }); err != nil {
		return err
	}
	cg, err := plan.cgroup()
	if err != nil {
		return err
	}
	cfg.CgroupMounts = cg.mounts()
	// The cgroup before its namespace, which is rooted where the thread is.
	if err := enterCgroup(cg); err != nil {
		return err
	}
	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("create cgroup namespace: %w", err)
		}
	}
	if err := mountSpec(cfg, func(i int) bool { return phase[i] == afterCgroup }); err != nil {
		return err
	}
	if err := populateRootfs(cfg); err != nil {
		return err
	}
	if err := pivotRoot(cfg.Root); err != nil {
		return err
	}
	return setNames(cfg.Spec)
}

// enterCgroup moves the calling thread into v1 cgroup cg for good.
func enterCgroup(cg *containerCgroup) error {
	for _, f := range cg.taskFiles() {
		if err := sysfile.WriteFile(f, []byte("0"), 0); err != nil {
			return fmt.Errorf("enter the container's cgroup: %w", err)
		}
	}
	return nil
}

// forkProgram is the throwaway thread's part of spawn, up to the program
// stopped after its execve. It returns the pty master when the process has
// a terminal.
func forkProgram(plan *spawnPlan, uc *userAndCaps, files [3]uintptr, s *spawned) (console *os.File, err error) {
	p := plan.process
	// The thread's root, working directory and umask become its own.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unshare filesystem attributes: %w", err)
	}
	if err := plan.enter(); err != nil {
		return nil, err
	}
	sys := &syscall.SysProcAttr{Ptrace: true}
	if p.Terminal {
		master, slave, err := openTerminal(p, plan.console)
		if err != nil {
			return nil, err
		}
		defer unix.Close(slave)
		console = os.NewFile(uintptr(master), "console")
		defer func() {
			if err != nil {
				console.Close()
			}
		}()
		files = [3]uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	}
	// Only fds 0-2 reach the program: every other fd of this process is
	// closed by the execve (what Go opens already is).
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return console, fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	path, err := prepareThread(p, uc, plan.seccomp)
	if err != nil {
		return console, err
	}
	setUmask(p)
	pid, err := syscall.ForkExec(path, p.Args, &syscall.ProcAttr{Env: p.Env, Files: files[:], Sys: sys})
	if err != nil {
		return console, diagnoseExec(path, p.Args[0], err)
	}
	s.pid = pid
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, unix.WALL, nil)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return console, fmt.Errorf("wait for the program's execve: %w", err)
	}
	if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP {
		if !ws.Stopped() {
			s.pid = -1 // reaped
		}
		return console, fmt.Errorf("the program ended before it started (%s)", describeWait(ws))
	}
	// Should this process die before the program is let go, the program
	// dies too, rather than run half set up.
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_EXITKILL); err != nil {
		return console, fmt.Errorf("trace the program: %w", err)
	}
	// The thread has the program's credentials, which is what lets it
	// lower the program's limits without CAP_SYS_RESOURCE.
	return console, setRlimits(pid, p)
}

// reapTraced waits until traced process pid, killed, has ended.
func reapTraced(pid int) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err == unix.EINTR || err == nil && !ws.Exited() && !ws.Signaled() {
			continue
		}
		return
	}
}

func describeWait(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	case ws.Stopped():
		return "stopped by " + ws.StopSignal().String()
	}
	return fmt.Sprintf("wait status %#x", int(ws))
}

// finishProc completes the rootfs of a spawned program, from a thread that
// joins its mount namespace (and the namespaces its sysctls belong to)
// with this process's privileges: /proc for the program's PID namespace,
// the spec's other mounts below /proc, sysctls, masked and read-only
// paths, and a read-only root.
func finishProc(pid int, cfg *initConfig) error {
	nsDir := "/proc/" + strconv.Itoa(pid) + "/ns/"
	pidns, err := unix.Open(nsDir+"pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the container's PID namespace: %w", err)
	}
	defer unix.Close(pidns)
	// sysctls are written in the namespaces they belong to; the PID
	// namespace goes to procfs, and the cgroup one matters to none.
	var join []nsJoin
	for _, ns := range nsProcName {
		if ns.typ != specs.PIDNamespace && ns.typ != specs.CgroupNamespace {
			join = append(join, nsJoin{typ: ns.typ, path: nsDir + ns.name})
		}
	}
	nsFiles, err := openNamespaces(join)
	if err != nil {
		return err
	}
	defer closeAll(nsFiles)
	return onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare filesystem attributes: %w", err)
		}
		if err := setnsAll(join, nsFiles); err != nil {
			return err
		}
		phase := mountPhases(cfg.Spec.Mounts)
		for i, m := range cfg.Spec.Mounts {
			if phase[i] != afterFork {
				continue
			}
			var err error
			if m.Type == "proc" {
				err = mountProc(m, pidns)
			} else {
				err = mountInto("/", cfg, m)
			}
			if err != nil {
				return fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
		}
		return finishRootfs(cfg.Spec)
	})
}

// mountProc mounts a procfs of PID namespace pidns on m's destination,
// with the new mount API, which alone can name the namespace.
func mountProc(m specs.Mount, pidns int) error {
	dest, err := securejoin.SecureJoin("/", m.Destination)
	if err != nil {
		return err
	}
	flags, _, data := parseMountOptions(m.Options)
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen proc: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetFd(fs, "pidns", pidns); err != nil {
		return fmt.Errorf("proc option pidns: %w", err)
	}
	for _, o := range strings.Split(data, ",") {
		if o == "" {
			continue
		}
		if k, v, ok := strings.Cut(o, "="); ok {
			err = unix.FsconfigSetString(fs, k, v)
		} else {
			err = unix.FsconfigSetFlag(fs, o)
		}
		if err != nil {
			return fmt.Errorf("proc option %s: %w", o, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return fmt.Errorf("create procfs: %w", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, mountAttrs(flags))
	if err != nil {
		return fmt.Errorf("fsmount proc: %w", err)
	}
	defer unix.Close(mnt)
	if err := createTarget(dest, true); err != nil {
		return err
	}
	if err := unix.MoveMount(mnt, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount proc to %s: %w", dest, err)
	}
	return nil
}

// mountAttrs translates mount(2) flags to the new mount API's attributes.
func mountAttrs(flags uintptr) int {
	attrs := 0
	for _, f := range []struct {
		flag uintptr
		attr int
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME},
		{unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&f.flag != 0 {
			attrs |= f.attr
		}
	}
	return attrs
}
