package cgroupv2

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/cgroupfs"
)

// Mount is where a cgroup v2 host mounts its unified hierarchy, the root
// Create takes.
const Mount = "/sys/fs/cgroup"

// Unified reports whether Mount is a cgroup2 file system (statfs magic
// CGROUP2_SUPER_MAGIC): the host runs cgroup v2 alone. A hybrid host,
// with v1 controllers and an empty unified hierarchy below a tmpfs at
// Mount, is not unified. One statfs(2); callers may keep the answer.
func Unified() bool {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(Mount, &st)
		if err == unix.EINTR {
			continue
		}
		return err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	}
}

// Dir is the directory of the cgroup path (absolute and clean, like
// /tabula/<id>) in the v2 hierarchy mounted at root: the file of a limit
// set later, such as pids.max, is in it.
func Dir(root, path string) string {
	if path == "/" {
		return root
	}
	return root + path
}

// Create makes the cgroup path (absolute and clean, like /tabula/<id>) in
// the cgroup v2 hierarchy mounted at root (normally Mount), its missing
// parents too, and gives it the limits of res (nil for none), so that they
// hold before any task joins. The translation of each field to its v2 file
// is runc's and crun's; settings documents it.
//
// In every ancestor from root down to the cgroup's parent, Create enables
// the controllers the limits need with one write of "+cpu +memory …" to
// cgroup.subtree_control (a controller already enabled is a no-op for the
// kernel). A controller the hierarchy does not offer (not in the root's
// cgroup.controllers: missing from the kernel, or bound to a v1 hierarchy)
// is an error naming the spec field that needs it, wrapping
// errdefs.ErrFailedPrecondition. Controllers enabled in ancestors stay
// enabled, whatever happens to the new cgroup.
//
// The device rules (linux.resources.devices; compileDevices has their
// semantics) become an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
// loaded before anything is made and attached to the cgroup last with
// BPF_F_ALLOW_MULTI, as runc does: the programs of its ancestors (the
// host's, systemd's) still run, and a device is allowed only if they all
// allow it. The cgroup holds its program until it is removed; no file
// descriptor stays open. Rules that leave every device allowed attach
// nothing.
//
// A cgroup that already exists is an error wrapping fs.ErrExist (and
// errdefs.ErrAlreadyExists), and nothing of it is written. On any error
// Create removes the directories it made and returns an error naming the
// spec field and the file, such as
// "linux.resources.memory.limit: /sys/fs/cgroup/tabula/x/memory.max: invalid argument".
func Create(root, path string, res *specs.LinuxResources) error {
	if err := cgroupfs.CheckPath(path); err != nil {
		return err
	}
	if len(root) < 2 || root[0] != '/' || filepath.Clean(root) != root {
		return fmt.Errorf("cgroup v2 mount point %q: must be absolute and clean, and not /: %w", root, errdefs.ErrInvalidArgument)
	}
	ss, err := settings(res)
	if err != nil {
		return err
	}
	var prog []insn
	if res != nil && len(res.Devices) > 0 {
		f, err := compileDevices(res.Devices)
		if err != nil {
			return err
		}
		if prog, err = f.program(); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	progFd := -1
	if prog != nil {
		if progFd, err = loadDeviceProgram(prog); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
		defer unix.Close(progFd)
	}
	c := creation{root: root, path: path, dir: Dir(root, path)}
	c.made = c.madeBuf[:0]
	err = c.mkdir()
	if err == nil {
		err = c.enable(ss)
	}
	if err == nil {
		err = c.write(ss)
	}
	if err == nil && progFd >= 0 {
		err = c.attach(progFd)
	}
	if err != nil {
		c.undo()
		return err
	}
	return nil
}

// creation is one Create call: the cgroup's directory and the directories
// the call made.
type creation struct {
	root, path string
	dir        string // root + path
	// made are the directories this call created, each after its
	// parent, for undo.
	made    []string
	madeBuf [4]string
}

// mkdir makes the cgroup's directory and its missing parents.
func (c *creation) mkdir() error {
	err := cgroupfs.Mkdir(c.dir)
	if err == unix.ENOENT {
		if err = c.mkdirParents(cgroupfs.ParentDir(c.dir)); err != nil {
			return err
		}
		err = cgroupfs.Mkdir(c.dir)
	}
	if err == unix.EEXIST {
		return fmt.Errorf("cgroup %s: %w: %w", c.path, errdefs.ErrAlreadyExists,
			&fs.PathError{Op: "mkdir", Path: c.dir, Err: err})
	}
	if err != nil {
		return fmt.Errorf("create cgroup %s: %w", c.path, &fs.PathError{Op: "mkdir", Path: c.dir, Err: err})
	}
	c.made = append(c.made, c.dir)
	return nil
}

// mkdirParents makes the parent directory dir of the cgroup, and its own
// parents, below the root; one that exists (made by a concurrent Create,
// say) is fine.
func (c *creation) mkdirParents(dir string) error {
	if len(dir) <= len(c.root) {
		return fmt.Errorf("create cgroup %s: no cgroup v2 hierarchy is mounted at %s: %w", c.path, c.root,
			&fs.PathError{Op: "mkdir", Path: c.dir, Err: unix.ENOENT})
	}
	err := cgroupfs.Mkdir(dir)
	if err == unix.ENOENT {
		if err = c.mkdirParents(cgroupfs.ParentDir(dir)); err != nil {
			return err
		}
		err = cgroupfs.Mkdir(dir)
	}
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create cgroup %s: %w", c.path, &fs.PathError{Op: "mkdir", Path: dir, Err: err})
	}
	c.made = append(c.made, dir)
	return nil
}

