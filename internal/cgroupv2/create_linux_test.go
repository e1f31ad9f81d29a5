package cgroupv2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

// probeEnv names the directory in which a re-executed test binary probes
// device access instead of running tests (see probeDevices).
const probeEnv = "TABULA_CGROUPV2_PROBE"

// TestMain runs the device probe when the test binary is re-executed as
// one.
func TestMain(m *testing.M) {
	if dir := os.Getenv(probeEnv); dir != "" {
		probeDevices(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// isCgroup2 reports whether dir is the root of a cgroup2 mount.
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// v2Root is a cgroup v2 mount to test in: the hybrid host's empty
// unified hierarchy, or the unified host's own. The test needs root.
func v2Root(t testing.TB) string {
	t.Helper()
	testenv.RequireRoot(t)
	for _, dir := range []string{Mount + "/unified", Mount} {
		if isCgroup2(dir) {
			return dir
		}
	}
	testenv.Require(t, false, "no cgroup2 hierarchy at %s/unified or %s", Mount, Mount)
	return ""
}

// roots numbers the test parents of one test process.
var roots atomic.Int64

// testPath is a cgroup path of the test's own, not yet made; it and all
// below it are removed when the test ends.
func testPath(t testing.TB, root string) string {
	p := fmt.Sprintf("/tabula-cgv2-test-%d-%d", os.Getpid(), roots.Add(1))
	t.Cleanup(func() {
		if err := Remove(root, p); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	return p
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

// TestUnified checks Unified against the file system type mountinfo gives /sys/fs/cgroup.
func TestUnified(t *testing.T) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(Mount))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, len(ms) > 0, "nothing is mounted at %s", Mount)
	fstype := ms[len(ms)-1].FSType // the last mount there is the visible one
	t.Logf("%s is %s", Mount, fstype)
	if got, want := Unified(), fstype == "cgroup2"; got != want {
		t.Errorf("Unified() = %v with %s a %s", got, Mount, fstype)
	}
	if exists(Mount+"/unified") && isCgroup2(Mount+"/unified") && Unified() {
		t.Errorf("Unified() on a hybrid host")
	}
}

// TestCreate makes cgroups and their missing parents, and removes them.
func TestCreate(t *testing.T) {
	root := v2Root(t)
	base := testPath(t, root)
	if err := Create(root, base+"/a/b", nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, base + "/a", base + "/a/b"} {
		if !exists(Dir(root, p) + "/cgroup.procs") {
			t.Errorf("%s is not a cgroup", Dir(root, p))
		}
	}
	if err := Create(root, base+"/a/c", &specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	if !exists(Dir(root, base+"/a/c")) {
		t.Errorf("%s missing", Dir(root, base+"/a/c"))
	}
	if err := Remove(root, base+"/a"); err != nil {
		t.Fatal(err)
	}
	if exists(Dir(root, base+"/a")) {
		t.Errorf("Remove left %s", Dir(root, base+"/a"))
	}
	if err := Remove(root, base+"/a"); err != nil {
		t.Errorf("Remove of a removed cgroup: %v", err)
	}
	if !exists(Dir(root, base)) {
		t.Errorf("Remove took the parent %s too", Dir(root, base))
	}
}

// TestCreateUnified writes core files through the unified map and reads them back.
func TestCreateUnified(t *testing.T) {
	root := v2Root(t)
	p := testPath(t, root) + "/c"
	err := Create(root, p, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "3", "cgroup.max.descendants": "10"}})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"cgroup.max.depth": "3", "cgroup.max.descendants": "10"} {
		if got := read(t, Dir(root, p)+"/"+file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// TestCreateExisting refuses a cgroup that exists and leaves it alone.
func TestCreateExisting(t *testing.T) {
	root := v2Root(t)
	p := testPath(t, root) + "/c"
	if err := Create(root, p, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "5"}}); err != nil {
		t.Fatal(err)
	}
	err := Create(root, p, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "2"}, Devices: dockerRules()})
	if !errors.Is(err, fs.ErrExist) || !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second Create: %v, want fs.ErrExist and errdefs.ErrAlreadyExists", err)
	}
	t.Log(err)
	if got := read(t, Dir(root, p)+"/cgroup.max.depth"); got != "5" {
		t.Errorf("the existing cgroup's cgroup.max.depth became %s", got)
	}
	if n := len(queryDevicePrograms(t, Dir(root, p), false)); n != 0 {
		t.Errorf("the failed Create attached %d device programs", n)
	}
}

