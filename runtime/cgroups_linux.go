package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/cgroupv1"
	"github.com/tabula-dev/tabula/internal/cgroupv2"
	"github.com/tabula-dev/tabula/internal/sysfile"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroupPath is the container's cgroup below each hierarchy's root:
// the spec's cgroupsPath, or /tabula/<id>.
func cgroupPath(spec *specs.Spec, id string) string {
	if spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		p := spec.Linux.CgroupsPath
		if !filepath.IsAbs(p) {
			p = "/tabula/" + p
		}
		return filepath.Clean(p)
	}
	return "/tabula/" + id
}

// containerCgroup is a container's cgroup on a v1 (or hybrid) host or on a
// v2 host.
type containerCgroup struct {
	path string
	v1   []cgroupv1.Hierarchy // those it is in (cgroupv1.Needed), on a v1 host
	v2   bool
	dir  *os.File // v2: the cgroup directory, for CLONE_INTO_CGROUP
}

// unifiedHost reports whether the host runs cgroup v2 alone; hybrid hosts
// (v1 controllers plus an empty unified hierarchy) are driven through v1,
// where the controllers live.
var unifiedHost = sync.OnceValue(cgroupv2.Unified)

// newCgroup creates the cgroup at path with the spec's resource limits, so
// that they hold from the container process's first instruction.
func newCgroup(path string, res *specs.LinuxResources) (*containerCgroup, error) {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if res.Memory != nil && res.Memory.Limit != nil && *res.Memory.Limit > 0 && *res.Memory.Limit < minMemory {
		return nil, fmt.Errorf("memory limit %d bytes is below the minimum of %d bytes (6 MiB): %w", *res.Memory.Limit, minMemory, errdefs.ErrInvalidArgument)
	}
	c := &containerCgroup{path: path}
	r := *res
	r.Pids = nil // see setPidsLimit
	if res.Pids != nil && res.Pids.Limit != nil {
		// No limit yet, but the pids controller is made sure of (on v2,
		// enabled for the cgroup), so that pids.max exists.
		var zero int64
		r.Pids = &specs.LinuxPids{Limit: &zero}
	}
	// The devices every container gets stay allowed whatever the spec's
	// rules deny, as runc does.
	r.Devices = append(append([]specs.LinuxDeviceCgroup(nil), res.Devices...), DefaultDeviceRules()[1:]...)
	res = &r
	if unifiedHost() {
		if err := cgroupv2.Create(cgroupRoot, path, res); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
		c.v2 = true
		d, err := os.Open(cgroupv2.Dir(cgroupRoot, path))
		if err != nil {
			cgroupv2.Remove(cgroupRoot, path)
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
		c.dir = d
		return c, nil
	}
	hs, err := hostHierarchies()
	if err != nil {
		return nil, err
	}
	hs = cgroupv1.Needed(hs, res)
	if err := cgroupv1.Create(hs, path, res); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	c.v1 = hs
	return c, nil
}

// setPidsLimit writes pids.max. The limit is applied once the init has set
// the container up and before the program starts: the init is a Go program
// whose runtime needs a handful of threads, which a small limit would deny.
func (c *containerCgroup) setPidsLimit(p *specs.LinuxPids) error {
	if p == nil || p.Limit == nil {
		return nil
	}
	v := "max"
	if *p.Limit > 0 {
		v = strconv.FormatInt(*p.Limit, 10)
	}
	if err := sysfile.WriteFile(c.file("pids", "pids.max"), []byte(v), 0); err != nil {
		return fmt.Errorf("set the pids limit: %w", err)
	}
	return nil
}

// minMemory is the smallest memory limit a container may have, as Docker.
const minMemory = 6 * 1024 * 1024

// hostHierarchies are the host's v1 controller hierarchies (named ones
// such as systemd's, which only track, left out), found once per process:
// creation and removal both need them.
var hostHierarchies = sync.OnceValues(cgroupv1.Hierarchies)

// loadCgroup finds the existing cgroup at path.
func loadCgroup(path string) (*containerCgroup, error) {
	c := &containerCgroup{path: path}
	if unifiedHost() {
		if _, err := os.Lstat(cgroupv2.Dir(cgroupRoot, path)); err != nil {
			return nil, err
		}
		c.v2 = true
		return c, nil
	}
	hs, err := joinedHierarchies(path)
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("no cgroup v1 hierarchy has it: %w", fs.ErrNotExist)
	}
	c.v1 = hs
	return c, nil
}

// joinedHierarchies are the host's v1 hierarchies that have cgroup path:
// the ones its container joined.
func joinedHierarchies(path string) ([]cgroupv1.Hierarchy, error) {
	hs, err := hostHierarchies()
	if err != nil {
		return nil, err
	}
	var in []cgroupv1.Hierarchy
	for _, h := range hs {
		if _, err := os.Lstat(h.Dir(path)); err == nil {
			in = append(in, h)
		}
	}
	return in, nil
}

// mounts are the mount points of the v1 hierarchies the cgroup is in,
// the ones the container sees (mountCgroupfs).
func (c *containerCgroup) mounts() []string {
	var ms []string
	for _, h := range c.v1 {
		ms = append(ms, h.Mount)
	}
	return ms
}

// openDir opens the v2 cgroup directory for CLONE_INTO_CGROUP.
func (c *containerCgroup) openDir() (*os.File, error) {
	if c.dir != nil {
		return c.dir, nil
	}
	d, err := os.Open(filepath.Join(cgroupRoot, c.path))
	if err != nil {
		return nil, err
	}
	c.dir = d
	return d, nil
}

