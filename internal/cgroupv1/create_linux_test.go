package cgroupv1

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

// hostHierarchies is the host's v1 hierarchies; the test needs root and
// a v1 host.
func hostHierarchies(t testing.TB) []Hierarchy {
	t.Helper()
	testenv.RequireRoot(t)
	hs, err := Hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, len(hs) > 0, "no cgroup v1 hierarchy is mounted")
	return hs
}

// roots numbers the test parents of one test process.
var roots atomic.Int64

// testRoot is a cgroup path of the test's own, not yet made; everything
// below it is removed from every hierarchy when the test ends.
func testRoot(t testing.TB, hs []Hierarchy) string {
	root := fmt.Sprintf("/tabula-cgv1-test-%d-%d", os.Getpid(), roots.Add(1))
	t.Cleanup(func() {
		for _, h := range hs {
			if err := removeTree(h.Dir(root)); err != nil {
				t.Errorf("clean up: %v", err)
			}
		}
	})
	return root
}

// removeTree removes a cgroup directory and the cgroups below it.
func removeTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil {
			return fmt.Errorf("rmdir %s: %w", dirs[i], err)
		}
	}
	return nil
}

// hierarchyOf is the hierarchy of controller; the test needs it.
func hierarchyOf(t testing.TB, hs []Hierarchy, controller string) Hierarchy {
	t.Helper()
	for _, h := range hs {
		if h.has(controller) {
			return h
		}
	}
	testenv.Require(t, false, "the %s controller is not mounted", controller)
	return Hierarchy{}
}

// mounted reports whether a hierarchy has controller.
func mounted(hs []Hierarchy, controller string) bool {
	return slices.ContainsFunc(hs, func(h Hierarchy) bool { return h.has(controller) })
}

