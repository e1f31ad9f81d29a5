package cgroupv1

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/cgroupfs"
)

// Create makes the cgroup path (absolute and clean, like /tabula/<id>) in
// every hierarchy of hs, its missing parents too, and writes the limits of
// res (nil for none) into it, so that they hold before any task joins.
//
// A cgroup that already exists in any hierarchy is an error wrapping
// fs.ErrExist (and errdefs.ErrAlreadyExists), and nothing of it is
// written. On any error Create removes the directories it made and
// returns an error naming the spec field and the file, such as
// "linux.resources.memory.limit: /sys/fs/cgroup/memory/tabula/x/memory.limit_in_bytes: invalid argument".
//
// In the cpuset hierarchy a parent Create makes gets its parent's cpus and
// mems and cgroup.clone_children set, so that the kernel gives every
// cgroup made below it those cpus and mems at mkdir; a new cgroup left
// with no cpus (its parent made elsewhere without clone_children) gets
// them copied from its nearest ancestor that has some.
//
// A zero memory limit, swap, reservation, kernel or kernelTCP, cpu shares,
// period, quota, burst, realtime period or runtime, idle, blkio weight or
// leaf weight, or net_cls class ID is taken as unset, as runc does for
// most of them: each is either a value the kernel refuses or clamps, or
// a new cgroup's default. A swappiness of -1 (as a uint64) is unset too.
func Create(hs []Hierarchy, path string, res *specs.LinuxResources) error {
	if err := cgroupfs.CheckPath(path); err != nil {
		return err
	}
	if len(hs) == 0 {
		return fmt.Errorf("create cgroup %s: no cgroup v1 hierarchy is mounted on this host: %w", path, errdefs.ErrFailedPrecondition)
	}
	if res != nil && len(res.Unified) > 0 {
		return fmt.Errorf("linux.resources.unified: needs cgroup v2, and this host's controllers are on cgroup v1: %w", errdefs.ErrFailedPrecondition)
	}
	c := creation{hs: hs, path: path, dirs: make([]string, len(hs))}
	c.made = c.madeBuf[:0]
	err := c.mkdirs(res)
	if err == nil && res != nil {
		err = c.limits(res)
	}
	if err != nil {
		c.undo()
		return err
	}
	return nil
}

// creation is one Create call: the cgroup's directory in each hierarchy
// and the directories the call made.
type creation struct {
	hs   []Hierarchy
	path string
	dirs []string // the cgroup's directory in hs[i]
	// made are the directories this call created, each after its
	// parent, for undo.
	made    []string
	madeBuf [16]string
	buf     [96]byte // one value or rule being formatted
}

