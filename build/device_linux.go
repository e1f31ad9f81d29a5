package build

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// deviceNumbers returns a device file's major and minor numbers.
func deviceNumbers(fi fs.FileInfo) (int64, int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
}