// read is the trimmed content of a cgroup file.
func read(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// exists reports whether a file or directory exists.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// i64 points to v, for spec fields.
func i64(v int64) *int64 { return &v }

// u64 points to v, for spec fields.
func u64(v uint64) *uint64 { return &v }

// u16 points to v, for spec fields.
func u16(v uint16) *uint16 { return &v }

// u32 points to v, for spec fields.
func u32(v uint32) *uint32 { return &v }

// boolp points to v, for spec fields.
func boolp(v bool) *bool { return &v }

// TestHierarchiesOnHost finds the controllers every v1 host has, each once, and no named hierarchy.
func TestHierarchiesOnHost(t *testing.T) {
	hs := hostHierarchies(t)
	seen := map[string]bool{}
	for _, h := range hs {
		if len(h.Controllers) == 0 {
			t.Errorf("hierarchy at %s has no controllers", h.Mount)
		}
		for _, c := range h.Controllers {
			if strings.HasPrefix(c, "name=") {
				t.Errorf("named hierarchy %s listed at %s", c, h.Mount)
			}
			if seen[c] {
				t.Errorf("controller %s listed twice", c)
			}
			seen[c] = true
		}
		if !exists(filepath.Join(h.Mount, "tasks")) {
			t.Errorf("%s has no tasks file", h.Mount)
		}
	}
	for _, c := range []string{"cpu", "memory", "devices", "pids", "cpuset"} {
		if !seen[c] {
			t.Errorf("controller %s not found in %v", c, hs)
		}
	}
}

// TestCreateMakesEveryHierarchy makes the cgroup, and its missing parents, in every hierarchy.
func TestCreateMakesEveryHierarchy(t *testing.T) {
	hs := hostHierarchies(t)
	root := testRoot(t, hs)
	p := root + "/a/b"
	if err := Create(hs, p, nil); err != nil {
		t.Fatal(err)
	}
	for i, f := range Tasks(hs, p) {
		if !exists(f) {
			t.Errorf("%s: no tasks file %s", hs[i].Mount, f)
		}
	}
	// A second cgroup in the same parent.
	if err := Create(hs, root+"/a/c", &specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if !exists(h.Dir(root + "/a/c")) {
			t.Errorf("%s missing", h.Dir(root+"/a/c"))
		}
	}
}

// TestCreateMemory reads the memory limits back.
func TestCreateMemory(t *testing.T) {
	hs := hostHierarchies(t)
	mem := hierarchyOf(t, hs, "memory")
	p := testRoot(t, hs) + "/c"
	err := Create(hs, p, &specs.LinuxResources{Memory: &specs.LinuxMemory{
		Limit:            i64(64 << 20),
		Swap:             i64(128 << 20),
		Reservation:      i64(32 << 20),
		Swappiness:       u64(10),
		DisableOOMKiller: boolp(true),
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := mem.Dir(p)
	for file, want := range map[string]string{
		"memory.limit_in_bytes":      fmt.Sprint(64 << 20),
		"memory.soft_limit_in_bytes": fmt.Sprint(32 << 20),
		"memory.swappiness":          "10",
	} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
		if got := read(t, filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != fmt.Sprint(128<<20) {
			t.Errorf("memory.memsw.limit_in_bytes = %q, want %d", got, 128<<20)
		}
	}
	if got := read(t, filepath.Join(dir, "memory.oom_control")); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control = %q, want oom_kill_disable 1", got)
	}
}

// TestCreateCPU reads the CFS limits and shares back.
func TestCreateCPU(t *testing.T) {
	hs := hostHierarchies(t)
	cpu := hierarchyOf(t, hs, "cpu")
	p := testRoot(t, hs) + "/c"
	res := &specs.LinuxCPU{Shares: u64(512), Period: u64(50000), Quota: i64(25000)}
	burst := exists(filepath.Join(cpu.Mount, "cpu.cfs_burst_us")) // Linux 5.14 and later
	if burst {
		res.Burst = u64(1000)
	}
	if err := Create(hs, p, &specs.LinuxResources{CPU: res}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu.shares": "512", "cpu.cfs_period_us": "50000", "cpu.cfs_quota_us": "25000"}
	if burst {
		want["cpu.cfs_burst_us"] = "1000"
	}
	for file, want := range want {
		if got := read(t, filepath.Join(cpu.Dir(p), file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// TestCreateCpuset checks that every new cgroup has cpus and mems, whoever made its parent.
func TestCreateCpuset(t *testing.T) {
	hs := hostHierarchies(t)
	cs := hierarchyOf(t, hs, "cpuset")
	rootCpus := read(t, filepath.Join(cs.Mount, "cpuset.cpus"))
	rootMems := read(t, filepath.Join(cs.Mount, "cpuset.mems"))
	checkCpuset := func(t *testing.T, p, cpus, mems string) {
		t.Helper()
		if got := read(t, filepath.Join(cs.Dir(p), "cpuset.cpus")); got != cpus {
			t.Errorf("%s cpuset.cpus = %q, want %q", p, got, cpus)
		}
		if got := read(t, filepath.Join(cs.Dir(p), "cpuset.mems")); got != mems {
			t.Errorf("%s cpuset.mems = %q, want %q", p, got, mems)
		}
	}

	t.Run("fresh parent", func(t *testing.T) {
		root := testRoot(t, hs)
		if err := Create(hs, root+"/p/one", nil); err != nil {
			t.Fatal(err)
		}
		checkCpuset(t, root, rootCpus, rootMems)
		checkCpuset(t, root+"/p", rootCpus, rootMems)
		checkCpuset(t, root+"/p/one", rootCpus, rootMems)
		for _, p := range []string{root, root + "/p"} {
			if got := read(t, filepath.Join(cs.Dir(p), "cgroup.clone_children")); got != "1" {
				t.Errorf("%s cgroup.clone_children = %q, want 1", p, got)
			}
		}
		// The parent exists now: the kernel fills the next one in.
		if err := Create(hs, root+"/p/two", nil); err != nil {
			t.Fatal(err)
		}
		checkCpuset(t, root+"/p/two", rootCpus, rootMems)
	})

	t.Run("parent without clone_children", func(t *testing.T) {
		root := testRoot(t, hs)
		dir := cs.Dir(root)
		if err := unix.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for file, v := range map[string]string{"cpuset.cpus": rootCpus, "cpuset.mems": rootMems, "cgroup.clone_children": "0"} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := Create(hs, root+"/one", nil); err != nil {
			t.Fatal(err)
		}
		checkCpuset(t, root+"/one", rootCpus, rootMems)
		if got := read(t, filepath.Join(dir, "cgroup.clone_children")); got != "0" {
			t.Errorf("Create changed cgroup.clone_children of a parent it did not make to %q", got)
		}
	})

	t.Run("spec cpus and mems", func(t *testing.T) {
		root := testRoot(t, hs)
		if err := Create(hs, root+"/one", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}}); err != nil {
			t.Fatal(err)
		}
		checkCpuset(t, root+"/one", "0", "0")
		if err := Create(hs, root+"/two", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}); err != nil {
			t.Fatal(err)
		}
		checkCpuset(t, root+"/two", "0", rootMems)
	})
}

// TestCreatePids reads pids.max back, "max" for no limit.
func TestCreatePids(t *testing.T) {
	hs := hostHierarchies(t)
	pids := hierarchyOf(t, hs, "pids")
	root := testRoot(t, hs)
	for _, tc := range []struct {
		limit int64
		want  string
	}{{42, "42"}, {0, "max"}, {-1, "max"}} {
		p := fmt.Sprintf("%s/%d", root, tc.limit+1)
		if err := Create(hs, p, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(tc.limit)}}); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(pids.Dir(p), "pids.max")); got != tc.want {
			t.Errorf("limit %d: pids.max = %q, want %q", tc.limit, got, tc.want)
		}
	}
}

// dockerRules are Docker's default device rules for a container: deny
// everything, then allow the usual character devices.
func dockerRules() []specs.LinuxDeviceCgroup {
	rule := func(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
	}
	return []specs.LinuxDeviceCgroup{
		rule(false, "", nil, nil, "rwm"),
		rule(true, "c", nil, nil, "m"),
		rule(true, "b", nil, nil, "m"),
		rule(true, "c", i64(1), i64(3), "rwm"),
		rule(true, "c", i64(1), i64(5), "rwm"),
		rule(true, "c", i64(1), i64(7), "rwm"),
		rule(true, "c", i64(1), i64(8), "rwm"),
		rule(true, "c", i64(1), i64(9), "rwm"),
		rule(true, "c", i64(5), i64(0), "rwm"),
		rule(true, "c", i64(5), i64(1), "rwm"),
		rule(true, "c", i64(5), i64(2), "rwm"),
		rule(true, "c", i64(136), nil, "rwm"),
		rule(true, "c", i64(10), i64(200), "rwm"),
		rule(false, "c", i64(10), i64(229), "rwm"),
	}
}

// TestCreateDevices reads the device rules back from devices.list, in order.
func TestCreateDevices(t *testing.T) {
	hs := hostHierarchies(t)
	devs := hierarchyOf(t, hs, "devices")
	root := testRoot(t, hs)
	for i, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{
			name: "docker-like",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false, Type: "a"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(5), Access: "rwm"},
				{Allow: true, Type: "c", Access: "m"},
				{Allow: true, Type: "b", Major: i64(-1), Minor: i64(-1), Access: "m"},
			},
			want: "c 1:3 rwm\nc 5:* rwm\nc *:* m\nb *:* m",
		},
		{
			name: "empty type and access",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false},
				{Allow: true, Major: i64(1), Minor: i64(3), Access: "r"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(5)},
			},
			want: "c 1:3 r\nb 1:3 r\nc 1:5 rwm",
		},
		{
			name: "deny after allow",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
				{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "w"},
			},
			want: "c 1:3 rm",
		},
		{name: "no rules", want: "a *:* rwm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fmt.Sprintf("%s/%d", root, i)
			if err := Create(hs, p, &specs.LinuxResources{Devices: tc.rules}); err != nil {
				t.Fatal(err)
			}
			if got := read(t, filepath.Join(devs.Dir(p), "devices.list")); got != tc.want {
				t.Errorf("devices.list:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestCreateBlockIO reads the blkio weight and throttles back.
func TestCreateBlockIO(t *testing.T) {
	hs := hostHierarchies(t)
	blkio := hierarchyOf(t, hs, "blkio")
	dev := firstDisk(t)
	p := testRoot(t, hs) + "/c"
	err := Create(hs, p, &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		Weight: u16(500),
		ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{
			LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: dev[0], Minor: dev[1]}, Rate: 1 << 20,
		}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{
			LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: dev[0], Minor: dev[1]}, Rate: 300,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	weight := filepath.Join(blkio.Dir(p), "blkio.weight")
	if !exists(weight) {
		weight = filepath.Join(blkio.Dir(p), "blkio.bfq.weight")
	}
	if got := read(t, weight); !strings.HasSuffix(got, "500") {
		t.Errorf("%s = %q, want 500", weight, got)
	}
	for file, want := range map[string]string{
		"blkio.throttle.read_bps_device":   fmt.Sprintf("%d:%d %d", dev[0], dev[1], 1<<20),
		"blkio.throttle.write_iops_device": fmt.Sprintf("%d:%d 300", dev[0], dev[1]),
	} {
		if got := read(t, filepath.Join(blkio.Dir(p), file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// firstDisk is the major and minor number of a whole disk of the host.
func firstDisk(t *testing.T) [2]int64 {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", name, "dev"))
		if err != nil {
			continue
		}
		var d [2]int64
		if _, err := fmt.Sscanf(string(b), "%d:%d", &d[0], &d[1]); err == nil {
			return d
		}
	}
	testenv.Require(t, false, "no disk in /sys/block")
	return [2]int64{}
}

// TestCreateExisting refuses a cgroup that exists and leaves its limits alone.
func TestCreateExisting(t *testing.T) {
	hs := hostHierarchies(t)
	mem := hierarchyOf(t, hs, "memory")
	root := testRoot(t, hs)
	p := root + "/c"
	if err := Create(hs, p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}); err != nil {
		t.Fatal(err)
	}
	err := Create(hs, p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 << 20)}, Pids: &specs.LinuxPids{Limit: i64(5)}})
	if !errors.Is(err, fs.ErrExist) || !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second Create: %v, want fs.ErrExist and errdefs.ErrAlreadyExists", err)
	}
	t.Log(err)
	if got := read(t, filepath.Join(mem.Dir(p), "memory.limit_in_bytes")); got != fmt.Sprint(64<<20) {
		t.Errorf("the existing cgroup's memory limit became %s", got)
	}
	for _, h := range hs {
		if !exists(h.Dir(p)) {
			t.Errorf("the failed Create removed %s", h.Dir(p))
		}
	}

	// A cgroup left in the last hierarchy alone: taken too, and what the
	// call made in the others is gone again.
	last := hs[len(hs)-1]
	q := root + "/left"
	if err := unix.Mkdir(last.Dir(q), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Create(hs, q, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a leftover: %v, want fs.ErrExist", err)
	}
	for _, h := range hs[:len(hs)-1] {
		if exists(h.Dir(q)) {
			t.Errorf("%s left behind", h.Dir(q))
		}
	}
	if !exists(last.Dir(q)) {
		t.Errorf("the failed Create removed %s, which it did not make", last.Dir(q))
	}
}

// TestCreateErrors checks that a refused value names its field and file, and that Create removes all it made.
func TestCreateErrors(t *testing.T) {
	hs := hostHierarchies(t)
	without := func(controller string) []Hierarchy {
		return slices.DeleteFunc(slices.Clone(hs), func(h Hierarchy) bool { return h.has(controller) })
	}
	for _, tc := range []struct {
		name string
		hs   []Hierarchy
		res  *specs.LinuxResources
		want string // the start of the error
		is   error
		// The file the error names, in the hierarchy of controller.
		controller, file string
	}{
		{
			name:       "cpus beyond the host",
			res:        &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "99999"}},
			want:       "linux.resources.cpu.cpus: ",
			controller: "cpuset", file: "cpuset.cpus", // ERANGE or EINVAL, by kernel
		},
		{
			name:       "quota below the kernel's minimum",
			res:        &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(1)}},
			want:       "linux.resources.cpu.quota: ",
			controller: "cpu", file: "cpu.cfs_quota_us",
			is: unix.EINVAL,
		},
		{
			name: "device type",
			res:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "x"}}},
			want: "linux.resources.devices[1]: type \"x\"",
			is:   errdefs.ErrInvalidArgument,
		},
		{
			name: "memory not mounted",
			hs:   without("memory"),
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
			want: "linux.resources.memory.limit: needs the memory controller",
			is:   errdefs.ErrFailedPrecondition,
		},
		{
			name: "page size",
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB", Limit: 1 << 21}}},
			want: "linux.resources.hugepageLimits[0]: page size",
			is:   errdefs.ErrInvalidArgument,
		},
		{
			name: "hugetlb not mounted",
			hs:   without("hugetlb"),
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}},
			want: "linux.resources.hugepageLimits[0]: needs the hugetlb controller",
			is:   errdefs.ErrFailedPrecondition,
		},
		{
			name: "net_cls not mounted",
			hs:   without("net_cls"),
			res:  &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}},
			want: "linux.resources.network.classID: needs the net_cls controller",
			is:   errdefs.ErrFailedPrecondition,
		},
		{
			name: "unified",
			res:  &specs.LinuxResources{Unified: map[string]string{"memory.max": "max"}},
			want: "linux.resources.unified: needs cgroup v2",
			is:   errdefs.ErrFailedPrecondition,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := hs
			if tc.hs != nil {
				hs = tc.hs
			}
			root := testRoot(t, hs)
			p := root + "/parent/c"
			err := Create(hs, p, tc.res)
			if err == nil {
				t.Fatal("Create succeeded")
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q does not start with %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if tc.file != "" {
				file := filepath.Join(hierarchyOf(t, hs, tc.controller).Dir(p), tc.file)
				if !strings.Contains(err.Error(), ": "+file+": ") {
					t.Errorf("error %q does not name %s", err, file)
				}
			}
			for _, h := range hs {
				if exists(h.Dir(root)) {
					t.Errorf("%s left behind", h.Dir(root))
				}
			}
		})
	}
}