// enterThread moves the calling OS thread into the v1 cgroup, so that a
// process it forks is born there (v1 has no CLONE_INTO_CGROUP) and the
// limits hold from the container process's first instruction. The thread
// writes "0" (itself) to each hierarchy's tasks file: a thread moving
// itself spares the kernel the process-wide lock, and its RCU grace
// period, that moving another task costs. The returned function moves
// the thread back once the fork is done, so that tabula itself never
// counts as one of the container's processes.
func (c *containerCgroup) enterThread() (leave func(), err error) {
	if c.v1 == nil {
		return func() {}, nil
	}
	orig, err := cgroupv1.ParseCgroupFile(fmt.Sprintf("/proc/self/task/%d/cgroup", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	var back []int
	leave = func() {
		for _, fd := range back {
			unix.Write(fd, []byte("0"))
			unix.Close(fd)
		}
	}
	for _, h := range c.v1 {
		p, ok := orig[h.Controllers[0]]
		if !ok {
			continue
		}
		fd, err := unix.Open(filepath.Join(h.Dir(p), "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			leave()
			return nil, err
		}
		back = append(back, fd)
		tasks := filepath.Join(h.Dir(c.path), "tasks")
		in, err := unix.Open(tasks, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			leave()
			return nil, err
		}
		_, err = unix.Write(in, []byte("0"))
		unix.Close(in)
		if err != nil {
			leave()
			return nil, fmt.Errorf("%s: %w", tasks, err)
		}
	}
	return leave, nil
}

// taskFiles are the tasks files of the v1 cgroup in each of its
// hierarchies.
func (c *containerCgroup) taskFiles() []string {
	if c.v1 == nil {
		return nil
	}
	return cgroupv1.Tasks(c.v1, c.path)
}

// file is the path of the cgroup's file name, of controller on v1.
func (c *containerCgroup) file(controller, name string) string {
	for _, h := range c.v1 {
		if slices.Contains(h.Controllers, controller) {
			return filepath.Join(h.Dir(c.path), name)
		}
	}
	return filepath.Join(cgroupRoot, c.path, name)
}

// oomKills counts the processes the kernel's OOM killer killed in the
// cgroup.
func (c *containerCgroup) oomKills() int {
	file := c.file("memory", "memory.oom_control")
	if c.v2 {
		file = c.file("memory", "memory.events")
	}
	b, err := sysfile.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// delete removes the cgroup; its processes must be gone.
func (c *containerCgroup) delete() error {
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
	return removeCgroup(c.path)
}

// cgroupDirs are the directories of cgroup path: in every v1 hierarchy
// its container joined, or in the unified one.
func cgroupDirs(path string) ([]string, error) {
	if unifiedHost() {
		return []string{filepath.Join(cgroupRoot, path)}, nil
	}
	hs, err := joinedHierarchies(path)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(hs))
	for _, h := range hs {
		dirs = append(dirs, h.Dir(path))
	}
	return dirs, nil
}

// cgroupPids lists the processes in the cgroup whose directories in every
// hierarchy are dirs, tabula itself excepted.
func cgroupPids(dirs []string) []int {
	self := os.Getpid()
	return cgroupIDs(dirs, "cgroup.procs", func(pid int) bool { return pid != self })
}

// cgroupIDs lists, each once, the IDs in file (cgroup.procs, tasks) of the
// cgroup whose directories are dirs that keep accepts.
func cgroupIDs(dirs []string, file string, keep func(id int) bool) []int {
	seen := map[int]bool{}
	var ids []int
	for _, d := range dirs {
		b, err := sysfile.ReadFile(filepath.Join(d, file))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if id, err := strconv.Atoi(f); err == nil && !seen[id] {
				seen[id] = true
				if keep(id) {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

// signalCgroup sends sig to every process of cgroup path and returns how
// many it reached.
func signalCgroup(path string, sig unix.Signal) (int, error) {
	dirs, err := cgroupDirs(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pid := range cgroupPids(dirs) {
		err := unix.Kill(pid, sig)
		if err == nil {
			n++
		} else if !errors.Is(err, unix.ESRCH) {
			return n, err
		}
	}
	return n, nil
}

// killCgroup kills every process left in the cgroup whose directories are
// dirs and waits until they have exited, and until every thread of this
// process in it has ended: the thread that spawned the container's
// program, on its way out once the program is let go or dies.
func killCgroup(ctx context.Context, dirs []string) {
	var pidfds []int
	for _, pid := range cgroupPids(dirs) {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		pidfds = append(pidfds, fd)
	}
	for _, fd := range pidfds {
		waitExit(ctx, fd)
		unix.Close(fd)
	}
	for _, tid := range ownThreads(dirs) {
		waitThreadExit(tid)
	}
}

// ownThreads lists the threads of this process in the v1 cgroup whose
// directories are dirs.
func ownThreads(dirs []string) []int {
	return cgroupIDs(dirs, "tasks", func(tid int) bool {
		_, err := os.Lstat("/proc/self/task/" + strconv.Itoa(tid))
		return err == nil
	})
}

// removeCgroup removes cgroup path (and any cgroup made below it) from
// every hierarchy; one already gone is fine, so that a removal cut short
// can be completed later.
func removeCgroup(path string) error {
	dirs, err := cgroupDirs(path)
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	return removeCgroupDirs(path, dirs)
}

// removeCgroupDirs removes cgroup path, whose directories are dirs. A
// directory is read for cgroups made below it only when it cannot be
// removed at once.
func removeCgroupDirs(path string, dirs []string) error {
	var failed []string
	for _, d := range dirs {
		err := unix.Rmdir(d)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		var sub []string
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		for i := len(sub) - 1; i >= 0; i-- {
			if err := unix.Rmdir(sub[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				failed = append(failed, fmt.Sprintf("%s (%v)", sub[i], err))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("remove cgroup %s: %s", path, strings.Join(failed, ", "))
	}
	return nil
}
