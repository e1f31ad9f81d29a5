//go:build !linux

package store

import (
	"fmt"
	"os"
)

// flock on systems other than Linux only opens the file: tabula's store is
// shared between processes on Linux alone.
type flock struct{ f *os.File }

func lockFile(path string, exclusive bool) (*flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	return &flock{f}, nil
}

func (l *flock) unlock() { l.f.Close() }

func tryLockFile(path string) (*flock, bool, error) {
	l, err := lockFile(path, true)
	return l, err == nil, err
}
