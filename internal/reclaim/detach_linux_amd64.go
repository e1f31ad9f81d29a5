package reclaim

import (
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clone starts a process that shares this one's memory, files excepted,
// runs on stack (its top) and makes the system calls of ops, until one
// numbered opEnd; it returns the process's ID, or a negated errno.
//
//go:noescape
func clone(flags, stack uintptr, ops *op) int

// stackSize is the detached process's stack. It never uses it: the kernel
// would, to deliver a signal, but all are blocked.
const stackSize = 4096

var (
	mu sync.Mutex
	// detached keeps what detached processes read (their ops, the paths
	// those point to, their stacks) for as long as this process lives.
	detached []any
)

// Detach starts a process that does l's removals, in order, and exits, and
// returns its process ID without waiting for it. The process shares this
// one's memory (which it only reads; l must not change after), closes
// every file it inherited but the held ones first (so that a pipe this
// process writes to ends when this one exits), the held ones last or at
// Release, and
// blocks all signals. It is this process's child, a zombie once done until
// this process exits or reaps it. Detach returns 0, having started
// nothing, when the kernel refuses; the caller then calls Remove.
func (l *List) Detach() int {
	held := make([]uintptr, 0, len(l.held))
	for _, f := range l.held {
		held = append(held, f.Fd())
	}
	slices.Sort(held)
	ops := make([]op, 0, len(l.ops)+2*len(held)+5)
	for fd := range uintptr(3) {
		ops = append(ops, op{nr: unix.SYS_CLOSE, a1: fd})
	}
	// Linux 5.9; before, a failed call passed over.
	from := uintptr(3)
	for _, fd := range held {
		if fd > from {
			ops = append(ops, op{nr: unix.SYS_CLOSE_RANGE, a1: from, a2: fd - 1})
		}
		from = max(from, fd+1)
	}
	ops = append(ops, op{nr: unix.SYS_CLOSE_RANGE, a1: from, a2: 0xffffffff})
	released := false
	for _, o := range append(l.ops, op{nr: opRelease}) {
		if o.nr != opRelease {
			ops = append(ops, o)
			continue
		}
		if !released {
			for _, fd := range held {
				ops = append(ops, op{nr: unix.SYS_CLOSE, a1: fd})
			}
			released = true
		}
	}
	ops = append(ops, op{nr: opEnd})
	stack, err := unix.Mmap(-1, 0, stackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0
	}
	mu.Lock()
	detached = append(detached, ops, l.paths, stack)
	mu.Unlock()
	top := (uintptr(unsafe.Pointer(&stack[0])) + stackSize) &^ 15

	// The process starts with the thread's signal mask: all blocked, so
	// that none runs a Go handler on its stack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all, old := ^uint64(0), uint64(0)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid := clone(unix.CLONE_VM|uintptr(unix.SIGCHLD), top, &ops[0])
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if pid <= 0 {
		return 0
	}
	l.closeHeld()
	return pid
}
