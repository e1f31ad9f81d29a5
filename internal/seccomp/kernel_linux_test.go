package seccomp_test

import (
	"errors"
	goruntime "runtime"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/seccomp"
	"github.com/tabula-dev/tabula/internal/testenv"
	"github.com/tabula-dev/tabula/runtime"
)

// onFilteredThread loads prog on a thread of its own and runs f there.
// The thread never unlocks, so it ends with the goroutine and the filter
// with it; the rest of the test process is unaffected.
func onFilteredThread(t *testing.T, prog []unix.SockFilter, f func() error) error {
	t.Helper()
	done := make(chan error)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- err
			return
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
			done <- &loadError{e}
			return
		}
		done <- f()
	}()
	return <-done
}

// loadError is the kernel refusing a filter.
type loadError struct{ errno unix.Errno }

func (e *loadError) Error() string { return "seccomp(SECCOMP_SET_MODE_FILTER): " + e.errno.Error() }

// The kernel loads the compiled default profile, and on the thread that
// loaded it allowed calls work while denied ones (keyctl, unshare of a
// user namespace, socket(AF_VSOCK), personality(PER_LINUX32_3GB)) fail
// with EPERM and clone3 with ENOSYS.
func TestKernelLoadsDefaultProfile(t *testing.T) {
	prog, err := seccomp.Compile(runtime.DefaultSeccomp(runtime.DefaultCapabilities()))
	if err != nil {
		t.Fatal(err)
	}
	err = onFilteredThread(t, prog, func() error {
		if tid, _, e := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0); e != 0 || tid == 0 {
			return errors.New("gettid failed under the filter: " + e.Error())
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e != 0 {
			return errors.New("personality(0xffffffff) failed under the filter: " + e.Error())
		}
		fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if e != 0 {
			return errors.New("socket(AF_UNIX) failed under the filter: " + e.Error())
		}
		unix.Close(int(fd))
		for _, c := range []struct {
			what string
			nr   uintptr
			args [3]uintptr
			want unix.Errno
		}{
			{"keyctl", unix.SYS_KEYCTL, [3]uintptr{0, 0, 0}, unix.EPERM},
			{"unshare(CLONE_NEWUSER)", unix.SYS_UNSHARE, [3]uintptr{unix.CLONE_NEWUSER}, unix.EPERM},
			{"socket(AF_VSOCK)", unix.SYS_SOCKET, [3]uintptr{unix.AF_VSOCK, unix.SOCK_STREAM, 0}, unix.EPERM},
			{"personality(0x8000000)", unix.SYS_PERSONALITY, [3]uintptr{0x8000000}, unix.EPERM},
			{"clone3", unix.SYS_CLONE3, [3]uintptr{0, 0}, unix.ENOSYS},
		} {
			if _, _, e := unix.RawSyscall(c.nr, c.args[0], c.args[1], c.args[2]); e != c.want {
				return errors.New(c.what + ": " + e.Error() + ", want " + c.want.Error())
			}
		}
		if goruntime.GOARCH == "amd64" {
			// getpid in the x32 ABI: the filter answers before the kernel
			// looks whether it has x32 at all.
			if _, _, e := unix.RawSyscall(0x40000000|unix.SYS_GETPID, 0, 0, 0); e != unix.EPERM {
				return errors.New("x32 getpid: " + e.Error() + ", want EPERM")
			}
		}
		return nil
	})
	var le *loadError
	if errors.As(err, &le) && (le.errno == unix.ENOSYS || le.errno == unix.EINVAL) {
		testenv.Require(t, false, "the kernel has no seccomp filters: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The test's own thread is not filtered.
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e != 0 {
		t.Fatalf("personality on the test's thread: %v", e)
	}
}

// The kernel accepts a program full of trampolines, and it decides there
// as in the VM.
func TestKernelLoadsLongJumps(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for i := range 150 {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: errnoOf(uint(i + 1)),
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(1000 + i), Op: specs.OpEqualTo}}})
	}
	prog, err := seccomp.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 600 {
		t.Fatalf("%d instructions: too short to need trampolines", len(prog))
	}
	err = onFilteredThread(t, prog, func() error {
		for _, who := range []uintptr{1000, 1077, 1149} {
			_, _, e := unix.RawSyscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, who, 0)
			if want := unix.Errno(who - 999); e != want {
				return errors.New("getpriority(" + want.Error() + "): got " + e.Error())
			}
		}
		if _, _, e := unix.RawSyscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0); e != 0 {
			return errors.New("getpriority of itself: " + e.Error())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errnoOf(e uint) *uint { return &e }
