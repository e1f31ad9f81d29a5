package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
	"github.com/tabula-dev/tabula/runtime"
)

// startFailure turns an error of creating or starting a container into
// Docker's exit codes: the program's 126 or 127, 125 for everything else.
func startFailure(err error) error {
	var pe *runtime.ProgramError
	if errors.As(err, &pe) {
		return &ExitError{Code: pe.Code, Err: err}
	}
	return &ExitError{Code: 125, Err: err}
}

func (c *Containers) runtime() *runtime.Runtime {
	return &runtime.Runtime{StateDir: c.StateDir()}
}

// ForwardedSignals are relayed to a foreground container's PID 1.
var ForwardedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPWR,
}

// CatchSignals starts catching, in the background, the signals that Run
// relays to a foreground container's PID 1; Run makes the container
// meanwhile, and lets its program run once they are caught. Registering a signal with the Go
// runtime takes a round trip through its signal thread, which on a busy
// machine adds up to milliseconds; a process that already catches them
// (tabula registers them from its start when the command is run or debug)
// skips that.
func CatchSignals() *Signals {
	s := &Signals{c: make(chan os.Signal, 16), ready: make(chan struct{})}
	go func() {
		signal.Notify(s.c, ForwardedSignals...)
		close(s.ready)
	}()
	return s
}

// Stop stops catching the signals.
func (s *Signals) Stop() {
	<-s.ready
	signal.Stop(s.c)
}

// Run runs a created container in the foreground: stdio passed through
// (a pty with Config.Tty), signals forwarded to its PID 1. It returns the
// container's exit code; with AutoRemove the container is removed after.
func (c *Containers) Run(ctx context.Context, rec *Record, stdio Stdio) (int, error) {
	rt := c.runtime()
	bg := context.WithoutCancel(ctx)
	cleanup := func(exited bool) {
		if rec.HostConfig.AutoRemove {
			c.remove(bg, rec, exited)
		} else {
			rt.Delete(bg, rec.ID, true)
		}
	}
	if rec.netns != nil {
		defer rec.netns.Close() // Create's, unless it fails before
	}
	mounts, err := rootfs(rec)
	if err != nil {
		rec.waitSpec()
		c.removeAll(bg, rec)
		return 0, startFailure(err)
	}
	opts := runtime.CreateOptions{Stdout: stdio.Out, Stderr: stdio.Err, Rootfs: mounts, Spec: rec.spec, NetworkNamespace: rec.netns, Start: true}
	if rec.Config.OpenStdin {
		opts.Stdin = stdio.In
	}
	// A container that stays after it exits keeps its output in its log,
	// as Docker's attached containers do; --rm's output goes straight
	// through.
	var logs *foregroundLogs
	if !rec.HostConfig.AutoRemove {
		if logs, err = openForegroundLogs(rec, &opts, stdio); err != nil {
			rec.waitSpec()
			c.removeAll(bg, rec)
			return 0, startFailure(err)
		}
		defer logs.close()
	}
	// Signals are caught before the program starts, so none is lost;
	// they are registered while the container is prepared and made.
	sigs := stdio.Signals
	if sigs == nil {
		sigs = CatchSignals()
		defer sigs.Stop()
	}
	opts.StartAfter = sigs.ready
	sigc := sigs.c
	// The container starts as soon as it is made, as runc run does: its
	// output waits in its pipes or terminal until the copies begin.
	ctr, err := rt.Create(ctx, rec.ID, c.Dir(rec.ID), opts)
	// The bundle is complete before the container can be seen (its record
	// is saved), or removed.
	if werr := rec.completeSpec(); werr != nil && err == nil {
		rt.Delete(bg, rec.ID, true)
		ctr.Wait()
		if ctr.Console != nil {
			ctr.Console.Close()
		}
		err = fmt.Errorf("container %s: write its config.json: %w", shortID(rec.ID), werr)
	}
	if err != nil {
		c.fail(rec, err)
		cleanup(false)
		return 0, startFailure(err)
	}
	var console io.Closer
	var copied sync.WaitGroup
	if ctr.Console != nil {
		console = ctr.Console
		var out io.Writer = stdio.Out
		if logs != nil {
			out = logs.terminal(stdio.Out)
		}
		restore := attachTerminal(ctr.Console, stdio.In, out, rec.Config.OpenStdin, &copied)
		defer restore()
	}
	logs.started()
	rec.State = State{Status: StatusRunning, Running: true, Pid: ctr.Pid, StartedAt: time.Now().UTC()}
	c.Save(rec)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				rt.Kill(bg, rec.ID, s.(syscall.Signal), false)
			case <-done:
				return
			}
		}
	}()
	st, err := ctr.Wait()
	close(done)
	if console != nil {
		drain(&copied, console)
	}
	logs.drain()
	if err != nil {
		cleanup(false)
		return 0, &ExitError{Code: 125, Err: err}
	}
	if !rec.HostConfig.AutoRemove {
		c.finish(rec, st) // a removed container needs no record
	}
	cleanup(true)
	return st.Code, nil
}

