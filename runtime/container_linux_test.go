package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// buildProbe compiles testdata/probe statically into the rootfs as /probe.
func buildProbe(t *testing.T, rootfs string) {
	t.Helper()
	gobin := testenv.RequireCommand(t, "go")
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(rootfs, "probe"), "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
}

// TestContainers runs the table in containers that Create builds in this
// process (spawn), and TestContainersInit in containers it builds by
// starting tabula's init, as it does on v2 hosts, older kernels and with
// profiles that deny ptrace.
func TestContainers(t *testing.T)     { testContainers(t, false) }
func TestContainersInit(t *testing.T) { testContainers(t, true) }

func testContainers(t *testing.T, noSpawn bool) {
	escape := t.TempDir() // a host directory the image's symlinks point at
	if err := os.WriteFile(filepath.Join(escape, "HOSTMARK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bindSrc := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindSrc, "from-host"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mib := func(n int64) *int64 { n <<= 20; return &n }
	tests := []struct {
		name    string
		args    []string
		setup   func(t *testing.T, rootfs string, spec *specs.Spec)
		code    int
		want    []string // substrings of the output
		notWant []string
		errCode int    // the ProgramError code Create or Start must return
		errMsg  string // and a substring of its message
		oom     bool
	}{
		{name: "pid 1 is the process", args: []string{"sh", "-c", "echo pid=$$"}, want: []string{"pid=1\n"}},
		{name: "host processes invisible", args: []string{"sh", "-c", "for p in /proc/[0-9]*; do echo $p; done"},
			want: []string{"/proc/1\n"}, notWant: []string{"/proc/2"}},
		{name: "standard mounts", args: []string{"cat", "/proc/self/mountinfo"}, want: []string{
			" / /proc rw,nosuid,nodev,noexec", " / /dev rw,nosuid", "- tmpfs tmpfs rw,size=65536k,mode=755",
			" /dev/pts rw,nosuid,noexec", "ptmxmode=666", " /dev/shm rw,nosuid,nodev,noexec", " /dev/mqueue rw,nosuid,nodev,noexec",
			" /sys ro,nosuid,nodev,noexec", " /sys/fs/cgroup ro,nosuid,nodev,noexec",
			" /proc/sys ro,", " /proc/keys ", " /proc/timer_list ", " /sys/firmware ro,relatime - tmpfs",
		}},
		{name: "devices", args: []string{"sh", "-c", "ls /dev; readlink /dev/ptmx; readlink /dev/fd"}, want: []string{
			"full\n", "null\n", "random\n", "tty\n", "urandom\n", "zero\n", "stdin\n", "stdout\n", "stderr\n", "pts/ptmx\n/proc/self/fd\n"}},
		{name: "proc sys read-only", args: []string{"sh", "-c", "echo x > /proc/sys/kernel/domainname || echo DENIED"},
			want: []string{"Read-only file system", "DENIED"}},
		// (/proc/kcore when the kernel has one; this one's /proc/keys surely.)
		{name: "proc kcore masked", args: []string{"sh", "-c", "ls -l /proc/keys /proc/kcore; cat /proc/keys | wc -c; ls /sys/firmware | wc -l"},
			want: []string{"crw-rw-rw-    1 0        0           1,   3 ", "\n0\n0\n"}, notWant: []string{"-r--r--r--"}},
		{name: "mount denied", args: []string{"/probe", "mount"}, want: []string{"mount: operation not permitted"}},
		{name: "unshare user denied", args: []string{"/probe", "unshare-user"}, want: []string{"unshare: operation not permitted"}},
		{name: "keyctl denied", args: []string{"/probe", "keyctl"}, want: []string{"keyctl: operation not permitted"}},
		{name: "only fds 0-2", args: []string{"sh", "-c", "ls /proc/$$/fd; readlink /proc/$$/cwd"}, want: []string{"0\n1\n2\n/\n"}},
		{name: "docker's capabilities", args: []string{"grep", "Cap", "/proc/self/status"},
			want: []string{"CapInh:\t0000000000000000", "CapPrm:\t00000000a80425fb", "CapEff:\t00000000a80425fb", "CapBnd:\t00000000a80425fb", "CapAmb:\t0000000000000000"}},
		{name: "user and groups", args: []string{"sh", "-c", "id -u; id -g; id -G; grep Cap[EP] /proc/self/status"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Process.User = specs.User{UID: 65532, GID: 65533, AdditionalGids: []uint32{10, 20}}
			}, want: []string{"65532\n65533\n", "65533 10 20\n", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000"}},
		{name: "env and cwd", args: []string{"sh", "-c", "echo $GREETING; pwd; echo $PATH"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Process.Env = append(spec.Process.Env, "GREETING=hi")
				spec.Process.Cwd = "/work/dir"
			}, want: []string{"hi\n/work/dir\n" + DefaultPath + "\n"}},
		{name: "hostname", args: []string{"hostname"}, want: []string{"box\n"}},
		{name: "rlimits", args: []string{"sh", "-c", "ulimit -n; ulimit -Hn"}, want: []string{"1024\n1024\n"}},
		{name: "seccomp filter", args: []string{"grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"},
			want: []string{"NoNewPrivs:\t0\nSeccomp:\t2\n"}},
		{name: "no-new-privileges", args: []string{"grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) { spec.Process.NoNewPrivileges = true },
			want:  []string{"NoNewPrivs:\t1\nSeccomp:\t2\n"}},
		{name: "seccomp unconfined", args: []string{"sh", "-c", "grep ^Seccomp: /proc/self/status; unshare -U true && echo USERNS"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) { spec.Linux.Seccomp = nil },
			want:  []string{"Seccomp:\t0\n", "USERNS\n"}},
		// Such a profile cannot be spawned under (the thread needs
		// ptrace): the container starts through the init all the same.
		{name: "seccomp profile denying ptrace", args: []string{"sh", "-c", "grep ^Seccomp: /proc/self/status; ls /proc/1/root >/dev/null && echo LISTED"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				for i, sc := range spec.Linux.Seccomp.Syscalls {
					spec.Linux.Seccomp.Syscalls[i].Names = slices.DeleteFunc(slices.Clone(sc.Names), func(n string) bool { return n == "ptrace" })
				}
			},
			want: []string{"Seccomp:\t2\n", "LISTED\n"}},
		{name: "sysctl", args: []string{"cat", "/proc/sys/net/ipv4/ip_forward"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			}, want: []string{"1\n"}},
		{name: "exit code", args: []string{"sh", "-c", "exit 3"}, code: 3},
		{name: "killed by a signal", args: []string{"sh", "-c", "sleep 10 & kill -9 $!; wait $!; exit $?"}, code: 137},
		{name: "read-only root", args: []string{"sh", "-c", "touch /x || echo RO; touch /dev/shm/y && echo SHM"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) { spec.Root.Readonly = true },
			want:  []string{"Read-only file system", "RO\n", "SHM\n"}},
		{name: "bind mount read-only", args: []string{"sh", "-c", "cat /data/from-host; touch /data/new || echo RO"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bindSrc, Options: []string{"rbind", "ro"}})
			}, want: []string{"bound\n", "RO\n"}},
		{name: "file bind mount target created", args: []string{"sh", "-c", "cat /etc/new/resolv.conf; grep ' /etc/new/resolv.conf ' /proc/self/mountinfo"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/etc/new/resolv.conf", Type: "bind",
					Source: filepath.Join(bindSrc, "from-host"), Options: []string{"rbind", "ro"}})
			}, want: []string{"bound\n", " ro,"}},
		{name: "host network", args: []string{"sh", "-c", "ls /sys/class/net; grep ' /sys ' /proc/self/mountinfo"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				var nss []specs.LinuxNamespace
				for _, ns := range spec.Linux.Namespaces {
					if ns.Type != specs.NetworkNamespace {
						nss = append(nss, ns)
					}
				}
				spec.Linux.Namespaces = nss
			}, want: []string{"lo\n", " /sys ro,"}},
		{name: "privileged", args: []string{"sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep ^Seccomp: /proc/self/status"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				var all []string
				for _, c := range capability.ListKnown() {
					all = append(all, "CAP_"+strings.ToUpper(c.String()))
				}
				spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
				spec.Linux.Seccomp = nil
				spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
			}, want: []string{"CapEff:\t" + hostCap(t, "CapPrm"), "CapBnd:\t" + hostCap(t, "CapBnd"), "Seccomp:\t0"}},
		{name: "tmpfs mount", args: []string{"sh", "-c", "grep ' /scratch ' /proc/self/mountinfo"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m"}})
			}, want: []string{"rw,nosuid", "size=1024k"}},
		{name: "mount target symlink stays inside", args: []string{"sh", "-c", "cat /link/sub/from-host"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				if err := os.Symlink(escape, filepath.Join(rootfs, "link")); err != nil {
					t.Fatal(err)
				}
				spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/link/sub", Type: "bind", Source: bindSrc, Options: []string{"bind"}})
				t.Cleanup(func() {
					if _, err := os.Lstat(filepath.Join(escape, "sub")); err == nil {
						t.Errorf("the mount target was created on the host, in %s", escape)
					}
					if _, err := os.Lstat(filepath.Join(rootfs, escape, "sub")); err != nil {
						t.Errorf("the mount target is not inside the rootfs: %v", err)
					}
				})
			}, want: []string{"bound\n"}},
		{name: "cwd symlink stays inside", args: []string{"sh", "-c", "pwd; ls"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				if err := os.Symlink(escape, filepath.Join(rootfs, "wd")); err != nil {
					t.Fatal(err)
				}
				spec.Process.Cwd = "/wd"
			}, notWant: []string{"HOSTMARK"}},
		{name: "missing entrypoint", args: []string{"/app"}, errCode: 127, errMsg: "/app: no such file or directory in the image"},
		{name: "not in PATH", args: []string{"nosuchprogram"}, errCode: 127, errMsg: "nosuchprogram: executable file not found in $PATH"},
		{name: "not executable", args: []string{"/app"}, errCode: 126, errMsg: "/app is not executable (mode 0644)",
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				os.WriteFile(filepath.Join(rootfs, "app"), []byte("\x7fELF"), 0o644)
			}},
		{name: "dynamically linked", args: []string{"/app"}, errCode: 127,
			errMsg: "/app is dynamically linked; its interpreter " + elfInterpreter("/bin/ls") + " is not in the image; build it statically (CGO_ENABLED=0, -static) or run `tabula doctor`",
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				b, err := os.ReadFile("/bin/ls") // Debian's ls is dynamically linked
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(rootfs, "app"), b, 0o755)
			}},
		{name: "script without interpreter", args: []string{"/app"}, errCode: 127, errMsg: "interpreter /bin/bash (its #! line) is not in the image",
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				os.WriteFile(filepath.Join(rootfs, "app"), []byte("#!/bin/bash\necho hi\n"), 0o755)
			}},
		{name: "memory limit", args: []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"}, code: 137, oom: true,
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				// Swap equal to the limit: no swap, on hosts that have some.
				spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: mib(16), Swap: mib(16)}
			}},
		{name: "the minimum memory is enough", args: []string{"echo", "ok"}, want: []string{"ok\n"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				l := int64(minMemory)
				spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &l, Swap: &l}
			}},
		{name: "cpu quota", args: []string{"sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"},
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				q, p := int64(50000), uint64(100000)
				spec.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &q, Period: &p}
			}, want: []string{"50000"}},
		{name: "pids limit", args: []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 3 & done; echo done"}, code: 2,
			setup: func(t *testing.T, rootfs string, spec *specs.Spec) {
				four := int64(4)
				spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &four}
			}, want: []string{"can't fork"}, notWant: []string{"done"}},
	}
	if !unifiedHost() {
		// v1 and hybrid hosts: each hierarchy the container is in under
		// the tmpfs, read-only; with no cpu limit, cpu is not one, nor
		// are cpuacct, cpuset, blkio, freezer and the named ones.
		for i := range tests {
			switch tests[i].name {
			case "standard mounts":
				tests[i].want = append(tests[i].want, " /sys/fs/cgroup/memory ro,nosuid,nodev,noexec", " /sys/fs/cgroup/pids ro,", " /sys/fs/cgroup/devices ro,")
				tests[i].notWant = append(tests[i].notWant, " /sys/fs/cgroup/cpu", " /sys/fs/cgroup/freezer ", " /sys/fs/cgroup/blkio ", " /sys/fs/cgroup/systemd ")
			case "cpu quota":
				tests[i].args = []string{"sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us; ls /sys/fs/cgroup"}
				tests[i].want = append(tests[i].want, "\nmemory\n")
				tests[i].notWant = append(tests[i].notWant, "freezer")
			}
		}
	}
	probe := filepath.Join(t.TempDir(), "probe")
	if elfInterpreter("/bin/ls") == "" {
		t.Fatal("/bin/ls is not dynamically linked: the dynamic entrypoint case needs one")
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, spec := busyboxBundle(t, tt.args...)
			rootfs := filepath.Join(bundle, "rootfs")
			if tt.args[0] == "/probe" {
				if _, err := os.Stat(probe); err != nil {
					buildProbe(t, filepath.Dir(probe))
				}
				b, err := os.ReadFile(probe)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(rootfs, "probe"), b, 0o755)
			}
			if tt.setup != nil {
				tt.setup(t, rootfs, spec)
			}
			testenv.Require(t, !raceEnabled || spec.Linux.Resources.Memory == nil,
				"the race detector's init does not fit a small memory limit")
			r := &Runtime{StateDir: t.TempDir(), noSpawn: noSpawn}
			id := "t" + string(rune('a'+i%26)) + "-" + strings.ReplaceAll(strings.ReplaceAll(tt.name, " ", "-"), "/", "")
			id = strings.Map(func(r rune) rune {
				if strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789-", r) {
					return r
				}
				return -1
			}, id)
			res := runContainer(t, r, id, bundle, spec)
			if tt.errCode != 0 {
				var pe *ProgramError
				if !errors.As(res.err, &pe) || pe.ExitCode() != tt.errCode || !strings.Contains(pe.Error(), tt.errMsg) {
					t.Fatalf("err = %v, want a ProgramError with code %d saying %q", res.err, tt.errCode, tt.errMsg)
				}
				assertGone(t, r, id, bundle)
				return
			}
			if res.err != nil {
				t.Fatalf("run: %v\n%s", res.err, res.out)
			}
			if res.status.Code != tt.code || res.status.OOMKilled != tt.oom {
				t.Errorf("status %+v, want code %d, OOMKilled %v; output:\n%s", res.status, tt.code, tt.oom, res.out)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.out, w) {
					t.Errorf("output lacks %q:\n%s", w, res.out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(res.out, w) {
					t.Errorf("output has %q:\n%s", w, res.out)
				}
			}
			assertGone(t, r, id, bundle)
		})
	}
}

