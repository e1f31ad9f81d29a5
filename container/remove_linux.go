package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/reclaim"
)

// removeLater removes rec's container, whose processes have all exited,
// from every listing at once, and hands the removal of its files and
// cgroup to a detached process (reclaim): on ext4 each directory removed
// waits for the disk, and run --rm would wait for a dozen before it
// returns. The container's directory and runtime state are renamed away
// first; a writable layer the container wrote to is emptied here, since
// only known entries go later. The directory itself is kept for a new
// container while fewer than maxRecycled are (recycle_linux.go). It
// returns false, having changed nothing, when the container still has
// processes: the caller removes it.
func (c *Containers) removeLater(rec *Record) (bool, error) {
	var l reclaim.List
	if !c.runtime().Reclaim(rec.ID, &l) {
		return false, nil
	}
	dir := c.Dir(rec.ID)
	gone := filepath.Join(c.dir(), removingPrefix+rec.ID)
	if err := os.Rename(dir, gone); err != nil {
		// Its runtime state is gone already: the rest goes here.
		l.Remove()
		return true, removeDir(dir)
	}
	if upper := filepath.Join(gone, "upper"); !emptyDir(upper) {
		if err := os.RemoveAll(upper); err != nil {
			return true, err // and the listings sweep the rest
		}
	}
	for _, e := range workEntries {
		addRemoval(&l, filepath.Join(gone, "work"), e)
	}
	if keep, ok := c.recycleTarget(rec.ID); ok {
		// Kept for a new container (recycle_linux.go) once its mount
		// namespace, which holds the overlay on it, is gone.
		for _, e := range ownEntries {
			addRemoval(&l, gone, e)
		}
		// The spec holds the container's environment: emptied, not
		// left for whoever reads the kept directory.
		l.Truncate(filepath.Join(gone, "config.json"))
		l.Release()
		l.Rename(gone, keep)
	} else {
		l.Rmdir(filepath.Join(gone, "work"))
		l.Rmdir(filepath.Join(gone, "upper"))
		for _, e := range containerEntries {
			addRemoval(&l, gone, e)
		}
		l.Rmdir(gone)
	}
	if l.Detach() == 0 {
		l.Remove()
		return true, os.RemoveAll(gone) // anything not listed
	}
	return true, nil
}

// addRemoval adds the removal of entry name of dir to l: a name ending in
// "/" is a directory.
func addRemoval(l *reclaim.List, dir, name string) {
	if p := filepath.Join(dir, name); strings.HasSuffix(name, "/") {
		l.Rmdir(p)
	} else {
		l.Unlink(p)
	}
}

// emptyDir reports whether directory dir has no entries (or cannot be
// read).
func emptyDir(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	var buf [512]byte
	for {
		n, err := unix.ReadDirent(fd, buf[:])
		if err != nil || n <= 0 {
			return true
		}
		if _, count, _ := unix.ParseDirent(buf[:n], 1, nil); count > 0 {
			return false
		}
	}
}

// containerEntries are what Create and Run put in a container's directory
// besides its writable layer: files, and the mount point of its root
// filesystem (a name ending in "/" is a directory).
var containerEntries = []string{"config.json", "hostname", "hosts", "resolv.conf", "state.json", "container.log", "rootfs/"}

// ownEntries are the container's own among containerEntries: what a kept
// directory must not hold (recycle_linux.go).
var ownEntries = []string{"state.json", "container.log"}

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
