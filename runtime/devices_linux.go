package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the character devices every container gets in /dev.
func defaultDevices() []specs.LinuxDevice {
	mode := os.FileMode(0o666)
	zero := uint32(0)
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &zero, GID: &zero}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// createDevices makes the default devices and the spec's (linux.devices)
// in root/dev, and the standard links.
func createDevices(root string, devices []specs.LinuxDevice) error {
	devs := append(defaultDevices(), devices...)
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := createDevice(root, d); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	for _, l := range [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
		{"pts/ptmx", "/dev/ptmx"},
		{"/proc/kcore", "/dev/core"},
	} {
		dst, err := securejoin.SecureJoin(root, l[1])
		if err != nil {
			return err
		}
		if err := os.Symlink(l[0], dst); err != nil && !os.IsExist(err) {
			return fmt.Errorf("link %s: %w", l[1], err)
		}
	}
	return nil
}

func createDevice(root string, d specs.LinuxDevice) error {
	dst, err := securejoin.SecureJoin(root, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("device type %q is not c, u, b or p", d.Type)
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	if err := unix.Mknod(dst, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		if !os.IsExist(err) {
			return err
		}
		return nil
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return unix.Lchown(dst, uid, gid)
}
