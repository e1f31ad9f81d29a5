//go:build !linux

package layer

import (
	"fmt"
	"os"
	"time"

	"github.com/tabula-dev/tabula/errdefs"
)

func mknod(path string, typeflag byte, major, minor int64) error {
	return fmt.Errorf("create device %s: %w on this system", path, errdefs.ErrNotImplemented)
}

func setXattr(path, name, value string) error { return nil }

func lutimes(path string, mtime time.Time) error { return os.Chtimes(path, mtime, mtime) }