// offers reports whether the hierarchy at root offers controller.
func offers(t testing.TB, root, controller string) bool {
	return strings.Contains(" "+read(t, root+"/cgroup.controllers")+" ", " "+controller+" ")
}

// A limit needs its controller: where the hierarchy offers it the limit is
// written; where not, Create refuses it, naming the field, and leaves
// nothing behind.
func TestCreateNeedsController(t *testing.T) {
	root := v2Root(t)
	for _, tc := range []struct {
		controller, file, value string
		res                     *specs.LinuxResources
		want                    string
	}{
		{"memory", "memory.max", fmt.Sprint(64 << 20), &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
			"linux.resources.memory.limit: needs the memory controller, which the cgroup v2 hierarchy at " + root + " does not offer"},
		{"pids", "pids.max", "max", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			"linux.resources.pids.limit: needs the pids controller"},
	} {
		base := testPath(t, root)
		p := base + "/parent/c"
		err := Create(root, p, tc.res)
		if offers(t, root, tc.controller) {
			if err != nil {
				t.Errorf("%s offered: %v", tc.controller, err)
			} else if got := read(t, Dir(root, p)+"/"+tc.file); got != tc.value {
				t.Errorf("%s = %q, want %q", tc.file, got, tc.value)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("%s not offered: %v; want %q, a failed precondition", tc.controller, err, tc.want)
		}
		if _, serr := os.Stat(Dir(root, base) + "/parent"); serr == nil {
			t.Errorf("%s left behind", Dir(root, base)+"/parent")
		}
	}
}

// TestCreateErrors checks that a refused limit names its field (and file), and that Create removes all it made.
func TestCreateErrors(t *testing.T) {
	root := v2Root(t)
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		want string // the start of the error
		is   error
		file string // the file the error names, in the cgroup
	}{
		{
			name: "value the kernel refuses",
			res:  &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "lots"}},
			want: `linux.resources.unified["cgroup.max.depth"] ("lots"): `,
			is:   unix.EINVAL,
			file: "cgroup.max.depth",
		},
		{
			name: "file the kernel lacks",
			res:  &specs.LinuxResources{Unified: map[string]string{"cgroup.no.such.file": "1"}},
			want: `linux.resources.unified["cgroup.no.such.file"]: `,
			is:   fs.ErrNotExist,
			file: "cgroup.no.such.file",
		},
		{
			name: "device rule",
			res:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "x"}}},
			want: `linux.resources.devices[1]: type "x"`,
			is:   errdefs.ErrInvalidArgument,
		},
		{
			name: "spec value",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: boolp(true)}},
			want: "linux.resources.memory.disableOOMKiller: ",
			is:   errdefs.ErrFailedPrecondition,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := testPath(t, root)
			p := base + "/parent/c"
			err := Create(root, p, tc.res)
			if err == nil {
				t.Fatal("Create succeeded")
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q does not start with %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if tc.file != "" && !strings.Contains(err.Error(), ": "+Dir(root, p)+"/"+tc.file+": ") {
				t.Errorf("error %q does not name %s", err, Dir(root, p)+"/"+tc.file)
			}
			if exists(Dir(root, base)) {
				t.Errorf("%s left behind", Dir(root, base))
			}
		})
	}
	if err := Create(root, "tabula/x", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("relative path: %v", err)
	}
	if err := Create(root+"/", "/tabula/x", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("root with a trailing slash: %v", err)
	}
}

