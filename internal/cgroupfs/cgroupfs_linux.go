// Package cgroupfs holds the file operations that creating a cgroup takes,
// on v1 hierarchies (internal/cgroupv1) and on v2 (internal/cgroupv2): bare
// system calls, one open per file and one write per value, as the kernel
// takes a cgroup file's value whole or refuses it.
package cgroupfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
)

// CheckPath checks that a cgroup path is absolute and clean, below the
// root (like /tabula/<id>).
func CheckPath(path string) error {
	if len(path) < 2 || path[0] != '/' || path[len(path)-1] == '/' ||
		strings.Contains(path, "//") || strings.Contains(path, "/./") || strings.Contains(path, "/../") ||
		strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..") {
		return fmt.Errorf("cgroup path %q: must be absolute and clean, below the root (like /tabula/<id>): %w", path, errdefs.ErrInvalidArgument)
	}
	return nil
}

// FileError names the spec field and the file of a failed open or write.
func FileError(field, file string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %s: %w (this kernel or host does not support it)", field, file, err)
	}
	return fmt.Errorf("%s: %s: %w", field, file, err)
}

// Mkdir makes one cgroup directory.
func Mkdir(dir string) error {
	for {
		err := unix.Mkdir(dir, 0o755)
		if err != unix.EINTR {
			return err
		}
	}
}

// Open opens a cgroup file for writing.
func Open(file string) (int, error) {
	for {
		fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Write writes b with one write(2).
func Write(fd int, b []byte) error {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n < len(b) {
			return io.ErrShortWrite
		}
		return nil
	}
}

// Read reads the start of a cgroup file into b.
func Read(file string, b []byte) (int, error) {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: file, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: file, Err: err}
		}
		return n, nil
	}
}

// ParentDir is the directory above dir, which has no trailing slash.
func ParentDir(dir string) string {
	return dir[:strings.LastIndexByte(dir, '/')]
}