// A swap limit below the memory limit is refused where the kernel accounts
// swap (memory.memsw.*), naming the field and the file; where it does not,
// the swap limit is left out and the memory limit holds.
func TestCreateSwapBelowLimit(t *testing.T) {
	hs := hostHierarchies(t)
	mem := hierarchyOf(t, hs, "memory")
	root := testRoot(t, hs)
	p := root + "/c"
	err := Create(hs, p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}})
	if !exists(filepath.Join(mem.Mount, "memory.memsw.limit_in_bytes")) {
		if err != nil {
			t.Fatalf("without swap accounting: %v; want the swap limit left out", err)
		}
		if got := read(t, filepath.Join(mem.Dir(p), "memory.limit_in_bytes")); got != fmt.Sprint(64<<20) {
			t.Errorf("memory.limit_in_bytes = %q", got)
		}
		return
	}
	file := filepath.Join(mem.Dir(p), "memory.memsw.limit_in_bytes")
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.memory.swap: ") || !strings.Contains(err.Error(), file) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("swap below the limit: %v; want EINVAL naming the field and %s", err, file)
	}
	for _, h := range hs {
		if exists(h.Dir(root) + "/c") {
			t.Errorf("%s left behind", h.Dir(root)+"/c")
		}
	}
}

// TestTasksMoveThread moves a thread into the cgroup through Tasks, the
// way the runtime forks a container's first process inside it, and back.
func TestTasksMoveThread(t *testing.T) {
	hs := hostHierarchies(t)
	p := testRoot(t, hs) + "/c"
	if err := Create(hs, p, &specs.LinuxResources{Devices: dockerRules()}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread leaves the cgroup before it serves any other
		// goroutine; if it cannot, it ends with this goroutine, locked.
		runtime.LockOSThread()
		err := moveInAndBack(hs, p)
		if err == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// moveInAndBack moves the calling thread into cgroup p and back, checking
// /proc/thread-self/cgroup after each move.
func moveInAndBack(hs []Hierarchy, p string) error {
	orig, err := ParseCgroupFile("/proc/thread-self/cgroup")
	if err != nil {
		return err
	}
	writeZero := func(file string) error {
		fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", file, err)
		}
		defer unix.Close(fd)
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fmt.Errorf("write 0 to %s: %w", file, err)
		}
		return nil
	}
	var moveErr error
	for _, f := range Tasks(hs, p) {
		if moveErr = writeZero(f); moveErr != nil {
			break
		}
	}
	var inErr error
	if moveErr == nil {
		in, err := ParseCgroupFile("/proc/thread-self/cgroup")
		if err != nil {
			inErr = err
		}
		for _, h := range hs {
			for _, c := range h.Controllers {
				if in[c] != p {
					inErr = errors.Join(inErr, fmt.Errorf("after the move the thread is in %s:%s, want %s", c, in[c], p))
				}
			}
		}
	}
	for _, h := range hs {
		if err := writeZero(h.Dir(orig[h.Controllers[0]]) + "/tasks"); err != nil {
			return errors.Join(moveErr, inErr, err)
		}
	}
	back, err := ParseCgroupFile("/proc/thread-self/cgroup")
	if err == nil {
		for _, h := range hs {
			if c := h.Controllers[0]; back[c] != orig[c] {
				err = errors.Join(err, fmt.Errorf("moved back into %s:%s, want %s", c, back[c], orig[c]))
			}
		}
	}
	return errors.Join(moveErr, inErr, err)
}

