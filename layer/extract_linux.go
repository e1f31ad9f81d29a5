package layer

import (
	"archive/tar"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

func mknod(path string, typeflag byte, major, minor int64) error {
	mode := uint32(0o600)
	switch typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	case tar.TypeFifo:
		mode |= unix.S_IFIFO
	}
	return unix.Mknod(path, mode, int(unix.Mkdev(uint32(major), uint32(minor))))
}

func setXattr(path, name, value string) error {
	err := unix.Lsetxattr(path, name, []byte(value), 0)
	if errors.Is(err, unix.ENOTSUP) {
		return nil // the filesystem keeps no extended attributes
	}
	return err
}

func lutimes(path string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
