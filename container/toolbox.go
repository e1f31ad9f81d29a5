package container

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
)

// HostBusybox is where Debian's busybox-static package installs busybox.
const HostBusybox = "/bin/busybox"

// BusyboxToolbox returns the default debug toolbox: a root filesystem made
// of the host's static busybox and its applet links, built once under
// <root>/toolbox.
func (c *Containers) BusyboxToolbox(ctx context.Context, busybox string) (*Source, error) {
	fi, err := os.Stat(busybox)
	if err != nil {
		return nil, fmt.Errorf("no debug toolbox: %s is not installed; install it (apt install busybox-static) or give an image with --image: %w", busybox, errdefs.ErrNotFound)
	}
	if isDynamic(busybox) {
		return nil, fmt.Errorf("no debug toolbox: %s is dynamically linked and would not run in a container; install busybox-static (apt install busybox-static) or give an image with --image: %w", busybox, errdefs.ErrNotFound)
	}
	dir := filepath.Join(c.Root, "toolbox", fmt.Sprintf("busybox-%d-%d", fi.Size(), fi.ModTime().Unix()))
	src := &Source{Ref: "busybox (host)", ID: "toolbox", Lowers: []string{dir}, Toolbox: true,
		Config: v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}}
	if _, err := os.Stat(dir); err == nil {
		return src, nil
	}
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list the applets of %s: %w", busybox, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755)
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(busybox, filepath.Join(bin, "busybox")); err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, err
		}
	}
	return src, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isDynamic reports whether an ELF file names a program interpreter.
func isDynamic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