// mkdirs makes the cgroup's directory in every hierarchy.
func (c *creation) mkdirs(res *specs.LinuxResources) error {
	for i, h := range c.hs {
		dir := h.Dir(c.path)
		c.dirs[i] = dir
		cpuset := h.has("cpuset")
		parentMade := false
		err := cgroupfs.Mkdir(dir)
		if err == unix.ENOENT {
			n := len(c.made)
			if err = c.mkdirParents(cgroupfs.ParentDir(dir), h.Mount, cpuset); err != nil {
				return err
			}
			parentMade = len(c.made) > n
			err = cgroupfs.Mkdir(dir)
		}
		if err == unix.EEXIST {
			return fmt.Errorf("cgroup %s: %w: %w", c.path, errdefs.ErrAlreadyExists,
				&fs.PathError{Op: "mkdir", Path: dir, Err: err})
		}
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", c.path, &fs.PathError{Op: "mkdir", Path: dir, Err: err})
		}
		c.made = append(c.made, dir)
		// A parent made just now has clone_children set: the kernel has
		// copied its cpus and mems into dir. Values the spec gives are
		// written later.
		if cpuset && !parentMade && !(res != nil && res.CPU != nil && res.CPU.Cpus != "" && res.CPU.Mems != "") {
			if err := c.fillCpuset(dir, h.Mount); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirParents makes the parent directory dir of a cgroup, and its own
// parents, below the hierarchy's mount point; one that exists (made by a
// concurrent Create, say) is fine. In the cpuset hierarchy each directory
// made is set up for its children (setupCpusetParent).
func (c *creation) mkdirParents(dir, mount string, cpuset bool) error {
	if len(dir) <= len(mount) {
		return fmt.Errorf("create cgroup %s: the hierarchy's mount point is gone: %w", c.path,
			&fs.PathError{Op: "mkdir", Path: dir, Err: unix.ENOENT})
	}
	err := cgroupfs.Mkdir(dir)
	if err == unix.ENOENT {
		if err = c.mkdirParents(cgroupfs.ParentDir(dir), mount, cpuset); err != nil {
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
	if cpuset {
		return c.setupCpusetParent(dir, mount)
	}
	return nil
}

// setupCpusetParent gives a cpuset directory made by Create its parent's
// cpus and mems, then sets its cgroup.clone_children so that the kernel
// copies them into every cgroup made below it, at mkdir: containers
// created there later need neither a read nor a write for their cpuset.
func (c *creation) setupCpusetParent(dir, mount string) error {
	if err := c.copyCpuset(dir, mount); err != nil {
		return err
	}
	return set(dir, "cgroup.clone_children", "cpuset of a new parent cgroup", []byte{'1'})
}

// fillCpuset copies cpus and mems into the new cpuset cgroup dir when the
// kernel did not (its parent has no clone_children, or a sibling is
// exclusive): with no cpus or mems no task could join it.
func (c *creation) fillCpuset(dir, mount string) error {
	var b [64]byte
	n, err := cgroupfs.Read(dir+"/cpuset.cpus", b[:])
	if err != nil {
		return fmt.Errorf("cpuset of the new cgroup: %w", err)
	}
	if len(bytes.TrimSpace(b[:n])) > 0 {
		return nil
	}
	return c.copyCpuset(dir, mount)
}

// copyCpuset writes into dir the cpus and mems of its nearest ancestor that
// has cpus.
func (c *creation) copyCpuset(dir, mount string) error {
	const field = "cpuset inherited from the parent cgroup"
	from := dir
	for {
		if len(from) <= len(mount) {
			return fmt.Errorf("%s: no cgroup above %s has any cpuset.cpus to inherit", field, dir)
		}
		from = cgroupfs.ParentDir(from)
		cpus, err := os.ReadFile(from + "/cpuset.cpus")
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		if len(bytes.TrimSpace(cpus)) == 0 {
			continue
		}
		mems, err := os.ReadFile(from + "/cpuset.mems")
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		if err := set(dir, "cpuset.cpus", field, cpus); err != nil {
			return err
		}
		return set(dir, "cpuset.mems", field, mems)
	}
}

// undo removes the directories this call made, each before its parent. A
// parent that a concurrent Create has put a cgroup in stays.
func (c *creation) undo() {
	for i := len(c.made) - 1; i >= 0; i-- {
		unix.Rmdir(c.made[i])
	}
}

// dir is the cgroup's directory in the hierarchy of controller; field is
// the spec field that needs it, for the error when no hierarchy has it.
func (c *creation) dir(controller, field string) (string, error) {
	for i, h := range c.hs {
		if h.has(controller) {
			return c.dirs[i], nil
		}
	}
	return "", fmt.Errorf("%s: needs the %s controller, which no cgroup v1 hierarchy on this host has: %w",
		field, controller, errdefs.ErrFailedPrecondition)
}

// set writes val to the file name of the cgroup in controller's hierarchy.
func (c *creation) set(controller, name, field string, val []byte) error {
	dir, err := c.dir(controller, field)
	if err != nil {
		return err
	}
	return set(dir, name, field, val)
}

// setOptional is set for a file some kernels lack: when it is missing
// nothing is written and ok is false.
func (c *creation) setOptional(controller, name, field string, val []byte) (ok bool, err error) {
	dir, err := c.dir(controller, field)
	if err != nil {
		return false, err
	}
	file := dir + "/" + name
	fd, err := cgroupfs.Open(file)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, cgroupfs.FileError(field, file, err)
	}
	err = cgroupfs.Write(fd, val)
	unix.Close(fd)
	if err != nil {
		return false, cgroupfs.FileError(field, file, err)
	}
	return true, nil
}

// setInt writes a decimal integer with set.
func (c *creation) setInt(controller, name, field string, v int64) error {
	return c.set(controller, name, field, appendInt(c.buf[:0], v))
}

// setUint writes a decimal unsigned integer with set.
func (c *creation) setUint(controller, name, field string, v uint64) error {
	return c.set(controller, name, field, appendUint(c.buf[:0], v))
}

// rules writes the rules 0…n-1 to the file of the cgroup in controller's
// hierarchy, each with its own write(2) since the kernel takes one rule
// per write, through one open made at the first rule. The file is the
// first of names that exists. rule formats rule i into b, or returns nil
// when there is nothing to write for it; field(i) is the spec field of
// rule i, for errors.
func (c *creation) rules(controller string, names []string, n int, field func(i int) string, rule func(b []byte, i int) ([]byte, error)) error {
	fd, file := -1, ""
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for i := range n {
		b, err := rule(c.buf[:0], i)
		if err != nil {
			return fmt.Errorf("%s: %w", field(i), err)
		}
		if b == nil {
			continue
		}
		if fd < 0 {
			dir, err := c.dir(controller, field(i))
			if err != nil {
				return err
			}
			for _, name := range names {
				file = dir + "/" + name
				if fd, err = cgroupfs.Open(file); err != unix.ENOENT {
					break
				}
			}
			if err != nil {
				return cgroupfs.FileError(field(i), file, err)
			}
		}
		if err := cgroupfs.Write(fd, b); err != nil {
			return cgroupfs.FileError(fmt.Sprintf("%s (%q)", field(i), b), file, err)
		}
	}
	return nil
}

// indexed names the elements of a spec list: base[i] and then suffix.
func indexed(base, suffix string) func(i int) string {
	return func(i int) string { return base + "[" + strconv.Itoa(i) + "]" + suffix }
}

// set writes val to the file name in dir: one open, one write.
func set(dir, name, field string, val []byte) error {
	file := dir + "/" + name
	fd, err := cgroupfs.Open(file)
	if err != nil {
		return cgroupfs.FileError(field, file, err)
	}
	err = cgroupfs.Write(fd, val)
	unix.Close(fd)
	if err != nil {
		return cgroupfs.FileError(field, file, err)
	}
	return nil
}
