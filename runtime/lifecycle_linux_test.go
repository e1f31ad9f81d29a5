package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

// TestOverlayRootfs runs a container on CreateOptions.Rootfs the way tabula
// does: an overlay of a read-only lower layer and a per-container upper dir
// mounted on an empty root path inside the container's mount namespace.
func TestOverlayRootfs(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "echo new > /etc/written; cat /proc/self/mountinfo | head -1")
	lower := filepath.Join(bundle, "rootfs")
	root := filepath.Join(bundle, "merged")
	upper, work := filepath.Join(bundle, "upper"), filepath.Join(bundle, "work")
	for _, d := range []string{root, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec.Root.Path = "merged"
	r := &Runtime{StateDir: t.TempDir()}
	writeSpec(t, bundle, spec)
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	ctx := context.Background()
	c, err := r.Create(ctx, "overlay", bundle, CreateOptions{Stdout: pw, Stderr: pw, Rootfs: []specs.Mount{{
		Type: "overlay", Source: "overlay",
		Options: []string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work},
	}}})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "overlay", true)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), root) {
		t.Errorf("the overlay is visible in the host's mount table")
	}
	if err := r.Start(ctx, "overlay"); err != nil {
		t.Fatal(err)
	}
	out, _ := readAll(pr)
	if st, err := c.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v %v\n%s", st, err, out)
	}
	if !strings.Contains(string(out), " / rw,") || !strings.Contains(string(out), "- overlay overlay") {
		t.Errorf("the container's root is not the overlay: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "etc", "written")); err != nil || string(b) != "new\n" {
		t.Errorf("the write did not land in the upper dir: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(lower, "etc", "written")); err == nil {
		t.Errorf("the write reached the lower layer")
	}
	if err := r.Delete(ctx, "overlay", false); err != nil {
		t.Fatal(err)
	}
	assertGone(t, r, "overlay", bundle)
}

func TestCreateErrors(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sleep", "10")
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	for _, tt := range []struct {
		name   string
		id     string
		mutate func(*specs.Spec)
		want   error
		msg    string
	}{
		{"bad id", "../x", nil, errdefs.ErrInvalidArgument, "container ID"},
		{"memory below the minimum", "lowmem", func(s *specs.Spec) {
			l := int64(1 << 20)
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &l}
		}, errdefs.ErrInvalidArgument, "below the minimum"},
		{"user namespace", "userns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, errdefs.ErrInvalidArgument, "user namespaces are not supported"},
		{"missing bind source", "nobind", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent/dir", Options: []string{"bind"}})
		}, nil, "mounts[7] (/x): bind source"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := *spec
			l := *spec.Linux
			res := *spec.Linux.Resources
			l.Resources = &res
			l.Namespaces = append([]specs.LinuxNamespace(nil), spec.Linux.Namespaces...)
			s.Linux = &l
			s.Mounts = append([]specs.Mount(nil), spec.Mounts...)
			if tt.mutate != nil {
				tt.mutate(&s)
			}
			writeSpec(t, bundle, &s)
			_, err := r.Create(ctx, tt.id, bundle, CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.msg)
			}
			if tt.id != "../x" {
				assertGone(t, r, tt.id, bundle)
			}
		})
	}
	// A taken name: the second Create changes nothing of the first
	// container, its cgroup's limits included.
	limit := func(mib int64) {
		b := mib << 20
		spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &b}
		writeSpec(t, bundle, spec)
	}
	limit(64)
	c, err := r.Create(ctx, "taken", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "taken", true)
	limit(32)
	if _, err := r.Create(ctx, "taken", bundle, CreateOptions{}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	memFile := filepath.Join(cgroupRoot, "memory", "tabula", "taken", "memory.limit_in_bytes")
	if unifiedHost() {
		memFile = filepath.Join(cgroupRoot, "tabula", "taken", "memory.max")
	}
	if b, err := os.ReadFile(memFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
		t.Errorf("the first container's memory limit after the second create: %q, %v", b, err)
	}
	// Deleting a created container kills its waiting init.
	if err := r.Delete(ctx, "taken", false); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(); err != nil || st.Signal != syscall.SIGKILL {
		t.Errorf("init after delete: %+v %v", st, err)
	}
	if _, err := r.State(ctx, "taken"); !errdefs.IsNotFound(err) {
		t.Errorf("state after delete: %v", err)
	}
}

// TestStateRecycledPid: a state whose PID now belongs to another process
// (another start time) is stopped, never running.
func TestStateRecycledPid(t *testing.T) {
	r := &Runtime{StateDir: t.TempDir()}
	start, _, err := processStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id    string
		start uint64
		want  specs.ContainerState
	}{
		{"same", start, specs.StateRunning},
		{"recycled", start + 1, specs.StateStopped},
	} {
		dir := filepath.Join(r.StateDir, tt.id)
		os.MkdirAll(dir, 0o700)
		b, _ := json.Marshal(state{ID: tt.id, Pid: os.Getpid(), StartTime: tt.start})
		os.WriteFile(filepath.Join(dir, stateFile), b, 0o600)
		st, err := r.State(context.Background(), tt.id)
		if err != nil || st.Status != tt.want {
			t.Errorf("%s: state %+v, %v; want %s", tt.id, st, err, tt.want)
		}
	}
	if err := r.Kill(context.Background(), "recycled", syscall.SIGKILL, false); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("kill of a recycled PID: %v", err)
	}
}

