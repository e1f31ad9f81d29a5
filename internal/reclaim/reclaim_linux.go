package reclaim

import (
	"errors"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// op is one system call of a detached process: its number and arguments.
// The layout is what the entry code (detach_linux_*.s) reads.
type op struct {
	nr, a1, a2, a3 uintptr
}

// opEnd ends a list of ops.
const opEnd = ^uintptr(0)

// atFDCWD is AT_FDCWD as a system call argument.
var atFDCWD = func() uintptr { fd := int64(unix.AT_FDCWD); return uintptr(fd) }()

// List is the files and directories to remove, in order. A failed removal
// (a directory not empty, an entry already gone) is passed over.
type List struct {
	ops   []op
	paths [][]byte   // the NUL-terminated paths the ops point into
	held  []*os.File // closed last (Hold)
}

// Hold hands f over to l, to be closed once the removals are done: by the
// detached process, which keeps its copy open until then (Detach closes
// the caller's), or by Remove. It is for a file whose last close is dear,
// such as the last reference to a mount namespace, whose teardown
// unmounts everything in it and waits for RCU grace periods: the detached
// process pays it, after the caller has gone on.
func (l *List) Hold(f *os.File) { l.held = append(l.held, f) }

// closeHeld closes this process's copies of the held files.
func (l *List) closeHeld() {
	for _, f := range l.held {
		f.Close()
	}
	l.held = nil
}

// Unlink adds the removal of file path.
func (l *List) Unlink(path string) { l.add(path, 0) }

// Rmdir adds the removal of empty directory path.
func (l *List) Rmdir(path string) { l.add(path, unix.AT_REMOVEDIR) }

// Len is the number of removals in l.
func (l *List) Len() int { return len(l.ops) }

func (l *List) add(path string, flags uintptr) {
	b := append([]byte(path), 0)
	l.paths = append(l.paths, b)
	l.ops = append(l.ops, op{unix.SYS_UNLINKAT, atFDCWD, uintptr(unsafe.Pointer(&b[0])), flags})
}

// Remove does the removals here and now, in order, and returns the first
// error other than a missing entry.
func (l *List) Remove() error {
	var first error
	for i, o := range l.ops {
		p := string(l.paths[i][:len(l.paths[i])-1]) // without its NUL
		if err := unix.Unlinkat(unix.AT_FDCWD, p, int(o.a3)); err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = &fs.PathError{Op: "remove", Path: p, Err: err}
		}
	}
	l.closeHeld()
	return first
}
