package layer

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func owner(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

func opaque(t *testing.T, path string) string {
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(path, "trusted.overlay.opaque", buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}