// TestExecTerminalConsoleSocket: an exec'd process with a terminal, its
// master handed over runc's console socket protocol.
func TestExecTerminalConsoleSocket(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sleep", "60")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	if _, err := r.Create(ctx, "ctty", bundle, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "ctty", true)
	if err := r.Start(ctx, "ctty"); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		scms, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, _ := unix.ParseUnixRights(&scms[0])
		got <- os.NewFile(uintptr(fds[0]), "master")
	}()
	p, err := r.Exec(ctx, "ctty", &specs.Process{Terminal: true, Args: []string{"sh", "-c", "tty; echo $$"}}, ExecOptions{ConsoleSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	master := <-got
	if master == nil {
		t.Fatal("no terminal arrived on the console socket")
	}
	defer master.Close()
	done := make(chan []byte)
	go func() { b, _ := readAll(master); done <- b }()
	if st, err := p.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v %v", st, err)
	}
	out := string(<-done)
	if !strings.Contains(out, "/dev/pts/0\r\n") {
		t.Errorf("exec terminal output %q", out)
	}
}

// TestKillAll signals every process of the container through its cgroup.
func TestKillAll(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "trap '' TERM; sleep 60 & sleep 60 & wait")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	c, err := r.Create(ctx, "all", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "all", true)
	if err := r.Start(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(ctx, "all", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(); err != nil || st.Code != 137 {
		t.Errorf("wait after kill --all: %+v %v", st, err)
	}
}

// TestConcurrent creates, starts, waits for and deletes many containers at
// once from one process.
func TestConcurrent(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "echo $$")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(id string) {
			pr, pw, err := os.Pipe()
			if err != nil {
				errs <- err
				return
			}
			defer pr.Close()
			c, err := r.Create(ctx, id, bundle, CreateOptions{Stdout: pw})
			pw.Close()
			if err != nil {
				errs <- err
				return
			}
			defer r.Delete(ctx, id, true)
			if err := r.Start(ctx, id); err != nil {
				errs <- err
				return
			}
			out, _ := readAll(pr)
			st, err := c.Wait()
			if err == nil && (st.Code != 0 || string(out) != "1\n") {
				err = fmt.Errorf("container %s: %+v, output %q", id, st, out)
			}
			if err == nil {
				err = r.Delete(ctx, id, false)
			}
			errs <- err
		}("c" + itoa(i))
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if list, _ := r.List(ctx); len(list) != 0 {
		t.Errorf("%d containers left", len(list))
	}
}

// TestDeleteCompletes: a delete cut short (the cgroup already gone from a
// hierarchy) can be finished, and a host-PID-namespace container's
// stragglers are killed through the cgroup.
func TestDeleteCompletes(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "sleep 60 & sleep 60")
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			nss = append(nss, ns)
		}
	}
	spec.Linux.Namespaces = nss
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	c, err := r.Create(ctx, "partial", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, "partial"); err != nil {
		t.Fatal(err)
	}
	dirs, err := cgroupDirs("/tabula/partial")
	if err != nil {
		t.Fatal(err)
	}
	// Without its own PID namespace, killing the container's first
	// process leaves the background sleep: only the cgroup finds it.
	waited := make(chan struct{})
	go func() { c.Wait(); close(waited) }()
	if err := r.Delete(ctx, "partial", true); err != nil {
		t.Fatal(err)
	}
	<-waited
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	assertGone(t, r, "partial", bundle)

	// A cgroup missing from one hierarchy is still removed from the others.
	path := "/tabula/halfgone"
	cg, err := newCgroup(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ = cgroupDirs(path)
	if err := os.Remove(dirs[len(dirs)-1]); err != nil {
		t.Fatal(err)
	}
	if err := cg.delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
}