// undo removes the directories this call made, each before its parent. A
// parent that a concurrent Create has put a cgroup in stays.
func (c *creation) undo() {
	for i := len(c.made) - 1; i >= 0; i-- {
		unix.Rmdir(c.made[i])
	}
}

// need is a controller the limits need, and the first spec field that
// needs it, for errors.
type need struct{ controller, field string }

// enable enables the controllers of ss in the cgroup.subtree_control of
// every ancestor of the cgroup, from the root down: one open and one
// write each.
func (c *creation) enable(ss []setting) error {
	var needs []need
	var line []byte
	for _, s := range ss {
		if s.controller == "" || hasNeed(needs, s.controller) {
			continue
		}
		needs = append(needs, need{s.controller, s.field})
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(append(line, '+'), s.controller...)
	}
	if len(needs) == 0 {
		return nil
	}
	for i := len(c.root); ; {
		dir := c.dir[:i]
		if err := c.enableIn(dir, needs, line); err != nil {
			return err
		}
		j := strings.IndexByte(c.dir[i+1:], '/')
		if j < 0 {
			return nil
		}
		i += 1 + j
	}
}

// hasNeed reports whether needs has controller.
func hasNeed(needs []need, controller string) bool {
	for _, n := range needs {
		if n.controller == controller {
			return true
		}
	}
	return false
}

// enableIn writes line, the controllers of needs, to the
// cgroup.subtree_control of dir. When the kernel refuses, the error names
// the field of a controller dir does not offer, or else the fields of all.
func (c *creation) enableIn(dir string, needs []need, line []byte) error {
	file := dir + "/cgroup.subtree_control"
	fields := func() string {
		var b strings.Builder
		for i, n := range needs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.field)
		}
		return b.String()
	}
	fd, err := cgroupfs.Open(file)
	if err != nil {
		return cgroupfs.FileError(fields(), file, err)
	}
	err = cgroupfs.Write(fd, line)
	unix.Close(fd)
	if err == nil {
		return nil
	}
	var b [256]byte
	offered := dir + "/cgroup.controllers"
	n, rerr := cgroupfs.Read(offered, b[:])
	if rerr != nil {
		return cgroupfs.FileError(fmt.Sprintf("%s (%q)", fields(), line), file, err)
	}
	have := strings.Fields(string(b[:n]))
	for _, nd := range needs {
		found := false
		for _, h := range have {
			found = found || h == nd.controller
		}
		if !found {
			where := "the cgroup v2 hierarchy at " + c.root
			if dir != c.root {
				where = dir
			}
			return fmt.Errorf("%s: needs the %s controller, which %s does not offer (%s has %q; the kernel lacks it or a cgroup v1 hierarchy holds it): %w",
				nd.field, nd.controller, where, offered, strings.Join(have, " "), errdefs.ErrFailedPrecondition)
		}
	}
	return cgroupfs.FileError(fmt.Sprintf("%s (%q)", fields(), line), file, err)
}