// hostCap is a line's value in this process's /proc/self/status.
func hostCap(t *testing.T, field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":\t"); ok {
			return v
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return ""
}

// assertGone checks that a deleted container left no state, cgroup or
// mount behind.
func assertGone(t *testing.T, r *Runtime, id, bundle string) {
	t.Helper()
	r.Delete(context.Background(), id, true)
	if _, err := os.Stat(filepath.Join(r.StateDir, id)); err == nil {
		t.Errorf("state directory of %s left behind", id)
	}
	for _, d := range []string{"memory", "pids", "cpu", ""} {
		p := filepath.Join(cgroupRoot, d, "tabula", id)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("cgroup %s left behind", p)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), bundle) {
		t.Errorf("a mount of %s is left on the host", bundle)
	}
}

// TestLifecycleAndExec goes through create, exec, start, kill and delete,
// with containers and exec'd processes spawned by this process and started
// through tabula's init.
func TestLifecycleAndExec(t *testing.T) {
	for _, noSpawn := range []bool{false, true} {
		name := map[bool]string{false: "spawn", true: "init"}[noSpawn]
		t.Run(name, func(t *testing.T) { testLifecycleAndExec(t, noSpawn) })
	}
}

func testLifecycleAndExec(t *testing.T, noSpawn bool) {
	bundle, spec := busyboxBundle(t, "sleep", "60")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir(), noSpawn: noSpawn}
	c, err := r.Create(ctx, "life", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "life", true)
	st, err := r.State(ctx, "life")
	if err != nil || st.Status != specs.StateCreated || st.Pid != c.Pid {
		t.Fatalf("state after create: %+v, %v", st, err)
	}

	// CVE-2019-5736: tabula's binary never runs in the container from a
	// writable file. A spawned container's process is its program from the
	// start; an init (tabula's binary until it execve's) runs from a
	// read-only mount, so /proc/<pid>/exe can never be reopened for
	// writing, not even after the binary stopped running.
	exe, err := unix.Open("/proc/"+itoa(c.Pid)+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(exe)
	var exeSt, selfSt unix.Stat_t
	if err := unix.Fstat(exe, &exeSt); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/exe", &selfSt); err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(exe, &sfs); err != nil {
		t.Fatal(err)
	}
	if exeSt.Dev == selfSt.Dev && exeSt.Ino == selfSt.Ino && sfs.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("the container's process runs tabula's binary from a writable mount (flags %#x)", sfs.Flags)
	}
	out, code := execOut(t, r, "life", "sh", "-c", "echo x >> /proc/1/exe && echo WROTE; cat /proc/1/cmdline")
	if strings.Contains(out, "WROTE") || code != 0 {
		t.Errorf("writing /proc/1/exe from an exec'd process: %q (code %d)", out, code)
	}

	if err := r.Start(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.State(ctx, "life"); st.Status != specs.StateRunning {
		t.Fatalf("state after start: %+v", st)
	}
	var recorded state
	if b, err := os.ReadFile(filepath.Join(r.StateDir, "life", stateFile)); err != nil || json.Unmarshal(b, &recorded) != nil ||
		recorded.Status != specs.StateCreated || recorded.Pid != c.Pid || recorded.Bundle != bundle || recorded.StartTime == 0 {
		t.Errorf("state.json after start: %+v, %v; want the state at create", recorded, err)
	}
	if _, err := os.Lstat(filepath.Join(r.StateDir, "life", heldName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the held mark after start: %v; want it gone", err)
	}
	if fd, err := unix.Open("/proc/self/fd/"+itoa(exe), unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(fd)
		t.Errorf("the init's binary could be reopened for writing after the init exec'd")
	} else if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.ETXTBSY) {
		// ETXTBSY when this test binary, still running, is checked
		// before the read-only mount: the Fstatfs above proves the mount.
		t.Errorf("reopening the init's binary for writing: %v, want EROFS", err)
	}

	// exec joins the container's namespaces: same PID 1, hostname, mounts.
	out, code = execOut(t, r, "life", "sh", "-c", "cat /proc/1/cmdline; echo; hostname; grep CapEff /proc/self/status; ls /proc/self/fd")
	if code != 0 || !strings.Contains(out, "sleep\x0060") || !strings.Contains(out, "box\n") ||
		!strings.Contains(out, "CapEff:\t00000000a80425fb") {
		t.Errorf("exec output %q (code %d)", out, code)
	}
	// Exec's program errors are as precise as the init's.
	_, err = r.Exec(ctx, "life", &specs.Process{Args: []string{"/nope"}}, ExecOptions{})
	var pe *ProgramError
	if !errors.As(err, &pe) || pe.Code != 127 {
		t.Errorf("exec of a missing program: %v", err)
	}

	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "life" {
		t.Errorf("list: %+v, %v", list, err)
	}
	if err := r.Delete(ctx, "life", false); err == nil {
		t.Errorf("delete of a running container without force succeeded")
	}
	if err := r.Kill(ctx, "life", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	es, err := c.Wait()
	if err != nil || es.Code != 137 || es.Signal != syscall.SIGKILL {
		t.Errorf("wait after SIGKILL: %+v, %v", es, err)
	}
	if st, _ := r.State(ctx, "life"); st.Status != specs.StateStopped || st.Pid != 0 {
		t.Errorf("state after the process died: %+v", st)
	}
	if err := r.Kill(ctx, "life", syscall.SIGTERM, false); err == nil {
		t.Errorf("kill of a stopped container succeeded")
	}
	if err := r.Delete(ctx, "life", false); err != nil {
		t.Fatal(err)
	}
	assertGone(t, r, "life", bundle)
}

func BenchmarkExec(b *testing.B) {
	bundle, spec := busyboxBundle(b, "sleep", "600")
	writeSpec(b, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: b.TempDir()}
	if _, err := r.Create(ctx, "exec", bundle, CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	defer r.Delete(ctx, "exec", true)
	if err := r.Start(ctx, "exec"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := r.Exec(ctx, "exec", &specs.Process{Args: []string{"true"}}, ExecOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := p.Wait(); err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
	}
}

// TestJoinNamespaces is the debug toolbox's case: a second container
// joining a running one's pid, net, ipc and uts namespaces by path.
func TestJoinNamespaces(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sleep", "60")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	target, err := r.Create(ctx, "target", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "target", true)
	if err := r.Start(ctx, "target"); err != nil {
		t.Fatal(err)
	}
	dbundle, dspec := busyboxBundle(t, "sh", "-c", "cat /proc/1/cmdline; echo; hostname; ls /proc/1/root/bin/busybox")
	dspec.Hostname = ""
	for i, ns := range dspec.Linux.Namespaces {
		switch ns.Type {
		case specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace:
			name := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts"}[ns.Type]
			dspec.Linux.Namespaces[i].Path = "/proc/" + itoa(target.Pid) + "/ns/" + name
		}
	}
	dspec.Process.Capabilities.Bounding = append(dspec.Process.Capabilities.Bounding, "CAP_SYS_PTRACE")
	dspec.Process.Capabilities.Effective = append(dspec.Process.Capabilities.Effective, "CAP_SYS_PTRACE")
	dspec.Process.Capabilities.Permitted = append(dspec.Process.Capabilities.Permitted, "CAP_SYS_PTRACE")
	res := runContainer(t, r, "toolbox", dbundle, dspec)
	if res.err != nil || res.status.Code != 0 {
		t.Fatalf("toolbox: %v %+v\n%s", res.err, res.status, res.out)
	}
	if !strings.Contains(res.out, "sleep\x0060\x00\nbox\n/proc/1/root/bin/busybox") {
		t.Errorf("toolbox output %q", res.out)
	}
}

func execOut(t *testing.T, r *Runtime, id string, args ...string) (string, int) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p, err := r.Exec(context.Background(), id, &specs.Process{Args: args}, ExecOptions{Stdout: pw, Stderr: pw})
	pw.Close()
	if err != nil {
		t.Fatalf("exec %v: %v", args, err)
	}
	done := make(chan []byte)
	go func() { b, _ := readAll(pr); done <- b }()
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-done:
		return string(b), st.Code
	case <-time.After(10 * time.Second):
		t.Fatal("exec output never ended")
	}
	return "", 0
}

func TestTerminal(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "tty; readlink /proc/self/fd/0; ls -l /dev/console")
	spec.Process.Terminal = true
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	c, err := r.Create(ctx, "tty", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "tty", true)
	if c.Console == nil {
		t.Fatal("no console")
	}
	defer c.Console.Close()
	if err := r.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() { b, _ := readAll(c.Console); done <- b }()
	if st, err := c.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v %v", st, err)
	}
	out := string(<-done)
	if !strings.Contains(out, "/dev/pts/0\r\n/dev/pts/0\r\n") || !strings.Contains(out, "136,   0 ") {
		t.Errorf("terminal output %q", out)
	}
}

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		line  string
		start uint64
		state byte
		ok    bool
	}{
		{"42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100", 98765, 'S', true},
		{"43 (a) b) (c) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1000 100", 5, 'Z', true},
		{"44 (short) S 1", 0, 0, false},
		{"garbage", 0, 0, false},
	} {
		st, state, err := parseStat(tt.line)
		if (err == nil) != tt.ok || st != tt.start || state != tt.state {
			t.Errorf("parseStat(%q) = %d, %q, %v", tt.line, st, state, err)
		}
	}
}