// TestCreateEnablesControllers creates a cgroup with a limit of a
// controller the hierarchy offers (hugetlb, the one a hybrid host leaves
// to v2), which Create must enable in every ancestor first; the root's
// cgroup.subtree_control is restored when the test ends.
func TestCreateEnablesControllers(t *testing.T) {
	root := v2Root(t)
	testenv.Require(t, offers(t, root, "hugetlb") && exists("/sys/kernel/mm/hugepages/hugepages-2048kB"),
		"%s does not offer the hugetlb controller, or the host has no 2MB pages", root)
	if !strings.Contains(read(t, root+"/cgroup.subtree_control"), "hugetlb") {
		t.Cleanup(func() {
			if err := os.WriteFile(root+"/cgroup.subtree_control", []byte("-hugetlb"), 0); err != nil {
				t.Errorf("restore %s/cgroup.subtree_control: %v", root, err)
			}
		})
	}
	base := testPath(t, root)
	p := base + "/a/c"
	if err := Create(root, p, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, Dir(root, base), Dir(root, base+"/a")} {
		if got := read(t, dir+"/cgroup.subtree_control"); !strings.Contains(got, "hugetlb") {
			t.Errorf("%s/cgroup.subtree_control = %q, want hugetlb in it", dir, got)
		}
	}
	if got := read(t, Dir(root, p)+"/cgroup.subtree_control"); got != "" {
		t.Errorf("the new cgroup enables %q for its children", got)
	}
	for _, file := range []string{"hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"} {
		if file == "hugetlb.2MB.rsvd.max" && !exists(Dir(root, p)+"/"+file) {
			continue
		}
		if got := read(t, Dir(root, p)+"/"+file); got != fmt.Sprint(4<<21) {
			t.Errorf("%s = %q, want %d", file, got, 4<<21)
		}
	}
	// A page size the kernel lacks: the error names the field and the
	// file, and the cgroup is gone again.
	q := base + "/a/d"
	err := Create(root, q, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1 << 21}}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.hugepageLimits[0]: "+Dir(root, q)+"/hugetlb.3MB.max: ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an unknown page size: %v", err)
	}
	if exists(Dir(root, q)) {
		t.Errorf("%s left behind", Dir(root, q))
	}
}

// TestWriteSettings writes settings into a plain directory: a file is
// opened once for adjacent settings (the second value follows the first
// instead of overwriting it), the alternative file serves when the first
// is missing, and a missing optional file is skipped.
func TestWriteSettings(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"io.weight", "io.max", "memory.max"} {
		if err := os.WriteFile(dir+"/"+f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := settings(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(1 << 20)}, // memory.swap.max=0, optional
		BlockIO: &specs.LinuxBlockIO{
			Weight:       u16(100),
			WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(1000)}},
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1},
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 2},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := creation{dir: dir}
	if err := c.write(ss); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"io.weight":  "default 9108:0 10000",
		"io.max":     "8:0 rbps=18:16 rbps=2",
		"memory.max": "1048576",
	} {
		if got := read(t, dir+"/"+file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if exists(dir + "/memory.swap.max") {
		t.Errorf("memory.swap.max made")
	}
	// Not optional, and no alternative: an error naming field and file.
	err = c.write([]setting{{field: "linux.resources.pids.limit", name: "pids.max", value: "1"}})
	if err == nil || err.Error() != "linux.resources.pids.limit: "+dir+"/pids.max: no such file or directory (this kernel or host does not support it)" {
		t.Errorf("missing file: %v", err)
	}
}

// TestOOMKills reads oom_kill from memory.events, and fails without one.
func TestOOMKills(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/tabula/c", 0o755); err != nil {
		t.Fatal(err)
	}
	events := "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
	if err := os.WriteFile(root+"/tabula/c/memory.events", []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := OOMKills(root, "/tabula/c"); n != 2 || err != nil {
		t.Errorf("OOMKills = %d, %v; want 2", n, err)
	}
	if _, err := OOMKills(root, "/tabula/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OOMKills without memory.events: %v, want fs.ErrNotExist", err)
	}
}

// probeDevices is the re-executed test binary: it reports its cgroup v2
// and whether it may open or make devices, one "what result" line each,
// result "ok" or the errno's name. dir is a directory to make nodes in.
func probeDevices(dir string) {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			fmt.Printf("cgroup %s", p)
		}
	}
	result := func(what string, err error) {
		if err == nil {
			fmt.Println(what, "ok")
			return
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Println(what, unix.ErrnoName(errno))
			return
		}
		fmt.Println(what, err)
	}
	for _, o := range []struct {
		name string
		mode int
	}{
		{"null", unix.O_RDWR}, {"zero", unix.O_RDONLY}, {"zero", unix.O_WRONLY}, {"zero", unix.O_RDWR},
		{"full", unix.O_RDONLY}, {"full", unix.O_WRONLY}, {"full", unix.O_RDWR},
	} {
		fd, err := unix.Open("/dev/"+o.name, o.mode|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		result(fmt.Sprintf("open-%s-%s", o.name, map[int]string{unix.O_RDONLY: "r", unix.O_WRONLY: "w", unix.O_RDWR: "rw"}[o.mode]), err)
	}
	for name, minor := range map[string]uint32{"null": 3, "zero": 5, "full": 7} {
		result("mknod-"+name, unix.Mknod(filepath.Join(dir, name), unix.S_IFCHR|0o600, int(unix.Mkdev(1, minor))))
	}
}