// remove removes cgroup path from every hierarchy, as the runtime does
// once the container is gone.
func remove(hs []Hierarchy, path string) error {
	for _, h := range hs {
		if err := unix.Rmdir(h.Dir(path)); err != nil && err != unix.ENOENT {
			return fmt.Errorf("rmdir %s: %w", h.Dir(path), err)
		}
	}
	return nil
}

// benchCreate times create then remove of b.N cgroups below a parent
// made beforehand, as after a first container, and reports the create
// part alone as create-ns/op.
func benchCreate(b *testing.B, hs []Hierarchy, create func(path string) error) {
	root := testRoot(b, hs)
	if err := create(root + "/first"); err != nil {
		b.Fatal(err)
	}
	var inCreate time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := root + "/" + strconv.Itoa(i)
		t0 := time.Now()
		if err := create(p); err != nil {
			b.Fatal(err)
		}
		inCreate += time.Since(t0)
		if err := remove(hs, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(inCreate.Nanoseconds())/float64(b.N), "create-ns/op")
}

// BenchmarkCreate creates a cgroup with Docker's default device rules in
// every hierarchy, and removes it.
func BenchmarkCreate(b *testing.B) {
	hs := hostHierarchies(b)
	res := &specs.LinuxResources{Devices: dockerRules()}
	benchCreate(b, hs, func(p string) error { return Create(hs, p, res) })
}

