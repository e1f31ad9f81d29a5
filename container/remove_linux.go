package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// containerEntries are what Create and Run put in a container's directory
// besides its writable layer: files, and the mount point of its root
// filesystem (a name ending in "/" is a directory).
var containerEntries = []string{"config.json", "hostname", "hosts", "resolv.conf", "state.json", "container.log", "rootfs/"}

// workEntries are what overlayfs leaves in a work directory, deepest
// first: its own work directory and, after a volatile mount, the mark that
// the upper directory is not to be trusted after a crash.
var workEntries = []string{"work/incompat/volatile/dirty", "work/incompat/volatile/", "work/incompat/", "work/"}

// removeDir removes a container's directory. What Create, Run and
// overlayfs put there goes by name: the work directory's nested entries,
// the upper directory and the rest each on a goroutine, for on ext4 each
// removal of a directory (or of a file written back) waits for the disk, a
// discard on a disk mounted with discard; os.RemoveAll would also list and
// stat every directory first. Anything else, such as the files a container
// wrote in its upper directory, goes through os.RemoveAll.
func removeDir(dir string) error {
	errc := make(chan error, 2)
	go func() { errc <- removeEntries(filepath.Join(dir, "work"), append(workEntries, "/")) }()
	go func() { errc <- removeEntries(filepath.Join(dir, "upper"), []string{"/"}) }()
	err := removeEntries(dir, containerEntries)
	for range 2 {
		if e := <-errc; err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	return removeEntries(dir, []string{"/"})
}

// removeEntries removes the entries of dir named, in order ("/" is dir
// itself); a missing one is fine. When a directory is not empty, dir goes
// through os.RemoveAll instead.
func removeEntries(dir string, names []string) error {
	for _, name := range names {
		p, isDir := filepath.Join(dir, name), strings.HasSuffix(name, "/")
		var err error
		if isDir {
			err = unix.Rmdir(p)
		} else {
			err = unix.Unlink(p)
		}
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EISDIR):
			return os.RemoveAll(dir)
		default:
			return &os.PathError{Op: "remove", Path: p, Err: err}
		}
	}
	return nil
}
