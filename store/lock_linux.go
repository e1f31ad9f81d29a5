package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flock holds an advisory lock on one file; every acquisition opens the file
// anew, so the lock excludes goroutines of one process as well as processes.
type flock struct{ f *os.File }

func lockFile(path string, exclusive bool) (*flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &flock{f}, nil
}

func (l *flock) unlock() {
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// tryLockFile takes an exclusive lock on path if no one holds it; ok is
// false when another holder has it.
func tryLockFile(path string) (l *flock, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &flock{f}, true, nil
}