// A Create cut short by tabula's death, before it recorded the state,
// leaves the container's directory and its cgroup, maybe with its init
// still waiting in it: Delete removes them all. A container that never
// was is not found.
func TestDeleteUnrecorded(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	id := "cutshort"
	if err := os.Mkdir(filepath.Join(r.StateDir, id), 0o711); err != nil {
		t.Fatal(err)
	}
	cg, err := newCgroup(cgroupPath(&specs.Spec{}, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	leftover := exec.Command("sleep", "60")
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	dirs, err := cgroupDirs(cg.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(leftover.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Delete(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if err := leftover.Wait(); err == nil {
		t.Error("the process left in the cgroup was not killed")
	}
	for _, d := range append(dirs, filepath.Join(r.StateDir, id)) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	if err := r.Delete(ctx, "neverwas", true); !errdefs.IsNotFound(err) {
		t.Errorf("Delete of a container that never was: %v, want not found", err)
	}
}

// A network namespace made ahead (NewNetworkNamespace) is the one the
// container joins, whether Create spawns it or starts the init.
func TestNetworkNamespaceAhead(t *testing.T) {
	for _, noSpawn := range []bool{false, true} {
		bundle, spec := busyboxBundle(t, "sleep", "60")
		writeSpec(t, bundle, spec)
		ctx := context.Background()
		r := &Runtime{StateDir: t.TempDir(), noSpawn: noSpawn}
		netns := NewNetworkNamespace()
		f, err := netns.file()
		if err != nil {
			t.Fatal(err)
		}
		var want unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &want); err != nil {
			t.Fatal(err)
		}
		c, err := r.Create(ctx, "ahead", bundle, CreateOptions{NetworkNamespace: netns})
		if err != nil {
			t.Fatal(err)
		}
		var got unix.Stat_t
		err = unix.Stat("/proc/"+itoa(c.Pid)+"/ns/net", &got)
		if derr := r.Delete(ctx, "ahead", true); derr != nil {
			t.Errorf("noSpawn %v: delete: %v", noSpawn, derr)
		}
		if err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
			t.Errorf("noSpawn %v: the container's network namespace is %d, not the one made ahead, %d (%v)", noSpawn, got.Ino, want.Ino, err)
		}
	}
}

// Create spawns a container where the host allows it (here: the state
// says held), and then leaves tabula non-dumpable: between its fork and its
// execve the program shares tabula's memory, and only a tracer with
// CAP_SYS_PTRACE may then attach to it.
func TestSpawnLeavesTabulaUndumpable(t *testing.T) {
	bundle, spec := busyboxBundle(t, "true")
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil { // as other tests left it
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "undumpable", bundle, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "undumpable", true)
	st, err := r.loadState("undumpable")
	if err != nil {
		t.Fatal(err)
	}
	spawnable := canSpawn(unifiedHost(), nil)
	if st.Held != spawnable {
		t.Errorf("held = %v; spawning is possible on this host: %v", st.Held, spawnable)
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || spawnable && d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, %v; want 0 after a spawn", d, err)
	}
}

// A container that may trace (CAP_SYS_PTRACE, as debug's toolbox has) and
// joins another's PID namespace marks that container: execs into it go
// through the init from then on. One that may not trace marks nothing.
func TestTracedPIDNamespace(t *testing.T) {
	ctx := context.Background()
	r := &Runtime{StateDir: t.TempDir()}
	bundle, spec := busyboxBundle(t, "sleep", "60")
	writeSpec(t, bundle, spec)
	target, err := r.Create(ctx, "target", bundle, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, "target", true)
	dir, _ := r.containerDir("target")
	for i, caps := range [][]string{nil, {"CAP_SYS_PTRACE"}} {
		jb, js := busyboxBundle(t, "sleep", "60")
		for j, ns := range js.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				js.Linux.Namespaces[j].Path = "/proc/" + itoa(target.Pid) + "/ns/pid"
			}
		}
		js.Process.Capabilities.Bounding = append(js.Process.Capabilities.Bounding, caps...)
		writeSpec(t, jb, js)
		id := "joiner" + itoa(i)
		c, err := r.Create(ctx, id, jb, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Reaped before the target goes: its PID 1 cannot finish dying
		// while a zombie of its namespace waits for its parent.
		defer func() {
			r.Delete(ctx, id, true)
			c.Wait()
		}()
		if got, want := pidnsTraced(dir), len(caps) > 0; got != want {
			t.Errorf("joiner with %v: target marked %v, want %v", caps, got, want)
		}
	}
	if out, code := execOut(t, r, "target", "echo", "exec'd"); code != 0 || !strings.Contains(out, "exec'd") {
		t.Errorf("exec into the marked container: %q, code %d", out, code)
	}
}

// A container created with Start runs at once, as runc run's do, with a
// pids limit too (set before the program runs), and leaves nothing behind.
func TestCreateStart(t *testing.T) {
	ctx := context.Background()
	bundle, spec := busyboxBundle(t, "sh", "-c", "echo started; exit 3")
	for _, tc := range []struct {
		noSpawn bool
		pids    int64
	}{{false, 0}, {false, 20}, {true, 0}} {
		r := &Runtime{StateDir: t.TempDir(), noSpawn: tc.noSpawn}
		pids := tc.pids
		spec.Linux.Resources.Pids = nil
		if pids > 0 {
			spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		}
		writeSpec(t, bundle, spec)
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Create(ctx, "started", bundle, CreateOptions{Stdout: out, Start: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, "started"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("%+v: Start of a container created started: %v; want a failed precondition", tc, err)
		}
		if st, err := c.Wait(); err != nil || st.Code != 3 {
			t.Errorf("%+v: exit status %+v, %v; want 3", tc, st, err)
		}
		if b, _ := os.ReadFile(out.Name()); string(b) != "started\n" {
			t.Errorf("%+v: output %q; want the program's", tc, b)
		}
		assertGone(t, r, "started", bundle)
	}
}