// BenchmarkCreateStartWait times a container's lifecycle, spawned and
// through the init.
func BenchmarkCreateStartWait(b *testing.B) {
	for _, noSpawn := range []bool{false, true} {
		name := map[bool]string{false: "spawn", true: "init"}[noSpawn]
		b.Run(name, func(b *testing.B) { benchmarkCreateStartWait(b, noSpawn) })
	}
}

func benchmarkCreateStartWait(b *testing.B, noSpawn bool) {
	bundle, spec := busyboxBundle(b, "true")
	writeSpec(b, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: b.TempDir(), noSpawn: noSpawn}
	var phases [4]time.Duration // create, start, wait, delete
	n := 0
	for ; b.Loop(); n++ {
		id := "bench-" + itoa(n)
		t0 := time.Now()
		c, err := r.Create(ctx, id, bundle, CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := r.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if st, err := c.Wait(); err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
		t3 := time.Now()
		if err := r.Delete(ctx, id, false); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		phases[0] += t1.Sub(t0)
		phases[1] += t2.Sub(t1)
		phases[2] += t3.Sub(t2)
		phases[3] += t4.Sub(t3)
	}
	for i, name := range []string{"create-ms", "start-ms", "wait-ms", "delete-ms"} {
		b.ReportMetric(float64(phases[i].Microseconds())/1000/float64(n), name)
	}
}
