package cgroupv1

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/cgroupfs"
)

// procCgroups is a /proc/cgroups with controllers mounted and not.
const procCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	6	1
cpu	1	6	1
cpuacct	1	6	1
blkio	7	6	1
memory	4	40	1
devices	5	6	1
freezer	6	6	1
net_cls	8	2	1
perf_event	0	2	1
net_prio	8	2	1
hugetlb	0	2	1
pids	9	6	1
rdma	0	1	1
`

// mountinfoText has co-mounted controllers, a named hierarchy, the v2
// hierarchy, a hierarchy mounted twice, an escaped mount point and
// non-controller superblock options.
const mountinfoText = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 22 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:34 / /sys/fs/cgroup/my\040pids rw,relatime - cgroup cgroup rw,pids
43 1 0:32 / /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
`

// TestHierarchiesFromMountinfo picks the controller hierarchies out of a mount table.
func TestHierarchiesFromMountinfo(t *testing.T) {
	known, err := parseControllers(strings.NewReader(procCgroups))
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(mountinfoText), mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	got := hierarchies(mounts, known)
	want := []Hierarchy{
		{Controllers: []string{"cpu", "cpuacct"}, Mount: "/sys/fs/cgroup/cpu,cpuacct"},
		{Controllers: []string{"cpuset"}, Mount: "/sys/fs/cgroup/cpuset"},
		{Controllers: []string{"memory"}, Mount: "/sys/fs/cgroup/memory"},
		{Controllers: []string{"net_cls", "net_prio"}, Mount: "/sys/fs/cgroup/net_cls,net_prio"},
		{Controllers: []string{"pids"}, Mount: "/sys/fs/cgroup/my pids"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hierarchies:\n got %v\nwant %v", got, want)
	}
	if d := got[0].Dir("/tabula/x"); d != "/sys/fs/cgroup/cpu,cpuacct/tabula/x" {
		t.Errorf("Dir(/tabula/x) = %q", d)
	}
	if d := got[0].Dir("/"); d != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("Dir(/) = %q", d)
	}
	tasks := Tasks(got[:2], "/tabula/x")
	if want := []string{"/sys/fs/cgroup/cpu,cpuacct/tabula/x/tasks", "/sys/fs/cgroup/cpuset/tabula/x/tasks"}; !reflect.DeepEqual(tasks, want) {
		t.Errorf("Tasks = %q, want %q", tasks, want)
	}
}

// TestParseControllersEmpty refuses a /proc/cgroups without controllers.
func TestParseControllersEmpty(t *testing.T) {
	if _, err := parseControllers(strings.NewReader("#subsys_name\thierarchy\tnum_cgroups\tenabled\n")); err == nil {
		t.Error("a /proc/cgroups without controllers parsed without an error")
	}
}

// TestParseCgroup reads /proc/<pid>/cgroup lines.
func TestParseCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		wantErr  bool
	}{
		{
			name: "hybrid",
			in:   "9:name=systemd:/user.slice\n8:pids:/\n3:cpu,cpuacct:/tabula/a\n4:memory:/process_api/x\n0::/\n",
			want: map[string]string{"name=systemd": "/user.slice", "pids": "/", "cpu": "/tabula/a", "cpuacct": "/tabula/a", "memory": "/process_api/x"},
		},
		{
			name: "path with colon",
			in:   "4:memory:/a:b\n",
			want: map[string]string{"memory": "/a:b"},
		},
		{name: "v2 only", in: "0::/init.scope\n", want: map[string]string{}},
		{name: "empty", in: "", want: map[string]string{}},
		{name: "no path", in: "4:memory\n", wantErr: true},
		{name: "one field", in: "garbage\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroup([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %q without an error: %v", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseCgroupFileSelf reads the calling thread's own cgroup file.
func TestParseCgroupFileSelf(t *testing.T) {
	m, err := ParseCgroupFile("/proc/thread-self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for c, p := range m {
		if !strings.HasPrefix(p, "/") {
			t.Errorf("controller %s: path %q is not absolute", c, p)
		}
	}
	if _, err := ParseCgroupFile("/proc/thread-self/no-such-file"); err == nil {
		t.Error("a missing file parsed without an error")
	}
}

// FuzzParseCgroup feeds parseCgroup arbitrary bytes: no panic, no empty or joined controller names.
func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("9:name=systemd:/\n3:cpu,cpuacct:/tabula/a\n0::/\n"))
	f.Add([]byte("1:,,:/x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseCgroup(b)
		if err != nil {
			return
		}
		for c := range m {
			if c == "" || strings.Contains(c, ",") {
				t.Errorf("controller key %q", c)
			}
		}
	})
}