// attachTerminal connects a pty master to stdin and out: raw mode on a
// terminal stdin, window size forwarded. It returns the function restoring
// stdin.
func attachTerminal(console, stdin *os.File, out io.Writer, interactive bool, copied *sync.WaitGroup) func() {
	restore := func() {}
	fd := int(stdin.Fd())
	if term.IsTerminal(fd) {
		if w, h, err := term.GetSize(fd); err == nil {
			pty.Setsize(console, &pty.Winsize{Rows: uint16(h), Cols: uint16(w)})
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(fd); err == nil {
					pty.Setsize(console, &pty.Winsize{Rows: uint16(h), Cols: uint16(w)})
				}
			}
		}()
		if interactive {
			if old, err := term.MakeRaw(fd); err == nil {
				restore = func() { term.Restore(fd, old); signal.Stop(winch) }
			}
		}
	}
	if interactive {
		go io.Copy(console, stdin)
	}
	copied.Add(1)
	go func() {
		defer copied.Done()
		io.Copy(out, console)
	}()
	return restore
}

// drain lets the copy of a terminal's output finish (it ends with EIO once
// no process holds the terminal), for at most a second: a process outside
// the container may keep it open.
func drain(copied *sync.WaitGroup, console io.Closer) {
	done := make(chan struct{})
	go func() { copied.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	console.Close()
}

// fail records that rec's container could not start.
func (c *Containers) fail(rec *Record, err error) {
	rec.State = State{Status: StatusExited, ExitCode: 125, Error: err.Error(), FinishedAt: time.Now().UTC()}
	var pe *runtime.ProgramError
	if errors.As(err, &pe) {
		rec.State.ExitCode = pe.Code
	}
	c.Save(rec)
}

// finish records how rec's container ended.
func (c *Containers) finish(rec *Record, st runtime.ExitStatus) {
	rec.State.Status = StatusExited
	rec.State.Running = false
	rec.State.Pid = 0
	rec.State.ExitCode = st.Code
	rec.State.OOMKilled = st.OOMKilled
	rec.State.FinishedAt = time.Now().UTC()
	c.Save(rec)
}

// removeAll deletes everything of rec's container: its process and cgroup,
// its runtime state, its directory and its name. When the caller has seen
// its init exit, the directory goes at the same time as the cgroup.
func (c *Containers) removeAll(ctx context.Context, rec *Record) error {
	return c.remove(ctx, rec, false)
}

func (c *Containers) remove(ctx context.Context, rec *Record, exited bool) error {
	if exited {
		if done, err := c.removeLater(rec); done {
			c.releaseName(trimSlash(rec.Name), rec.ID)
			if err != nil {
				return fmt.Errorf("remove container %s: %w", shortID(rec.ID), err)
			}
			return nil
		}
	}
	dir := c.Dir(rec.ID)
	var rmErr error
	removed := make(chan struct{})
	if exited {
		go func() { rmErr = removeDir(dir); close(removed) }()
	}
	// Killed processes take a moment to leave their cgroup (a zombie
	// whose new parent has not reaped it yet), so a failed removal is
	// tried again for a while.
	var err error
	for i := 0; i < 150; i++ {
		err = c.runtime().Delete(ctx, rec.ID, true)
		if err == nil || errdefs.IsNotFound(err) {
			err = nil
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if exited {
		<-removed
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", shortID(rec.ID), err)
	}
	if !exited {
		// Let a monitor that is recording the exit finish first.
		if rec.Monitor != os.Getpid() {
			for i := 0; i < 200 && alive(rec.Monitor, rec.MonitorStart); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		rmErr = removeDir(dir)
	}
	if rmErr != nil {
		return fmt.Errorf("remove container %s: %w", shortID(rec.ID), rmErr)
	}
	c.releaseName(trimSlash(rec.Name), rec.ID)
	return nil
}

// StartDetached hands a created container to a new monitor process (tabula
// re-executed in its own session) and returns once the container runs, or
// with the reason it could not start (everything then removed).
func (c *Containers) StartDetached(ctx context.Context, rec *Record) error {
	if err := rec.completeSpec(); err != nil {
		c.removeAll(context.WithoutCancel(ctx), rec)
		return startFailure(fmt.Errorf("container %s: write its config.json: %w", shortID(rec.ID), err))
	}
	return c.startMonitor(ctx, rec, false)
}

// Register stores a container Create made for a later Start, as docker
// create does: nothing of it runs until then. Failing, it removes the
// container.
func (c *Containers) Register(ctx context.Context, rec *Record) error {
	if err := rec.completeSpec(); err != nil {
		c.removeAll(context.WithoutCancel(ctx), rec)
		return startFailure(fmt.Errorf("container %s: write its config.json: %w", shortID(rec.ID), err))
	}
	rec.Monitor, rec.MonitorStart = 0, 0 // no owner: it waits
	if err := c.Save(rec); err != nil {
		c.removeAll(context.WithoutCancel(ctx), rec)
		return startFailure(err)
	}
	return nil
}

// Start starts a container made by tabula create, or an exited one again,
// detached, as docker start does: an exited container's writable layer,
// configuration, name and log (appended to) are kept; its process,
// namespaces and cgroup are new. A running container is left as it is.
// When it cannot start, the container stays, exited, with the reason in
// its state. Two starts of one container at once start it once.
func (c *Containers) Start(ctx context.Context, rec *Record) error {
	rec, start, unlock, err := c.claim(ctx, rec, 0, 0)
	if err != nil {
		return err
	}
	defer unlock() // until the monitor has made its claim
	if !start {
		return nil
	}
	return c.startMonitor(ctx, rec, true)
}

// StartAttached starts the container as Start does, but in the
// foreground, as Run: stdio passed through, signals relayed, its exit
// code returned (docker start -a). A running container is an error.
func (c *Containers) StartAttached(ctx context.Context, rec *Record, stdio Stdio) (int, error) {
	pid, start := selfStart()
	rec, started, unlock, err := c.claim(ctx, rec, pid, start)
	if err != nil {
		return 0, err
	}
	unlock() // the claim is saved
	if !started {
		return 0, fmt.Errorf("container %s is running; tabula logs -f follows its output: %w", shortID(rec.ID), errdefs.ErrFailedPrecondition)
	}
	return c.Run(ctx, rec, stdio)
}

// claim makes rec's container, unless it runs, this process's to start:
// its record says created, by the owner pid (started at start; 0 for a
// monitor to come, whose record the caller saves). It reports whether the
// container is to be started. The container's directory is locked until
// unlock, which the caller calls once the claim is saved: the lock is
// what makes two starts one, the second finding the first's claim.
func (c *Containers) claim(ctx context.Context, rec *Record, pid int, start uint64) (_ *Record, _ bool, unlock func(), retErr error) {
	dir, err := sysfile.Open(c.Dir(rec.ID))
	if err != nil {
		return nil, false, nil, fmt.Errorf("container %s: %w", shortID(rec.ID), err)
	}
	defer func() {
		if retErr != nil {
			dir.Close()
		}
	}()
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return nil, false, nil, fmt.Errorf("container %s: lock it: %w", shortID(rec.ID), err)
	}
	unlock = func() { dir.Close() }
	if r, err := c.Load(rec.ID); err == nil {
		rec = c.Refresh(ctx, r)
	}
	switch {
	case rec.State.Status == StatusRunning:
		return rec, false, unlock, nil
	case rec.State.Status == StatusCreated && rec.Monitor == 0:
		// Made by tabula create: started for the first time.
	case rec.State.Status != StatusExited:
		return nil, false, nil, fmt.Errorf("container %s is %s, being started by another tabula: %w", shortID(rec.ID), rec.State.Status, errdefs.ErrFailedPrecondition)
	case rec.GraphDriver.Name == "":
		return nil, false, nil, fmt.Errorf("container %s: %s: %w", shortID(rec.ID), rec.State.Error, errdefs.ErrFailedPrecondition)
	}
	rec.State = State{Status: StatusCreated}
	rec.Monitor, rec.MonitorStart = pid, start
	if pid != 0 {
		// Seen by any other start as started by this process.
		if err := c.Save(rec); err != nil {
			return nil, false, nil, err
		}
	}
	return rec, true, unlock, nil
}

// startMonitor hands rec's container to a new monitor process and returns
// once the container runs. What a failure does depends on again: a new
// container goes entirely (StartDetached), one started again stays,
// exited (Start).
func (c *Containers) startMonitor(ctx context.Context, rec *Record, again bool) error {
	failed := func(err error) error {
		if again {
			c.fail(rec, err)
		} else {
			c.removeAll(context.WithoutCancel(ctx), rec)
		}
		return startFailure(err)
	}
	if err := c.Save(rec); err != nil { // the monitor loads it
		return failed(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return failed(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return failed(err)
	}
	defer r.Close()
	args := []string{MonitorName, c.Root, rec.ID}
	if again {
		args = append(args, monitorAgain)
	}
	cmd := &exec.Cmd{
		Path: exe,
		Args: args,
		// The monitor allocates next to nothing once running (copyLogs):
		// no collector, with a memory limit as the safety net.
		Env:         []string{"GOMAXPROCS=1", "GOGC=off", "GOMEMLIMIT=16MiB"},
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return failed(err)
	}
	w.Close()
	b, _ := io.ReadAll(r)
	if string(b) == "ok" {
		cmd.Process.Release()
		return nil
	}
	cmd.Wait() // the monitor cleaned up before it exited
	var rep monitorReport
	if json.Unmarshal(b, &rep) != nil || rep.Message == "" {
		return failed(fmt.Errorf("the monitor of container %s died before it started (%s)", shortID(rec.ID), cmd.ProcessState))
	}
	return &ExitError{Code: rep.Code, Err: errors.New(rep.Message)}
}

// monitorAgain, a monitor's last argument, says that the container was
// started before (Start): should it fail to start now, it stays.
const monitorAgain = "again"

// Monitor is the body of a detached container's monitor process. It makes
// itself the child subreaper, lets a starter process (Starter) create and
// start the container, and inherits the container's init when the starter
// exits; it reports to fd 3, writes the logs, reaps the init and records
// its exit. args are the root and the container ID.
func Monitor(args []string) int {
	report := os.NewFile(3, "report")
	again := len(args) == 3 && args[2] == monitorAgain
	if len(args) != 2 && !again {
		return 2
	}
	c := &Containers{Root: args[0]}
	ctx := context.Background()
	rec, err := c.Load(args[1])
	if err != nil {
		json.NewEncoder(report).Encode(monitorReport{Code: 125, Message: err.Error()})
		return 1
	}
	rec.Monitor, rec.MonitorStart = selfStart()
	if err := c.monitor(ctx, rec, report); err != nil {
		code := 125
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		json.NewEncoder(report).Encode(monitorReport{Code: code, Message: err.Error()})
		report.Close()
		if again {
			rec.State = State{Status: StatusExited, ExitCode: code, Error: err.Error(), FinishedAt: time.Now().UTC()}
			c.Save(rec)
		} else {
			c.removeAll(ctx, rec)
		}
		return 1
	}
	return 0
}

func (c *Containers) monitor(ctx context.Context, rec *Record, report *os.File) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become the subreaper of container %s: %w", shortID(rec.ID), err)
	}
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	if err := c.Save(rec); err != nil {
		return err
	}
	lf, err := os.OpenFile(rec.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer lf.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer repR.Close()
	starter := &exec.Cmd{
		Path: exe, Args: []string{StarterName, c.Root, rec.ID},
		Env:        []string{"GOMAXPROCS=2"},
		ExtraFiles: []*os.File{repW},
	}
	var consoleSock *os.File
	var pipeEnds []*os.File
	var streams []logStream
	if rec.Config.Tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		consoleSock = os.NewFile(uintptr(fds[0]), "console")
		defer consoleSock.Close()
		theirs := os.NewFile(uintptr(fds[1]), "console")
		starter.ExtraFiles = append(starter.ExtraFiles, theirs)
		pipeEnds = append(pipeEnds, theirs)
	} else {
		// Plain blocking pipes: the monitor reads them with poll(2)
		// itself, without Go's poller.
		for _, name := range []string{"stdout", "stderr"} {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				return err
			}
			defer unix.Close(p[0])
			streams = append(streams, logStream{name: name, fd: p[0]})
			pipeEnds = append(pipeEnds, os.NewFile(uintptr(p[1]), name))
		}
		starter.Stdout, starter.Stderr = pipeEnds[0], pipeEnds[1]
	}
	err = starter.Start()
	repW.Close()
	for _, f := range pipeEnds {
		f.Close()
	}
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(repR)
	starter.Wait()
	var pid int
	if _, err := fmt.Sscanf(string(b), "ok %d", &pid); err != nil || pid <= 0 {
		var rep monitorReport
		if json.Unmarshal(b, &rep) != nil || rep.Message == "" {
			return fmt.Errorf("the starter of container %s died (%s)", shortID(rec.ID), starter.ProcessState)
		}
		return &ExitError{Code: rep.Code, Err: errors.New(rep.Message)}
	}
	if consoleSock != nil {
		console, err := recvFile(consoleSock)
		if err != nil {
			c.runtime().Delete(ctx, rec.ID, true)
			return fmt.Errorf("receive the terminal of container %s: %w", shortID(rec.ID), err)
		}
		fd, err := unix.Dup(int(console.Fd()))
		console.Close()
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		streams = append(streams, logStream{name: "stdout", fd: fd})
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		c.runtime().Delete(ctx, rec.ID, true)
		return fmt.Errorf("watch container %s: %w", shortID(rec.ID), err)
	}
	defer unix.Close(pidfd)
	report.Write([]byte("ok"))
	report.Close()

	copyLogs(int(lf.Fd()), streams, pidfd)
	st := reap(pid)
	st.OOMKilled = oomKilled("/tabula/" + rec.ID)
	rec, err = c.Load(rec.ID)
	if err != nil {
		return nil // removed meanwhile
	}
	c.finish(rec, st)
	if rec.HostConfig.AutoRemove {
		c.remove(ctx, rec, true)
	} else {
		c.runtime().Delete(ctx, rec.ID, true)
	}
	return nil
}

// logStream is one of a container's outputs (stdout or stderr) written to
// its log as JSON lines.
type logStream struct {
	name    string
	fd      int    // the end the monitor reads
	pending []byte // the start of a line not yet ended
}

// add logs data line by line to the log (fd log), a line not yet ended
// waiting for its end (a long one goes out in parts of 16 KiB). line is a
// buffer for the encoding, returned for the next call.
func (s *logStream) add(log int, line, data []byte) []byte {
	for len(data) > 0 {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			s.pending = append(s.pending, data...)
			if len(s.pending) >= 16<<10 {
				line = s.flush(log, line)
			}
			return line
		}
		chunk := data[:j+1]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, chunk...)
			chunk = s.pending
		}
		line = appendLogLine(line[:0], s.name, chunk)
		unix.Write(log, line)
		s.pending = s.pending[:0]
		data = data[j+1:]
	}
	return line
}

