package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/sysfile"
)

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits fstab-style options into mount flags,
// propagation flags and the data string handed to the filesystem.
func parseMountOptions(opts []string) (flags, propagation uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			propagation |= p
			continue
		}
		d = append(d, o)
	}
	return flags, propagation, strings.Join(d, ",")
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + fstype + " " + source + " on", Path: target, Err: err}
	}
	return nil
}

// prepareRootfs builds the container's filesystem in the init's own mount
// namespace: the mount tree is made private, the rootfs mounts (tabula's
// overlay) go on the root path, then the spec's mounts and the devices, and
// finally pivot_root makes it "/".
func prepareRootfs(cfg *initConfig) error {
	if err := mountRootfs(cfg); err != nil {
		return err
	}
	if err := mountSpec(cfg, func(int) bool { return true }); err != nil {
		return err
	}
	if err := populateRootfs(cfg); err != nil {
		return err
	}
	return pivotRoot(cfg.Root)
}

// mountRootfs makes the mount tree private and mounts the rootfs (tabula's
// overlay) on the root path, or binds the root path on itself: pivot_root
// needs a mount point.
func mountRootfs(cfg *initConfig) error {
	spec := cfg.Spec
	prop := uintptr(unix.MS_REC | unix.MS_PRIVATE)
	if spec.RootfsPropagation != "" {
		p, ok := propagationFlags[spec.RootfsPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation %q is not a propagation mode", spec.RootfsPropagation)
		}
		prop = p
	}
	if err := mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("make the mount tree private: %w", err)
	}
	root := cfg.Root
	if len(cfg.Rootfs) == 0 {
		if err := mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the root filesystem: %w", err)
		}
		return nil
	}
	for _, m := range cfg.Rootfs {
		if err := mountRootfsLayer(m, root); err != nil {
			return fmt.Errorf("mount the root filesystem: %w", err)
		}
	}
	return nil
}

// mountRootfsLayer mounts m on root. An overlay asked to be volatile (no
// syncs: its upper directory is thrown away with the container) is
// mounted without on kernels that predate the option (Linux 5.10).
func mountRootfsLayer(m specs.Mount, root string) error {
	flags, _, data := parseMountOptions(m.Options)
	err := mount(m.Source, root, m.Type, flags, data)
	if errors.Is(err, unix.EINVAL) && m.Type == "overlay" && slices.Contains(m.Options, "volatile") {
		opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "volatile" })
		flags, _, data = parseMountOptions(opts)
		err = mount(m.Source, root, m.Type, flags, data)
	}
	return err
}

// mountSpec makes, in order, the spec's mounts whose index which selects.
func mountSpec(cfg *initConfig, which func(i int) bool) error {
	for i, m := range cfg.Spec.Mounts {
		if !which(i) {
			continue
		}
		if err := mountInto(cfg.Root, cfg, m); err != nil {
			return fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
	}
	return nil
}

// populateRootfs creates the devices and the working directory.
func populateRootfs(cfg *initConfig) error {
	root := cfg.Root
	if err := createDevices(root, cfg.Spec.Devices); err != nil {
		return err
	}
	if p := cfg.Process; p != nil && p.Cwd != "" {
		// A missing working directory is created, inside the rootfs even
		// when the image makes a path component an absolute symlink.
		cwd, err := securejoin.SecureJoin(root, p.Cwd)
		if err != nil {
			return fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
		}
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
		}
	}
	return nil
}

// mountInto makes mount m of cfg inside root; its destination is resolved
// with securejoin, so symlinks in the image never lead outside root.
func mountInto(root string, cfg *initConfig, m specs.Mount) error {
	dest, err := securejoin.SecureJoin(root, m.Destination)
	if err != nil {
		return err
	}
	flags, prop, data := parseMountOptions(m.Options)
	if m.Type == "bind" {
		flags |= unix.MS_BIND
	}
	switch {
	case flags&unix.MS_BIND != 0:
		source := m.Source
		if !filepath.IsAbs(source) {
			source = filepath.Join(cfg.Bundle, source)
		}
		fi, err := os.Stat(source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		if err := createTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		if err := mount(source, dest, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := remountBind(dest, rest); err != nil {
				return err
			}
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := createTarget(dest, true); err != nil {
			return err
		}
		if err := mountCgroupfs(dest, flags, cfg.CgroupMounts); err != nil {
			return err
		}
	default:
		if err := createTarget(dest, true); err != nil {
			return err
		}
		err := mount(m.Source, dest, m.Type, flags, data)
		if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
			// sysfs cannot be mounted without a network namespace of
			// one's own: show the host's, read-only.
			if err = mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = remountBind(dest, flags|unix.MS_RDONLY)
			}
		}
		if err != nil {
			return err
		}
	}
	if prop != 0 {
		return mount("", dest, "", prop, "")
	}
	return nil
}

