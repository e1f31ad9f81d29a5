// Package sysfile reads and writes small files with bare system calls.
//
// The os package registers every file it opens with the Go runtime's
// netpoller: on Linux that is four fcntl calls and a failing epoll_ctl
// per open of a regular file, a third of what reading a small file costs.
// tabula reads and writes dozens of tiny files (cgroupfs, procfs, its
// state) on the path of every container it starts, and never polls them.
package sysfile

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReadFile returns the contents of file name, as os.ReadFile.
func ReadFile(name string) ([]byte, error) {
	fd, err := open(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// Open opens file name for reading, as os.Open, as a file the netpoller
// never sees: os.NewFile only asks for the file's flags.
func Open(name string) (*os.File, error) {
	fd, err := open(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// WriteFile writes data to file name, created with perm when missing and
// truncated otherwise, as os.WriteFile.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	return writeFile(name, data, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, perm)
}

// Create makes file name with data; an existing file is an error (it
// wraps fs.ErrExist) and is left as it is.
func Create(name string, data []byte, perm fs.FileMode) error {
	return writeFile(name, data, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm)
}

// WriteAtomic writes data to file name in dir through a temporary file
// renamed over it, so that readers see the old contents or the new, never
// a part.
func WriteAtomic(dir, name string, data []byte, perm fs.FileMode) error {
	for {
		tmp := filepath.Join(dir, ".tmp-"+name+"-"+strconv.FormatUint(uint64(rand.Uint32()), 36))
		err := writeFile(tmp, data, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm)
		if pe, ok := err.(*fs.PathError); ok && pe.Op == "open" && pe.Err == unix.EEXIST {
			continue
		}
		if err != nil {
			return err
		}
		if err := unix.Rename(tmp, filepath.Join(dir, name)); err != nil {
			unix.Unlink(tmp)
			return &fs.PathError{Op: "rename", Path: filepath.Join(dir, name), Err: err}
		}
		return nil
	}
}

func writeFile(name string, data []byte, flags int, perm fs.FileMode) error {
	fd, err := open(name, flags, uint32(perm.Perm()))
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &fs.PathError{Op: "write", Path: name, Err: err}
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: name, Err: err}
	}
	return nil
}

func open(name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(name, flags|unix.O_CLOEXEC, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
