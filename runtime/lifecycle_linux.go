package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
)

// start lets a created container's program run. A held program (spawn) is
// continued. An init is woken through the exec fifo, which start opens and
// reads until the init's end closes on execve; an error report arrives
// there instead when the program cannot start.
func (r *Runtime) start(ctx context.Context, id string) error {
	st, err := r.loadState(id)
	if err != nil {
		return err
	}
	if st.status != specs.StateCreated {
		return fmt.Errorf("container %s is %s, not created: %w", id, st.status, errdefs.ErrFailedPrecondition)
	}
	pidfd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	defer unix.Close(pidfd)
	if !st.alive() {
		return fmt.Errorf("container %s has stopped: %w", id, errdefs.ErrFailedPrecondition)
	}
	if st.Held {
		if err := unix.PidfdSendSignal(pidfd, unix.SIGCONT, nil, 0); err != nil {
			return fmt.Errorf("start container %s: %w", id, err)
		}
		if err := os.Remove(filepath.Join(st.dir, heldName)); err != nil {
			return fmt.Errorf("start container %s: %w", id, err)
		}
		return nil
	}
	fifo := filepath.Join(st.dir, fifoName)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	f := os.NewFile(uintptr(fd), fifo)
	defer f.Close()
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer cancelR.Close()
	defer cancelW.Close()
	stop := context.AfterFunc(ctx, func() { cancelW.Write([]byte{0}) })
	defer stop()
	pfds := []unix.PollFd{
		{Fd: int32(fd), Events: unix.POLLIN},
		{Fd: int32(pidfd), Events: unix.POLLIN},
		{Fd: int32(cancelR.Fd()), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(pfds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if pfds[0].Revents == 0 {
		if pfds[2].Revents != 0 {
			return ctx.Err()
		}
		return fmt.Errorf("container %s: its init died before the start", id)
	}
	os.Remove(fifo)
	if err := unix.SetNonblock(fd, false); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if len(data) == 0 || data[0] != '0' {
		return fmt.Errorf("container %s: its init died before the start", id)
	}
	if len(data) == 1 {
		return nil // the fifo gone, the container runs
	}
	var m syncMsg
	if err := json.Unmarshal(data[1:], &m); err != nil {
		return fmt.Errorf("start container %s: %s", id, data[1:])
	}
	if m.Program != nil {
		return m.Program
	}
	return fmt.Errorf("start container %s: %s", id, m.Error)
}

func (c *Container) wait() (ExitStatus, error) {
	if c.proc == nil {
		return ExitStatus{}, fmt.Errorf("container %s was created by another process: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	st, err := c.proc.wait()
	keepMntns(c.dir, c.proc)
	if err != nil {
		return st, err
	}
	if c.proc.cg != nil && c.proc.cg.oomKills() > 0 {
		st.OOMKilled = true
	}
	return st, nil
}

func (p *Process) wait() (ExitStatus, error) {
	if p.proc == nil {
		return ExitStatus{}, fmt.Errorf("process %d was started by another process: %w", p.Pid, errdefs.ErrFailedPrecondition)
	}
	return p.proc.wait()
}

func (ch *child) wait() (ExitStatus, error) {
	ws, err := ch.proc.wait()
	if ch.threadGone != nil {
		ch.threadGone()
	}
	if err != nil {
		return ExitStatus{}, err
	}
	if ws.Signaled() {
		return ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}, nil
	}
	return ExitStatus{Code: ws.ExitStatus()}, nil
}

// A spawned container's mount namespace is held by this process
// (child.mntns), so that its teardown, which unmounts the rootfs and the
// rest and waits for RCU grace periods, is no part of its program's exit.
// Once the program has exited, the namespace waits in exitedMntns, by the
// container's state directory: Reclaim hands it to the process that
// removes the container, which lets it go last, after this one has gone
// on; Delete lets it go in the background.
var exitedMntns sync.Map // state directory → *os.File

// keepMntns keeps the mount namespace of ch, whose program has exited, for
// Reclaim or Delete.
func keepMntns(dir string, ch *child) {
	if ch.mntns == nil {
		return
	}
	if old, loaded := exitedMntns.Swap(dir, ch.mntns); loaded {
		go old.(*os.File).Close()
	}
	ch.mntns = nil
}

// takeMntns returns the mount namespace kept for the container whose
// state directory is dir, if any, and forgets it.
func takeMntns(dir string) *os.File {
	if f, ok := exitedMntns.LoadAndDelete(dir); ok {
		return f.(*os.File)
	}
	return nil
}

// closeMntns lets go of a spawned container's mount namespace in the
// background.
func (ch *child) closeMntns() {
	if ch.mntns != nil {
		go ch.mntns.Close()
		ch.mntns = nil
	}
}

// openLive opens a pidfd on the container's process after checking it is
// still the process that was created (not a recycled PID).
func (st *state) openLive() (int, error) {
	pidfd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return -1, fmt.Errorf("container %s is not running: %w", st.ID, errdefs.ErrFailedPrecondition)
	}
	if !st.alive() {
		unix.Close(pidfd)
		return -1, fmt.Errorf("container %s is not running: %w", st.ID, errdefs.ErrFailedPrecondition)
	}
	return pidfd, nil
}

func (r *Runtime) kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	st, err := r.loadState(id)
	if err != nil {
		return err
	}
	if all && st.Cgroup != "" {
		n, err := signalCgroup(st.Cgroup, sig)
		if err != nil {
			return fmt.Errorf("signal container %s: %w", id, err)
		}
		if n > 0 || st.alive() {
			return nil
		}
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	pidfd, err := st.openLive()
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal container %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) delete(ctx context.Context, id string, force bool) error {
	st, err := r.loadState(id)
	if errdefs.IsNotFound(err) {
		return r.deleteUnrecorded(ctx, id, err)
	}
	if err != nil {
		return err
	}
	if st.status == specs.StateRunning && !force {
		return fmt.Errorf("container %s is running; stop it first or force the removal: %w", id, errdefs.ErrFailedPrecondition)
	}
	if pidfd, err := st.openLive(); err == nil {
		// Killing PID 1 of the container's PID namespace takes every
		// other process with it; the cgroup catches those outside it.
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitExit(ctx, pidfd)
		unix.Close(pidfd)
	}
	if f := takeMntns(st.dir); f != nil {
		go f.Close()
	}
	return removeContainer(ctx, id, st.Cgroup, st.dir)
}

// deleteUnrecorded removes what a Create cut short (its process killed)
// left before it recorded the container's state: the container's directory
// and, at the default path, its cgroup with anything still in it. Without
// the directory there is nothing of the container: notFound is returned.
func (r *Runtime) deleteUnrecorded(ctx context.Context, id string, notFound error) error {
	dir, err := r.containerDir(id)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err != nil {
		return notFound
	}
	return removeContainer(ctx, id, cgroupPath(&specs.Spec{}, id), dir)
}

// removeContainer removes container id's cgroup at path (if any) and its
// state directory dir. An empty cgroup goes at once (a container whose
// PID 1 has been reaped, when it had a PID namespace of its own); one that
// still holds processes refuses, and they are killed first.
func removeContainer(ctx context.Context, id, path, dir string) error {
	if path != "" {
		dirs, err := cgroupDirs(path)
		if err != nil {
			return fmt.Errorf("delete container %s: cgroup %s: %w", id, path, err)
		}
		if removeCgroupDirs(path, dirs) != nil {
			killCgroup(ctx, dirs)
			if err := removeCgroupDirs(path, dirs); err != nil {
				return fmt.Errorf("delete container %s: %w", id, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// waitExit blocks until the process behind pidfd has exited.
func waitExit(ctx context.Context, pidfd int) {
	for ctx.Err() == nil {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
			return
		}
	}
}