// write writes every setting into the new cgroup, each file opened once
// for the settings (adjacent in ss) that share it.
func (c *creation) write(ss []setting) error {
	fd, name := -1, ""
	alt := false // fd is the setting's alt file
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for _, s := range ss {
		if fd < 0 || s.name != name {
			if fd >= 0 {
				unix.Close(fd)
				fd = -1
			}
			var err error
			name, alt = s.name, false
			fd, err = cgroupfs.Open(c.dir + "/" + s.name)
			if err == unix.ENOENT && s.alt != "" {
				alt = true
				fd, err = cgroupfs.Open(c.dir + "/" + s.alt)
			}
			if err == unix.ENOENT && s.optional {
				fd = -1
				continue
			}
			if err != nil {
				return cgroupfs.FileError(s.field, c.file(s, alt), err)
			}
		}
		v := s.value
		if alt {
			v = s.altValue
		}
		if err := cgroupfs.Write(fd, []byte(v)); err != nil {
			return cgroupfs.FileError(fmt.Sprintf("%s (%q)", s.field, v), c.file(s, alt), err)
		}
	}
	return nil
}

// file is the path of the file s is written to.
func (c *creation) file(s setting, alt bool) string {
	if alt {
		return c.dir + "/" + s.alt
	}
	return c.dir + "/" + s.name
}

// attach attaches the loaded device program to the new cgroup.
func (c *creation) attach(prog int) error {
	dir, err := unix.Open(c.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("linux.resources.devices: %w", &fs.PathError{Op: "open", Path: c.dir, Err: err})
	}
	err = attachDeviceProgram(dir, prog)
	unix.Close(dir)
	if err != nil {
		return fmt.Errorf("linux.resources.devices: attach the device program to %s: bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): %w", c.dir, err)
	}
	return nil
}

// Remove removes the cgroup path from the v2 hierarchy mounted at root,
// and the cgroups below it, each before its parent; one already gone is
// fine. Their processes must be gone: the kernel refuses (EBUSY) to remove
// a cgroup with any. The device program attached to a cgroup goes with it.
func Remove(root, path string) error {
	if err := cgroupfs.CheckPath(path); err != nil {
		return err
	}
	dir := Dir(root, path)
	err := unix.Rmdir(dir)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EBUSY && err != unix.ENOTEMPTY {
		return fmt.Errorf("remove cgroup %s: %w", path, &fs.PathError{Op: "rmdir", Path: dir, Err: err})
	}
	var dirs []string
	werr := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if werr != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, werr)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove cgroup %s: %w", path, &fs.PathError{Op: "rmdir", Path: dirs[i], Err: err})
		}
	}
	return nil
}

// OOMKills is the number of processes of the cgroup path (and of the
// cgroups below it) that an OOM killer has killed: oom_kill in its
// memory.events. Without the memory controller the cgroup has no
// memory.events, and the error wraps fs.ErrNotExist.
func OOMKills(root, path string) (uint64, error) {
	file := Dir(root, path) + "/memory.events"
	var b [512]byte
	n, err := cgroupfs.Read(file, b[:])
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b[:n]) {
		if v, ok := bytes.CutPrefix(line, []byte("oom_kill ")); ok {
			k, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: oom_kill: %w", file, err)
			}
			return k, nil
		}
	}
	return 0, fmt.Errorf("%s: no oom_kill line", file)
}
