package container

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// keptDir makes a directory as removeLater keeps one at path, with files
// (relative paths) added.
func keptDir(t *testing.T, path string, files ...string) {
	t.Helper()
	for _, d := range []string{"rootfs", "upper", "work"} {
		if err := os.MkdirAll(filepath.Join(path, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range append([]string{"hostname", "hosts", "resolv.conf", "config.json"}, files...) {
		if err := os.WriteFile(filepath.Join(path, f), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestRecycle: removed containers' directories are kept up to
// maxRecycled, a new container takes a clean one whole, and one that
// holds what a container left is removed instead.
func TestRecycle(t *testing.T) {
	c := &Containers{Root: t.TempDir()}
	if err := os.MkdirAll(c.dir(), 0o711); err != nil {
		t.Fatal(err)
	}
	if c.takeRecycled(c.Dir("a")) {
		t.Fatal("took a directory where none was kept")
	}
	for i := range maxRecycled {
		keep, ok := c.recycleTarget("id" + strconv.Itoa(i))
		if !ok {
			t.Fatalf("directory %d not kept, want %d kept", i, maxRecycled)
		}
		keptDir(t, keep)
	}
	if keep, ok := c.recycleTarget("one-more"); ok {
		t.Errorf("kept a directory as %s past the %d kept", keep, maxRecycled)
	}

	want := inode(t, filepath.Join(c.recycled(), "id0"))
	if !c.takeRecycled(c.Dir("new")) {
		t.Fatal("no kept directory taken")
	}
	if got := inode(t, c.Dir("new")); got != want {
		t.Errorf("the new container's directory is inode %d, want the kept %d", got, want)
	}
	if ents, _ := os.ReadDir(c.recycled()); len(ents) != maxRecycled-1 {
		t.Errorf("%d kept after one was taken, want %d", len(ents), maxRecycled-1)
	}

	// Kept directories that hold what a container left, taken first.
	for _, dirty := range [][]string{{"state.json"}, {"upper/file"}} {
		os.RemoveAll(c.recycled())
		keep, _ := c.recycleTarget("dirty")
		keptDir(t, keep, dirty...)
		if c.takeRecycled(c.Dir("other")) {
			t.Errorf("took a kept directory holding %v", dirty)
		}
		if _, err := os.Lstat(c.Dir("other")); !os.IsNotExist(err) {
			t.Errorf("a kept directory holding %v left at the new container's place: %v", dirty, err)
		}
	}
}

// TestSpreadContainers marks the containers directory as the top of
// unrelated directory trees (ext4's T attribute), once.
func TestSpreadContainers(t *testing.T) {
	c := &Containers{Root: t.TempDir()}
	if err := os.MkdirAll(c.dir(), 0o711); err != nil {
		t.Fatal(err)
	}
	flags := func() int {
		fd, err := unix.Open(c.dir(), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		f, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
		testenv.Require(t, err == nil, "the filesystem of %s has no inode attributes (FS_IOC_GETFLAGS: %v)", c.dir(), err)
		return f
	}
	if flags()&fsTopdirFl != 0 {
		t.Fatal("a new directory is marked already")
	}
	c.spreadContainers()
	c.spreadContainers()
	if flags()&fsTopdirFl == 0 {
		t.Error("spreadContainers did not mark the containers directory")
	}
}
