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

// List is the files and directories to remove (or rename), in order. A
// failed step (a directory not empty, an entry already gone) is passed
// over.
type List struct {
	ops   []op
	paths [][]byte   // the NUL-terminated paths the ops point into, two for a rename
	held  []*os.File // closed last (Hold)
}

// Hold hands f over to l, to be closed once the removals are done (or at
// Release): by the detached process, which keeps its copy open until then
// (Detach closes the caller's), or by Remove. It is for a file whose last
// close is dear, such as the last reference to a mount namespace, whose
// teardown unmounts everything in it and waits for RCU grace periods: the
// detached process pays it, after the caller has gone on.
func (l *List) Hold(f *os.File) { l.held = append(l.held, f) }

// opRelease marks where the held files are closed, when not last.
const opRelease = opEnd - 1

// Release adds the closing of the held files, before the steps added
// after it rather than last.
func (l *List) Release() { l.ops = append(l.ops, op{nr: opRelease}) }

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

// Rename adds the renaming of oldpath to newpath, which must not be a
// directory that is not empty.
func (l *List) Rename(oldpath, newpath string) {
	o, n := l.path(oldpath), l.path(newpath)
	l.ops = append(l.ops, op{unix.SYS_RENAME, uintptr(unsafe.Pointer(&o[0])), uintptr(unsafe.Pointer(&n[0])), 0})
}

// Truncate adds the emptying of file path, which keeps it.
func (l *List) Truncate(path string) {
	b := l.path(path)
	l.ops = append(l.ops, op{unix.SYS_TRUNCATE, uintptr(unsafe.Pointer(&b[0])), 0, 0})
}

// Len is the number of steps in l.
func (l *List) Len() int { return len(l.ops) }

func (l *List) add(path string, flags uintptr) {
	b := l.path(path)
	l.ops = append(l.ops, op{unix.SYS_UNLINKAT, atFDCWD, uintptr(unsafe.Pointer(&b[0])), flags})
}

// path keeps path NUL-terminated for an op.
func (l *List) path(path string) []byte {
	b := append([]byte(path), 0)
	l.paths = append(l.paths, b)
	return b
}

// Remove does the steps here and now, in order, and returns the first
// error other than a missing entry.
func (l *List) Remove() error {
	var first error
	fail := func(op, p string, err error) {
		if err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = &fs.PathError{Op: op, Path: p, Err: err}
		}
	}
	paths := l.paths
	next := func() string {
		p := string(paths[0][:len(paths[0])-1]) // without its NUL
		paths = paths[1:]
		return p
	}
	for _, o := range l.ops {
		switch o.nr {
		case opRelease:
			l.closeHeld()
		case unix.SYS_RENAME:
			oldpath, newpath := next(), next()
			fail("rename", oldpath, unix.Rename(oldpath, newpath))
		case unix.SYS_TRUNCATE:
			p := next()
			fail("truncate", p, unix.Truncate(p, 0))
		default:
			p := next()
			fail("remove", p, unix.Unlinkat(unix.AT_FDCWD, p, int(o.a3)))
		}
	}
	l.closeHeld()
	return first
}