// flush logs the line not yet ended, if any.
func (s *logStream) flush(log int, line []byte) []byte {
	if len(s.pending) > 0 {
		line = appendLogLine(line[:0], s.name, s.pending)
		unix.Write(log, line)
		s.pending = s.pending[:0]
	}
	return line
}

// copyLogs writes the container's output to the log file (fd log) as JSON
// lines until every stream has ended, or for a second more after the
// container's init (pidfd) exited. It is one loop over poll(2), read(2)
// and write(2) that allocates nothing once running, so that the monitor
// runs with the garbage collector off and touches little of tabula's
// binary: its pages leave the monitor's resident set (trimMemory) for good.
func copyLogs(log int, streams []logStream, pidfd int) {
	trimMemory(true)
	trimmed := false
	pfds := make([]unix.PollFd, len(streams)+1)
	for i, s := range streams {
		pfds[i] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	}
	pfds[len(streams)] = unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN}
	buf := make([]byte, 32<<10)
	line := make([]byte, 0, 64<<10)
	open := len(streams)
	exited := false
	for open > 0 {
		timeout := -1
		if !trimmed {
			timeout = 200 // then once more, without a collection first
		}
		if exited {
			timeout = 1000
		}
		n, err := unix.Poll(pfds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break
		}
		if n == 0 {
			if exited {
				break // processes outside the container keep its pipes open
			}
			trimMemory(false)
			trimmed = true
			continue
		}
		for i := range streams {
			if pfds[i].Revents == 0 {
				continue
			}
			s := &streams[i]
			nr, err := unix.Read(s.fd, buf)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if nr <= 0 {
				line = s.flush(log, line)
				pfds[i].Fd = -1
				open--
				continue
			}
			line = s.add(log, line, buf[:nr])
		}
		if pfds[len(streams)].Revents != 0 {
			exited = true
			pfds[len(streams)].Fd = -1
		}
	}
}

