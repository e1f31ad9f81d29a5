package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

func TestBusyboxToolboxMissing(t *testing.T) {
	c := &Containers{Root: t.TempDir()}
	_, err := c.BusyboxToolbox(context.Background(), filepath.Join(t.TempDir(), "busybox"))
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "apt install busybox-static") || !strings.Contains(err.Error(), "--image") {
		t.Errorf("no busybox: %v", err)
	}
	exe, _ := os.Executable() // the test binary: dynamically linked or not, never busybox
	if isDynamic(exe) {
		if _, err := c.BusyboxToolbox(context.Background(), exe); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("a dynamic busybox: %v", err)
		}
	}
}

func TestBusyboxToolbox(t *testing.T) {
	_, err := os.Stat(HostBusybox)
	testenv.Require(t, err == nil && !isDynamic(HostBusybox), "no static busybox at %s (apt install busybox-static)", HostBusybox)
	c := &Containers{Root: t.TempDir()}
	src, err := c.BusyboxToolbox(context.Background(), HostBusybox)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(src.Lowers[0], "bin")
	for _, applet := range []string{"sh", "ls", "cat", "ps"} {
		if l, err := os.Readlink(filepath.Join(bin, applet)); err != nil || l != "busybox" {
			t.Errorf("applet %s: %q %v", applet, l, err)
		}
	}
	again, err := c.BusyboxToolbox(context.Background(), HostBusybox)
	if err != nil || again.Lowers[0] != src.Lowers[0] {
		t.Errorf("a second toolbox: %v %v, want the first one reused", again, err)
	}
}