// probe runs probeDevices in a new process born in cgroup p (through
// CLONE_INTO_CGROUP) and returns its answers.
func probe(t *testing.T, root, p string) map[string]string {
	t.Helper()
	dir, err := unix.Open(Dir(root, p), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: dir}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v: %s", err, out)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		what, result, _ := strings.Cut(sc.Text(), " ")
		got[what] = result
	}
	if got["cgroup"] != p {
		t.Fatalf("the probe ran in cgroup %q, want %q:\n%s", got["cgroup"], p, out)
	}
	return got
}

// checkProbe compares the answers of probe with want.
func checkProbe(t *testing.T, got, want map[string]string) {
	t.Helper()
	for what, w := range want {
		if got[what] != w {
			t.Errorf("%s: %s, want %s", what, got[what], w)
		}
	}
}

// TestDeviceFilter attaches programs to cgroups of the unified hierarchy
// and checks what a process in them may open and make. The kernel runs a
// task's cgroup v2 device programs on hybrid hosts too.
func TestDeviceFilter(t *testing.T) {
	root := v2Root(t)
	base := testPath(t, root)

	t.Run("allow list", func(t *testing.T) {
		p := base + "/allow"
		err := Create(root, p, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		progs := queryDevicePrograms(t, Dir(root, p), false)
		if len(progs) != 1 {
			t.Fatalf("%d device programs attached, want 1", len(progs))
		}
		checkProbe(t, probe(t, root, p), map[string]string{
			"open-null-rw": "ok", "mknod-null": "ok",
			"open-zero-r": "ok", "open-zero-w": "EPERM", "open-zero-rw": "EPERM", "mknod-zero": "EPERM",
			"open-full-r": "EPERM", "open-full-w": "EPERM", "mknod-full": "EPERM",
		})
	})

	t.Run("deny list", func(t *testing.T) {
		p := base + "/deny"
		err := Create(root, p, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: true, Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(7), Access: "w"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		checkProbe(t, probe(t, root, p), map[string]string{
			"open-null-rw": "ok", "open-zero-rw": "ok",
			// Any access in common with the deny rule denies, as on v1.
			"open-full-r": "ok", "open-full-w": "EPERM", "open-full-rw": "EPERM", "mknod-full": "ok",
		})
	})

	t.Run("docker", func(t *testing.T) {
		p := base + "/docker"
		if err := Create(root, p, &specs.LinuxResources{Devices: dockerRules()}); err != nil {
			t.Fatal(err)
		}
		checkProbe(t, probe(t, root, p), map[string]string{
			"open-null-rw": "ok", "open-zero-rw": "ok", "open-full-rw": "ok", "mknod-full": "ok",
		})
	})

	t.Run("the parent's program still runs", func(t *testing.T) {
		parent := base + "/parent"
		if err := Create(root, parent, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		}}); err != nil {
			t.Fatal(err)
		}
		p := parent + "/c"
		if err := Create(root, p, &specs.LinuxResources{Devices: dockerRules()}); err != nil {
			t.Fatal(err)
		}
		if n := len(queryDevicePrograms(t, Dir(root, p), true)); n != 2 {
			t.Errorf("%d device programs in effect, want 2 (the parent's and the cgroup's)", n)
		}
		checkProbe(t, probe(t, root, p), map[string]string{
			"open-null-rw": "EPERM", "mknod-null": "EPERM", "open-zero-rw": "ok",
		})
	})

	t.Run("allow all attaches nothing", func(t *testing.T) {
		p := base + "/none"
		if err := Create(root, p, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "rwm"}}}); err != nil {
			t.Fatal(err)
		}
		if n := len(queryDevicePrograms(t, Dir(root, p), false)); n != 0 {
			t.Errorf("%d device programs attached, want none", n)
		}
	})
}