// TestCheckPath accepts only absolute, clean cgroup paths.
func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/tabula/x", "/a", "/tabula/a.b/..c"} {
		if err := cgroupfs.CheckPath(p); err != nil {
			t.Errorf("cgroupfs.CheckPath(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "/", "tabula/x", "/tabula/", "/tabula//x", "/tabula/../x", "/tabula/./x", "/tabula/..", "/."} {
		if err := cgroupfs.CheckPath(p); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("cgroupfs.CheckPath(%q) = %v, want ErrInvalidArgument", p, err)
		}
	}
}

// TestAppendDevice formats device rules as the kernel reads them.
func TestAppendDevice(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		typ          byte
		major, minor *int64
		access, want string
	}{
		{'c', i(1), i(3), "rwm", "c 1:3 rwm"},
		{'c', i(136), nil, "rwm", "c 136:* rwm"},
		{'b', nil, nil, "m", "b *:* m"},
		{'c', i(-1), i(5), "r", "c *:5 r"},
	} {
		if got := string(appendDevice(nil, tc.typ, tc.major, tc.minor, tc.access)); got != tc.want {
			t.Errorf("appendDevice = %q, want %q", got, tc.want)
		}
	}
}

// TestCreateRejectsBeforeMkdir checks the errors found before anything
// is made, which need no cgroup hierarchy.
func TestCreateRejectsBeforeMkdir(t *testing.T) {
	hs := []Hierarchy{{Controllers: []string{"memory"}, Mount: t.TempDir()}}
	err := Create(hs, "/x", &specs.LinuxResources{Unified: map[string]string{"memory.max": "1G"}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.unified: needs cgroup v2") || !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("unified: %v", err)
	}
	if err := Create(nil, "/x", nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("no hierarchies: %v", err)
	}
	if err := Create(hs, "x", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("relative path: %v", err)
	}
}

// TestRuleFormats formats the blkio, net_prio and rdma rules, and refuses names that would split a rule.
func TestRuleFormats(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	if got := string(appendDeviceValue(nil, 8, 16, 1<<20)); got != "8:16 1048576" {
		t.Errorf("appendDeviceValue = %q", got)
	}
	if got, err := appendPriority(nil, specs.LinuxInterfacePriority{Name: "eth0", Priority: 7}); err != nil || string(got) != "eth0 7" {
		t.Errorf("appendPriority = %q, %v", got, err)
	}
	if got, err := appendRdma(nil, "mlx5_0", specs.LinuxRdma{HcaHandles: u(3), HcaObjects: u(1000)}); err != nil || string(got) != "mlx5_0 hca_handle=3 hca_object=1000" {
		t.Errorf("appendRdma = %q, %v", got, err)
	}
	if got, err := appendRdma(nil, "mlx5_0", specs.LinuxRdma{HcaObjects: u(1)}); err != nil || string(got) != "mlx5_0 hca_object=1" {
		t.Errorf("appendRdma, objects only = %q, %v", got, err)
	}
	for _, name := range []string{"", "eth0 5", "a/b", "x\n"} {
		if _, err := appendPriority(nil, specs.LinuxInterfacePriority{Name: name}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("appendPriority(%q): %v", name, err)
		}
		if _, err := appendRdma(nil, name, specs.LinuxRdma{HcaHandles: u(1)}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("appendRdma(%q): %v", name, err)
		}
	}
}
