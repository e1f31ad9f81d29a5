package container

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A removed container's directory is kept for a new container to take,
// rather than removed and made again: on ext4 without a journal the
// kernel's inode allocator passes over every inode freed in the last
// minutes, so that each directory and file made costs more the more were
// removed lately, and a container's directory is eight of them. The
// detached process that removes a container (removeLater) empties its
// directory of what was the container's own (its record and log, and what
// overlayfs left in the work directory; the writable layer is emptied
// before; config.json, which holds its environment, is emptied) and, once
// the container's mount namespace is gone, renames what is left into
// <root>/containers/.recycled: the mount point of the root filesystem, the
// empty writable layer and work directory, and the /etc files and
// config.json, which Create writes over.

// Container directories are unrelated to one another, and
// <root>/containers is marked so (ext4's T attribute, which the root of a
// filesystem has): the Orlov allocator then places each new one in a block
// group of its own choosing rather than in its parent's, where builds and
// tests (in /tmp, say) make and remove their files. The inodes a kept
// directory frees at every use (overlayfs's work directory, chiefly) then
// stay in a group of their own.

// fsTopdirFl is FS_TOPDIR_FL (linux/fs.h), the T attribute.
const fsTopdirFl = 0x00020000

// spreadContainers marks <root>/containers as the top of unrelated
// directory trees, on filesystems that know the attribute.
func (c *Containers) spreadContainers() {
	fd, err := unix.Open(c.dir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS); err == nil && flags&fsTopdirFl == 0 {
		unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags|fsTopdirFl)
	}
}

// recycledDir holds the kept directories; isID refuses its name, so that
// no listing sees it.
const recycledDir = ".recycled"

// maxRecycled is how many directories are kept at most.
const maxRecycled = 8

func (c *Containers) recycled() string { return filepath.Join(c.dir(), recycledDir) }

// takeRecycled renames a kept directory to dir, the directory of a new
// container, and reports whether it did. One that is not as removeLater
// leaves them (its removal cut short, say) is removed instead.
func (c *Containers) takeRecycled(dir string) bool {
	ents, _ := os.ReadDir(c.recycled())
	for _, e := range ents {
		if os.Rename(filepath.Join(c.recycled(), e.Name()), dir) != nil {
			continue // taken by another Create
		}
		if _, err := os.Lstat(filepath.Join(dir, "state.json")); errors.Is(err, fs.ErrNotExist) &&
			emptyDir(filepath.Join(dir, "upper")) && emptyDir(filepath.Join(dir, "work")) {
			return true
		}
		if err := removeDir(dir); err != nil {
			os.RemoveAll(dir)
		}
		return false
	}
	return false
}

// recycleTarget returns where the directory of removed container id is to
// be kept, unless maxRecycled are already.
func (c *Containers) recycleTarget(id string) (string, bool) {
	ents, err := os.ReadDir(c.recycled())
	if errors.Is(err, fs.ErrNotExist) {
		c.spreadContainers() // a root made before containers were spread
		err = os.Mkdir(c.recycled(), 0o711)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) || len(ents) >= maxRecycled {
		return "", false
	}
	return filepath.Join(c.recycled(), id), true
}