// queryAttr is union bpf_attr for BPF_PROG_QUERY, with the fields up to
// revision: kernels 6.17 to 7.1 write revision whatever size is passed.
type queryAttr struct {
	targetFd        uint32
	attachType      uint32
	queryFlags      uint32
	attachFlags     uint32
	progIDs         uint64
	progCnt         uint32
	_               uint32
	progAttachFlags uint64
	linkIDs         uint64
	linkAttachFlags uint64
	revision        uint64
}

// queryDevicePrograms lists the IDs of the device programs attached to
// the cgroup at dir, or in effect there (its ancestors' too) when
// effective is set; those attached must be attached with
// BPF_F_ALLOW_MULTI.
func queryDevicePrograms(t testing.TB, dir string, effective bool) []uint32 {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ids := make([]uint32, 64)
	var pin runtime.Pinner
	pin.Pin(&ids[0])
	defer pin.Unpin()
	attr := queryAttr{
		targetFd:   uint32(fd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	if effective {
		attr.queryFlags = 1 // BPF_F_QUERY_EFFECTIVE
	}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		t.Fatalf("BPF_PROG_QUERY %s: %v", dir, err)
	}
	if !effective && attr.progCnt > 0 && attr.attachFlags != unix.BPF_F_ALLOW_MULTI {
		t.Errorf("%s: programs attached with flags %#x, want BPF_F_ALLOW_MULTI", dir, attr.attachFlags)
	}
	return ids[:attr.progCnt]
}

// TestLoadRefused checks that a program the verifier refuses is an error with the verifier's word.
func TestLoadRefused(t *testing.T) {
	testenv.RequireRoot(t)
	// Returns without setting R0.
	_, err := loadDeviceProgram([]insn{{code: opExit}})
	if err == nil {
		t.Fatal("the verifier took a program that returns an unset R0")
	}
	if !strings.Contains(err.Error(), "verifier: ") || !errors.Is(err, unix.EACCES) {
		t.Errorf("error %q: want EACCES and the verifier's log", err)
	}
	t.Log(err)
}

// benchCreate times create then remove of b.N cgroups below a parent
// made beforehand, as after a first container, and reports the create
// part alone as create-ns/op.
func benchCreate(b *testing.B, root string, create func(path string) error) {
	base := testPath(b, root)
	if err := create(base + "/first"); err != nil {
		b.Fatal(err)
	}
	var inCreate time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := base + "/" + strconv.Itoa(i)
		t0 := time.Now()
		if err := create(p); err != nil {
			b.Fatal(err)
		}
		inCreate += time.Since(t0)
		if err := Remove(root, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(inCreate.Nanoseconds())/float64(b.N), "create-ns/op")
}

// BenchmarkCreate creates a cgroup with Docker's default device rules (a
// device program loaded and attached) and removes it.
func BenchmarkCreate(b *testing.B) {
	root := v2Root(b)
	res := &specs.LinuxResources{Devices: dockerRules()}
	benchCreate(b, root, func(p string) error { return Create(root, p, res) })
}

// BenchmarkCreateNoLimits is BenchmarkCreate without device rules: the
// mkdir alone.
func BenchmarkCreateNoLimits(b *testing.B) {
	root := v2Root(b)
	benchCreate(b, root, func(p string) error { return Create(root, p, nil) })
}

// BenchmarkContainerdCreate does what BenchmarkCreate does with
// containerd's cgroup2.NewManager, as the runtime did. Its device filter
// takes no rule without a type and dereferences nil numbers, so the rules
// get "a" and -1 spelled out.
func BenchmarkContainerdCreate(b *testing.B) {
	root := v2Root(b)
	rules := dockerRules()
	for i := range rules {
		if rules[i].Type == "" {
			rules[i].Type = "a"
		}
		if rules[i].Major == nil {
			rules[i].Major = i64(-1)
		}
		if rules[i].Minor == nil {
			rules[i].Minor = i64(-1)
		}
	}
	res := &cgroup2.Resources{Devices: rules}
	benchCreate(b, root, func(p string) error {
		_, err := cgroup2.NewManager(root, p, res)
		return err
	})
}