// appendLogLine appends one LogEntry as a JSON line without allocating.
func appendLogLine(b []byte, stream string, msg []byte) []byte {
	b = append(b, `{"log":"`...)
	b = appendJSONString(b, msg)
	b = append(b, `","stream":"`...)
	b = append(b, stream...)
	b = append(b, `","time":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString escapes s for the inside of a JSON string.
func appendJSONString(b, s []byte) []byte {
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

// reap waits for the child pid (the container's init, inherited as
// subreaper) and reaps any other child on the way.
func reap(pid int) runtime.ExitStatus {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return runtime.ExitStatus{Code: 255}
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return runtime.ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
		}
		return runtime.ExitStatus{Code: ws.ExitStatus()}
	}
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// cgroup at path (a v1 memory hierarchy or the v2 unified one).
func oomKilled(path string) bool {
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),
	} {
		b, err := sysfile.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
				return strings.TrimSpace(n) != "0"
			}
		}
	}
	return false
}

// Starter is the body of the process a monitor starts: it creates and
// starts the container with its own stdout and stderr (the monitor's log
// pipes) or sends the terminal to fd 4, records it running, and reports
// "ok PID" or the error on fd 3. It exits at once; the container's init
// passes to the monitor.
func Starter(args []string) int {
	report := os.NewFile(3, "report")
	fail := func(err error) int {
		code := 125
		var pe *runtime.ProgramError
		if errors.As(err, &pe) {
			code = pe.Code
		}
		json.NewEncoder(report).Encode(monitorReport{Code: code, Message: err.Error()})
		return 1
	}
	if len(args) != 2 {
		return 2
	}
	c := &Containers{Root: args[0]}
	ctx := context.Background()
	rec, err := c.Load(args[1])
	if err != nil {
		return fail(err)
	}
	mounts, err := rootfs(rec)
	if err != nil {
		return fail(err)
	}
	rt := c.runtime()
	opts := runtime.CreateOptions{Rootfs: mounts}
	if !rec.Config.Tty {
		opts.Stdout, opts.Stderr = os.Stdout, os.Stderr
	}
	ctr, err := rt.Create(ctx, rec.ID, c.Dir(rec.ID), opts)
	if err != nil {
		return fail(err)
	}
	if ctr.Console != nil {
		sock := os.NewFile(4, "console")
		err := unix.Sendmsg(int(sock.Fd()), []byte("console"), unix.UnixRights(int(ctr.Console.Fd())), nil, 0)
		if err != nil {
			rt.Delete(ctx, rec.ID, true)
			return fail(fmt.Errorf("hand the terminal to the monitor: %w", err))
		}
	}
	if err := rt.Start(ctx, rec.ID); err != nil {
		rt.Delete(ctx, rec.ID, true)
		return fail(err)
	}
	rec.State = State{Status: StatusRunning, Running: true, Pid: ctr.Pid, StartedAt: time.Now().UTC()}
	if err := c.Save(rec); err != nil {
		rt.Delete(ctx, rec.ID, true)
		return fail(err)
	}
	fmt.Fprintf(report, "ok %d", ctr.Pid)
	return 0
}

// recvFile receives one file descriptor sent with SCM_RIGHTS.
func recvFile(sock *os.File) (*os.File, error) {
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, err
	}
	scms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(scms) != 1 {
		return nil, fmt.Errorf("no terminal received")
	}
	fds, err := unix.ParseUnixRights(&scms[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no terminal received")
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

// Kill sends sig to the container's PID 1.
func (c *Containers) Kill(ctx context.Context, rec *Record, sig syscall.Signal) error {
	if rec.State.Status != StatusRunning {
		return fmt.Errorf("container %s is not running: %w", trimSlash(rec.Name), errdefs.ErrFailedPrecondition)
	}
	return c.runtime().Kill(ctx, rec.ID, sig, false)
}

// Stop sends the container's stop signal, then SIGKILL to all its processes
// after timeout, and waits for its exit to be recorded.
func (c *Containers) Stop(ctx context.Context, rec *Record, timeout time.Duration) error {
	if rec.State.Status != StatusRunning {
		return nil // Docker's stop of a stopped container succeeds
	}
	sig := unix.SIGTERM
	if rec.Config.StopSignal != "" {
		if s, err := ParseSignal(rec.Config.StopSignal); err == nil {
			sig = s
		}
	}
	rt := c.runtime()
	if err := rt.Kill(ctx, rec.ID, sig, false); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) {
		return err
	}
	if !c.waitExit(ctx, rec, timeout) {
		rt.Kill(ctx, rec.ID, unix.SIGKILL, true)
		c.waitExit(ctx, rec, 10*time.Second)
	}
	// The owner records the exit right after it reaps the process.
	for i := 0; i < 300; i++ {
		r, err := c.Load(rec.ID)
		if err != nil || c.Refresh(ctx, r).State.Status == StatusExited {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// waitExit waits up to d for the container's process to end.
func (c *Containers) waitExit(ctx context.Context, rec *Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !c.processAlive(ctx, rec.ID) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Remove deletes a container; a running one only with force (killed first).
func (c *Containers) Remove(ctx context.Context, rec *Record, force bool) error {
	if rec.State.Status == StatusRunning && !force {
		return fmt.Errorf("container %s is running: stop it first (tabula stop %s) or use rm -f: %w",
			trimSlash(rec.Name), trimSlash(rec.Name), errdefs.ErrFailedPrecondition)
	}
	return c.removeAll(ctx, rec)
}

// Wait blocks until the container has exited and returns its exit code.
func (c *Containers) Wait(ctx context.Context, rec *Record) (int, error) {
	for {
		r, err := c.Load(rec.ID)
		if err != nil {
			return 0, err
		}
		r = c.Refresh(ctx, r)
		if r.State.Status == StatusExited {
			return r.State.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Exec runs a process inside rec's running container and returns its exit
// code.
func (c *Containers) Exec(ctx context.Context, rec *Record, eo ExecOptions, stdio Stdio) (int, error) {
	if err := needRoot("exec in a container"); err != nil {
		return 0, &ExitError{Code: 125, Err: err}
	}
	if rec.State.Status != StatusRunning {
		return 0, &ExitError{Code: 125, Err: fmt.Errorf("container %s is not running: %w", trimSlash(rec.Name), errdefs.ErrFailedPrecondition)}
	}
	b, err := sysfile.ReadFile(filepath.Join(c.Dir(rec.ID), "config.json"))
	if err != nil {
		return 0, startFailure(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &linuxSpec{Spec: &spec}); err != nil {
		return 0, startFailure(err)
	}
	p := *spec.Process
	p.Args = eo.Cmd
	p.Terminal = eo.Tty
	p.ConsoleSize = nil
	if eo.Workdir != "" {
		p.Cwd = eo.Workdir
	}
	if eo.User != "" {
		u, home, err := resolveUser(eo.User, rootReader("/proc/"+strconv.Itoa(rec.State.Pid)+"/root"))
		if err != nil {
			return 0, startFailure(err)
		}
		p.User = u
		p.Env = mergeEnv(p.Env, "HOME="+home)
	}
	for _, e := range eo.Env {
		kv, err := envValue(e)
		if err != nil {
			return 0, startFailure(invalid("-e: %v", err))
		}
		if kv != "" {
			p.Env = mergeEnv(p.Env, kv)
		}
	}
	opts := runtime.ExecOptions{Stdout: stdio.Out, Stderr: stdio.Err, Spec: &spec}
	if eo.Interactive {
		opts.Stdin = stdio.In
	}
	// Caught before the process starts, so none is lost; quick when the
	// process already catches them (tabula exec registers them from its
	// start).
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, ForwardedSignals...)
	defer signal.Stop(sigc)
	proc, err := c.runtime().Exec(ctx, rec.ID, &p, opts)
	if err != nil {
		return 0, startFailure(err)
	}
	var copied sync.WaitGroup
	if proc.Console != nil {
		restore := attachTerminal(proc.Console, stdio.In, stdio.Out, eo.Interactive, &copied)
		defer restore()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				unix.Kill(proc.Pid, s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	st, err := proc.Wait()
	close(done)
	if proc.Console != nil {
		drain(&copied, proc.Console)
	}
	if err != nil {
		return 0, &ExitError{Code: 125, Err: err}
	}
	return st.Code, nil
}