// remountBind applies flags (read-only, nosuid, …) to a bind mount, keeping
// the flags the mount already has that cannot be dropped.
func remountBind(dest string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err == nil {
		keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
		flags |= keep
	}
	return mount("", dest, "", flags|unix.MS_BIND|unix.MS_REMOUNT, "")
}

// createTarget creates a missing mount target: a directory, or an empty
// file when a file is mounted.
func createTarget(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// mountCgroupfs shows the container its own cgroup (the root of its cgroup
// namespace): cgroup2 on a unified host; on v1 and hybrid hosts a tmpfs
// holding each hierarchy the container is in, whose mount points on the
// host are joined. A hierarchy it is not in would show it the host's.
// hostCgroupMounts are the host's v1 hierarchies under /sys/fs/cgroup, named
// ones (systemd's) included, found once per process; a hybrid host's
// unified hierarchy holds no controllers (only systemd's bookkeeping) and
// mounting it inside a cgroup namespace costs the kernel tens of
// milliseconds: left out.
var hostCgroupMounts = sync.OnceValues(func() ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" || filepath.Dir(i.Mountpoint) != cgroupRoot, false
	})
})

func mountCgroupfs(dest string, flags uintptr, joined []string) error {
	if unifiedHost() {
		return mount("cgroup2", dest, "cgroup2", flags, "")
	}
	hier, err := hostCgroupMounts()
	if err != nil {
		return err
	}
	if err := mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	for _, h := range hier {
		if !slices.Contains(joined, h.Mountpoint) {
			continue
		}
		sub := filepath.Join(dest, filepath.Base(h.Mountpoint))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return err
		}
		var opts []string
		for _, o := range strings.Split(h.VFSOptions, ",") {
			if o != "rw" && o != "ro" {
				opts = append(opts, o)
			}
		}
		if err := mount("cgroup", sub, h.FSType, flags, strings.Join(opts, ",")); err != nil {
			return err
		}
	}
	// The host's links between co-mounted controllers (cpu -> cpu,cpuacct).
	if ents, err := os.ReadDir(cgroupRoot); err == nil {
		for _, e := range ents {
			if e.Type()&os.ModeSymlink == 0 {
				continue
			}
			target, err := os.Readlink(filepath.Join(cgroupRoot, e.Name()))
			if err == nil && slices.Contains(joined, filepath.Join(cgroupRoot, target)) {
				os.Symlink(target, filepath.Join(dest, e.Name()))
			}
		}
	}
	return mount("tmpfs", dest, "tmpfs", flags|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755")
}

// pivotRoot makes root the process's "/" and detaches the old root, so no
// host path stays reachable from the container.
func pivotRoot(root string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", root, err)
	}
	// The old root is now stacked under the new one at "."; detach it
	// without propagating the unmount anywhere.
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// finishRootfs runs after pivot_root: sysctls, masked and read-only paths,
// and a read-only root.
func finishRootfs(spec *initSpec) error {
	for k, v := range spec.Sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := sysfile.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	for _, p := range spec.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %s: %w", p, err)
		}
	}
	for _, p := range spec.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make the root filesystem read-only: %w", err)
		}
	}
	return nil
}

// readonlyPath and maskPath look at the path first, as mount(2) would:
// most of Docker's paths are missing on a given kernel, and a stat costs a
// fraction of a failed mount. Nothing of the container runs yet.

func readonlyPath(p string) error {
	if _, err := pathType(p); err != nil {
		return ignoreMissing(err)
	}
	if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return remountBind(p, unix.MS_RDONLY|unix.MS_REC)
}

func maskPath(p string) error {
	typ, err := pathType(p)
	switch {
	case err != nil:
		return ignoreMissing(err)
	case typ == unix.S_IFDIR:
		return mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
	}
	return mount("/dev/null", p, "", unix.MS_BIND, "")
}

// pathType is the type (S_IFMT bits) of what p leads to.
func pathType(p string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	return st.Mode & unix.S_IFMT, nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
