package runtime

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// protectedExe opens tabula's own binary, to re-execute it as a container's
// init, so that no process of the container can ever write to it through
// /proc/<pid>/exe (CVE-2019-5736): the file is opened through a read-only
// bind mount of itself that no other process sees and that the kernel drops
// when the last fd goes: a detached mount (open_tree, Linux 5.12), or one
// made in a throwaway mount namespace on older kernels. Where mounts are
// not allowed, a sealed in-memory copy serves instead.
func protectedExe() (*os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find tabula's binary: %w", err)
	}
	if f, err := detachedReadOnly(exe); err == nil {
		return f, nil
	}
	var f *os.File
	err = onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := mount(exe, exe, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		if err := mount("", exe, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return err
		}
		var err error
		f, err = os.OpenFile(exe, os.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err == nil {
		return f, nil
	}
	return sealedCopy(exe)
}

// sealedCopy copies the binary into a memfd sealed against any change.
func sealedCopy(exe string) (*os.File, error) {
	src, err := os.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("open tabula's binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("tabula-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("copy tabula's binary: %w", err)
	}
	f := os.NewFile(uintptr(fd), "tabula-init")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy tabula's binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal the copy of tabula's binary: %w", err)
	}
	return f, nil
}

// detachedReadOnly opens path through a detached, read-only bind mount.
func detachedReadOnly(path string) (*os.File, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(tree)
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return nil, err
	}
	return os.OpenFile("/proc/self/fd/"+strconv.Itoa(tree), os.O_RDONLY|unix.O_CLOEXEC, 0)
}