// BenchmarkCreateNoLimits is BenchmarkCreate without device rules: the
// mkdirs and the cpuset check alone.
func BenchmarkCreateNoLimits(b *testing.B) {
	hs := hostHierarchies(b)
	benchCreate(b, hs, func(p string) error { return Create(hs, p, nil) })
}

// BenchmarkContainerdCreate does what BenchmarkCreate does with
// containerd's cgroup1.New, as the runtime did: every v1 subsystem but
// systemd's, swap optional.
func BenchmarkContainerdCreate(b *testing.B) {
	hs := hostHierarchies(b)
	subs, err := cgroup1.Default()
	if err != nil {
		b.Fatal(err)
	}
	out := subs[:0]
	for _, s := range subs {
		switch s.Name() {
		case "systemd":
		case cgroup1.Memory:
			out = append(out, cgroup1.NewMemory("/sys/fs/cgroup", cgroup1.OptionalSwap()))
		default:
			out = append(out, s)
		}
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) { return out, nil }
	res := &specs.LinuxResources{Devices: dockerRules()}
	benchCreate(b, hs, func(p string) error {
		_, err := cgroup1.New(cgroup1.StaticPath(p), res, cgroup1.WithHierarchy(hierarchy))
		return err
	})
}

// BenchmarkHierarchies finds the host's hierarchies, as a process does
// once.
func BenchmarkHierarchies(b *testing.B) {
	hostHierarchies(b)
	b.ReportAllocs()
	for range b.N {
		if _, err := Hierarchies(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCreateOptionalControllers covers the controllers hosts often leave
// unmounted (hugetlb, net_cls, net_prio): where they are mounted, their
// limits are read back; where not, Create refuses them, naming the field.
func TestCreateOptionalControllers(t *testing.T) {
	hs := hostHierarchies(t)
	t.Run("hugetlb", func(t *testing.T) {
		p := testRoot(t, hs) + "/c"
		if !mounted(hs, "hugetlb") {
			err := Create(hs, p, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}})
			if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.HasPrefix(err.Error(), "linux.resources.hugepageLimits[0]: ") {
				t.Errorf("hugetlb limits without the controller: %v", err)
			}
			return
		}
		if err := Create(hs, p, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}}); err != nil {
			t.Fatal(err)
		}
		dir := hierarchyOf(t, hs, "hugetlb").Dir(p)
		for _, file := range []string{"hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes"} {
			if file == "hugetlb.2MB.rsvd.limit_in_bytes" && !exists(filepath.Join(dir, file)) {
				continue
			}
			if got := read(t, filepath.Join(dir, file)); got != fmt.Sprint(4<<21) {
				t.Errorf("%s = %q, want %d", file, got, 4<<21)
			}
		}
		err := Create(hs, p+"x", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1}}})
		if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.hugepageLimits[0]: ") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("an unknown page size: %v", err)
		}
	})
	t.Run("network", func(t *testing.T) {
		p := testRoot(t, hs) + "/c"
		if !mounted(hs, "net_cls") || !mounted(hs, "net_prio") {
			err := Create(hs, p, &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}})
			if mounted(hs, "net_cls") == (err != nil) {
				t.Errorf("a class ID with net_cls mounted %v: %v", mounted(hs, "net_cls"), err)
			}
			err = Create(hs, p+"p", &specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 5}}}})
			if mounted(hs, "net_prio") == (err != nil) {
				t.Errorf("priorities with net_prio mounted %v: %v", mounted(hs, "net_prio"), err)
			}
			return
		}
		err := Create(hs, p, &specs.LinuxResources{Network: &specs.LinuxNetwork{
			ClassID:    u32(0x100001),
			Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 5}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(hierarchyOf(t, hs, "net_cls").Dir(p), "net_cls.classid")); got != fmt.Sprint(0x100001) {
			t.Errorf("net_cls.classid = %q", got)
		}
		if got := read(t, filepath.Join(hierarchyOf(t, hs, "net_prio").Dir(p), "net_prio.ifpriomap")); !strings.Contains(got, "lo 5") {
			t.Errorf("net_prio.ifpriomap = %q, want lo 5 in it", got)
		}
	})
}
