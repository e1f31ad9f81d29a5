package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tabula-dev/tabula/internal/testenv"
	"github.com/tabula-dev/tabula/store"
)

// imageFile is one file of a test image.
type imageFile struct {
	content []byte
	mode    int64
	dir     bool
	link    string // a symlink's target
}

// writeImage stores a one-layer FROM scratch image under name in the env's
// store, made with go-containerregistry alone (no tabula build).
func (e *env) writeImage(name string, files map[string]imageFile, cfg v1.Config) {
	e.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		h := &tar.Header{Name: n, Mode: f.mode, Size: int64(len(f.content)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if f.link != "" {
			h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, f.link
		}
		if err := tw.WriteHeader(h); err != nil {
			e.t.Fatal(err)
		}
		tw.Write(f.content)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		e.t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l})
	if err != nil {
		e.t.Fatal(err)
	}
	if img, err = mutate.Config(img, cfg); err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(e.root, "images"))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := st.Write(context.Background(), img, name); err != nil {
		e.t.Fatal(err)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runEnv is an env with the test images every container test uses:
// hello (prints Hello from scratch!), sleep (/sleep as seed 001 builds it),
// probe (the probe tool, with an /etc/passwd) and bare (probe without one).
func runEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireRoot(t)
	e := newEnv(t)
	// A failed test leaves no container running behind it.
	t.Cleanup(func() {
		ids := strings.Fields(e.run("ps", "-aq").stdout)
		if len(ids) > 0 {
			e.run(append([]string{"rm", "-f"}, ids...)...)
		}
	})
	exe := func(p string) imageFile { return imageFile{content: mustRead(t, p), mode: 0o755} }
	e.writeImage("hello", map[string]imageFile{"hello": exe(goProgram(t, "hello", nil))}, v1.Config{Entrypoint: []string{"/hello"}})
	e.writeImage("sleep", map[string]imageFile{"sleep": exe(goProgram(t, "sleep", nil))}, v1.Config{Entrypoint: []string{"/sleep"}})
	probe := exe(goProgram(t, "probe", nil))
	e.writeImage("probe", map[string]imageFile{
		"probe":      probe,
		"etc/":       {dir: true, mode: 0o755},
		"etc/passwd": {content: []byte("root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\n"), mode: 0o644},
		"etc/group":  {content: []byte("root:x:0:\napp:x:1000:\nextra:x:2000:app\n"), mode: 0o644},
		"notexec":    {content: []byte("data"), mode: 0o644},
	}, v1.Config{Entrypoint: []string{"/probe"}, Env: []string{"IMAGE_VAR=from-image"}})
	e.writeImage("bare", map[string]imageFile{"probe": probe}, v1.Config{Entrypoint: []string{"/probe"}})
	return e
}

// containerDirs lists <root>/containers, once the containers removed
// lately are gone (waitRemoved), but for the directories kept for new
// containers (.recycled), which must hold nothing of the containers they
// were.
func (e *env) containerDirs() []string {
	e.waitRemoved()
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	var out []string
	for _, d := range ents {
		if d.Name() == ".recycled" {
			e.checkRecycled(filepath.Join(e.root, "containers", d.Name()))
			continue
		}
		out = append(out, d.Name())
	}
	return out
}

// checkRecycled checks that the directories kept in dir have no record or
// log, an empty writable layer and work directory, and an empty spec.
func (e *env) checkRecycled(dir string) {
	e.t.Helper()
	kept, _ := os.ReadDir(dir)
	for _, k := range kept {
		for _, f := range []string{"state.json", "container.log"} {
			if _, err := os.Lstat(filepath.Join(dir, k.Name(), f)); err == nil {
				e.t.Errorf("kept directory %s holds the %s of the container it was", k.Name(), f)
			}
		}
		for _, d := range []string{"upper", "work"} {
			if ents, _ := os.ReadDir(filepath.Join(dir, k.Name(), d)); len(ents) > 0 {
				e.t.Errorf("kept directory %s: %s is not empty: %v", k.Name(), d, ents)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, k.Name(), "config.json")); len(b) > 0 {
			e.t.Errorf("kept directory %s holds the spec of the container it was", k.Name())
		}
	}
}

// assertNothingLeft checks that container id (or, with id "", any
// container) left no directory, runtime state, cgroup or mount behind. A
// container removed when it exited is gone from listings at once, and its
// files a moment later (a detached process removes them): they are waited
// for, ten seconds at most.
func (e *env) assertNothingLeft(id string) {
	e.t.Helper()
	e.waitRemoved()
	if id == "" {
		if d := e.containerDirs(); len(d) != 0 {
			e.t.Errorf("container directories left behind: %v", d)
		}
		ents, _ := os.ReadDir(filepath.Join(e.root, "runtime"))
		if len(ents) != 0 {
			e.t.Errorf("runtime state left behind: %v", ents)
		}
	} else if _, err := os.Stat(filepath.Join(e.root, "containers", id)); err == nil {
		e.t.Errorf("container %s: its directory is still there", id)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), e.root) {
		e.t.Errorf("mounts below %s left on the host", e.root)
	}
	if id != "" {
		for _, p := range []string{"/sys/fs/cgroup/memory/tabula/" + id, "/sys/fs/cgroup/pids/tabula/" + id, "/sys/fs/cgroup/tabula/" + id, "/sys/fs/cgroup/unified/tabula/" + id} {
			if _, err := os.Stat(p); err == nil {
				e.t.Errorf("cgroup %s left behind", p)
			}
		}
	}
}

// waitRemoved waits, ten seconds at most, until the container directories
// and runtime states renamed away for removal are gone.
func (e *env) waitRemoved() {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		left := false
		for _, d := range []string{"containers", "runtime"} {
			ents, _ := os.ReadDir(filepath.Join(e.root, d))
			for _, ent := range ents {
				left = left || strings.HasPrefix(ent.Name(), ".removing-")
			}
		}
		if !left {
			return
		}
	}
}

// waitForLog waits, for ten seconds at most, until container ref has
// logged a line starting with line, on either stream.
func (e *env) waitForLog(ref, line string) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := e.run("logs", ref)
		if hasLine(r.stdout, line) || hasLine(r.stderr, line) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s has not logged %q in 10 s: %s", ref, line, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) inspect(ref string) map[string]any {
	e.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(e.ok("inspect", ref)), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

func stateOf(m map[string]any) map[string]any { return m["State"].(map[string]any) }

// TestRunSeed001 is seed 001 without Docker: the instance of a scratch
// sleep container holds dev, etc, proc, sys and the binary; etc holds the
// runtime's files; debug sees the sleep as PID 1.
func TestRunSeed001(t *testing.T) {
	e := runEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "sleep", "sleep"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64 hex digit ID", id)
	}
	insp := e.inspect("sleep")
	pid := int(stateOf(insp)["Pid"].(float64))
	// The mount points and /etc files come from the base layer shared by
	// all containers: the container's writable layer stays empty.
	upper, _ := insp["GraphDriver"].(map[string]any)["Data"].(map[string]any)["UpperDir"].(string)
	if ents, err := os.ReadDir(upper); err != nil || len(ents) != 0 {
		t.Errorf("inspect's GraphDriver UpperDir %q holds %v (%v), want nothing", upper, ents, err)
	}
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	if got := lsNames(t, root); got != "dev etc proc sleep sys" {
		t.Errorf("the container's root holds %q, want dev etc proc sleep sys", got)
	}
	if got := lsNames(t, root+"/etc"); got != "hostname hosts mtab resolv.conf" {
		t.Errorf("/etc holds %q", got)
	}
	if l, err := os.Readlink(root + "/etc/mtab"); err != nil || l != "/proc/mounts" {
		t.Errorf("/etc/mtab -> %q (%v), want /proc/mounts", l, err)
	}
	if h := string(mustRead(t, root+"/etc/hostname")); h != id[:12]+"\n" {
		t.Errorf("/etc/hostname = %q, want the short ID", h)
	}
	hosts := string(mustRead(t, root+"/etc/hosts"))
	if !strings.Contains(hosts, "127.0.0.1\tlocalhost") || !strings.Contains(hosts, id[:12]) {
		t.Errorf("/etc/hosts lacks localhost or the host name:\n%s", hosts)
	}
	for _, l := range strings.Split(string(mustRead(t, root+"/etc/resolv.conf")), "\n") {
		if strings.HasPrefix(l, "nameserver 127.") || l == "nameserver ::1" {
			t.Errorf("resolv.conf keeps the loopback resolver %q", l)
		}
	}

	t.Run("debug", func(t *testing.T) {
		testenv.RequireCommand(t, "busybox")
		if out := e.ok("debug", "sleep", "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "/sleep") {
			t.Errorf("PID 1 of the debug toolbox is %q, want /sleep", out)
		}
		if out := e.ok("debug", "sleep", "ls", "/proc/1/root"); strings.Join(strings.Fields(out), " ") != "dev etc proc sleep sys" {
			t.Errorf("ls /proc/1/root in the toolbox: %q", out)
		}
		if out := e.ok("debug", "sleep", "hostname"); strings.TrimSpace(out) != id[:12] {
			t.Errorf("the toolbox's host name is %q, want the target's %s", out, id[:12])
		}
		if n := len(e.containerDirs()); n != 1 {
			t.Errorf("%d container directories after the debug sessions, want only the target's", n)
		}
		r := e.fails("debug", "nosuch")
		if r.code != 125 || !strings.Contains(r.stderr, "no such container") {
			t.Errorf("debug of a missing container: %s", r)
		}
	})

	t.Run("debug with an image", func(t *testing.T) {
		out := strings.Fields(e.ok("debug", "--image", "probe", "sleep", "pids"))
		if len(out) != 2 || out[0] != "1" {
			t.Errorf("processes seen by the probe toolbox: %v, want the sleep as 1 and itself", out)
		}
		if out := e.ok("debug", "--image", "probe", "sleep", "readlink", "/proc/1/exe"); out != "/sleep\n" {
			t.Errorf("/proc/1/exe in the toolbox: %q", out)
		}
	})

	e.ok("rm", "-f", "sleep")
	e.assertNothingLeft(id)
	e.assertNothingLeft("")
}

func lsNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestRunForeground(t *testing.T) {
	e := runEnv(t)
	if out := e.ok("run", "--rm", "hello"); out != "Hello from scratch!\n" {
		t.Errorf("run --rm hello printed %q", out)
	}
	e.assertNothingLeft("")
	// Gone from listings as soon as run returns, its files a moment
	// later, those it wrote in its writable layer included.
	if out := e.ok("run", "--rm", "-w", "/work/dir", "probe", "write", "/work/dir/f"); out != "ok\n" {
		t.Errorf("probe write printed %q", out)
	}
	if out := e.ok("ps", "-aq"); out != "" {
		t.Errorf("ps -a right after run --rm: %q", out)
	}
	e.assertNothingLeft("")
	// A relative --root names the same store from its parent directory.
	rel := exec.Command(tabulaBin(), "--root", filepath.Base(e.root), "run", "--rm", "hello")
	rel.Dir = filepath.Dir(e.root)
	if out, err := rel.CombinedOutput(); err != nil || string(out) != "Hello from scratch!\n" {
		t.Errorf("run --rm hello with a relative --root: %v\n%s", err, out)
	}
	e.assertNothingLeft("")

	host := t.TempDir()
	writeFiles(t, host, map[string]string{"f": "from the host\n"})
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string // a line stdout must hold
		err  string // what stderr must say
	}{
		{"exit code", []string{"probe", "exit", "3"}, 3, "", ""},
		{"exit code 0", []string{"probe", "exit", "0"}, 0, "", ""},
		{"not found", []string{"--entrypoint", "/nope", "probe"}, 127, "", "/nope"},
		{"not executable", []string{"--entrypoint", "/notexec", "probe"}, 126, "", "not executable"},
		{"user numeric", []string{"-u", "65532:65532", "probe", "uid"}, 0, "65532:65532", ""},
		{"user by name", []string{"-u", "app", "probe", "uid"}, 0, "1000:1000", ""},
		{"user without capabilities", []string{"-u", "65532:65532", "--cap-drop", "ALL", "probe", "uid"}, 0, "65532:65532", ""},
		{"root without capabilities", []string{"--cap-drop", "ALL", "probe", "uid"}, 0, "0:0", ""},
		{"user by name without /etc/passwd", []string{"-u", "app", "bare", "uid"}, 125, "", "/etc/passwd"},
		{"env", []string{"-e", "FOO=bar", "probe", "env"}, 0, "FOO=bar", ""},
		{"image env", []string{"probe", "env"}, 0, "IMAGE_VAR=from-image", ""},
		{"env overrides image", []string{"-e", "IMAGE_VAR=flag", "probe", "env"}, 0, "IMAGE_VAR=flag", ""},
		{"default PATH", []string{"bare", "env"}, 0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ""},
		{"hostname", []string{"--hostname", "box", "probe", "cat", "/etc/hostname"}, 0, "box", ""},
		{"workdir", []string{"-w", "/work/dir", "probe", "pwd"}, 0, "/work/dir", ""},
		{"bind mount", []string{"-v", host + ":/data", "probe", "cat", "/data/f"}, 0, "from the host", ""},
		{"bind mount rw", []string{"-v", host + ":/data", "probe", "write", "/data/new"}, 0, "ok", ""},
		{"bind mount ro", []string{"-v", host + ":/data:ro", "probe", "write", "/data/x"}, 1, "", "read-only file system"},
		{"read-only root", []string{"--read-only", "probe", "write", "/x"}, 1, "", "read-only file system"},
		{"writable root", []string{"probe", "write", "/x"}, 0, "ok", ""},
		{"tmpfs on a read-only root", []string{"--read-only", "--tmpfs", "/scratch", "probe", "write", "/scratch/x"}, 0, "ok", ""},
		{"pids limit", []string{"--pids-limit", "8", "probe", "spawn", "30"}, 0, "started ", ""},
		{"memory limit", []string{"--memory", "32m", "probe", "alloc", "200"}, 137, "", ""},
		{"memory within the limit", []string{"--memory", "64m", "probe", "alloc", "16"}, 0, "allocated 16 MB", ""},
		{"init", []string{"--init", "probe", "exit", "5"}, 5, "", ""},
		{"shell form without /bin/sh", []string{"--entrypoint", "/bin/sh", "probe", "-c", "echo hi"}, 127, "", "no /bin/sh"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(append([]string{"run", "--rm"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r)
			}
			if tt.out != "" && !hasLine(r.stdout, tt.out) {
				t.Errorf("stdout lacks %q: %s", tt.out, r)
			}
			if tt.err != "" && !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(tt.err)) {
				t.Errorf("stderr does not say %q: %s", tt.err, r)
			}
			if tt.name == "pids limit" {
				n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(r.stdout), "started "))
				if n >= 30 || n == 0 {
					t.Errorf("%d processes started under --pids-limit 8", n)
				}
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(host, "new")); err != nil || string(b) != "written\n" {
		t.Errorf("the write through the bind mount did not reach the host: %q %v", b, err)
	}
	e.assertNothingLeft("")

	// Without --rm the exit stays on record, OOM kill included.
	r := e.run("run", "--name", "oom", "--memory", "32m", "probe", "alloc", "200")
	if r.code != 137 {
		t.Fatalf("OOM run: %s", r)
	}
	st := stateOf(e.inspect("oom"))
	if st["Status"] != "exited" || st["ExitCode"].(float64) != 137 || st["OOMKilled"] != true {
		t.Errorf("inspect after the OOM kill: %v", st)
	}
	e.ok("rm", "oom")
	e.assertNothingLeft("")
}

func hasLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, want) {
			return true
		}
	}
	return false
}

// TestRunSignals: SIGTERM sent to tabula run reaches the container's PID 1.
func TestRunSignals(t *testing.T) {
	e := runEnv(t)
	for _, init := range []bool{false, true} {
		name := "trap-" + strconv.FormatBool(init)
		args := []string{"--root", e.root, "run", "--rm", "--name", name}
		if init {
			args = append(args, "--init")
		}
		cmd := exec.Command(tabulaBin(), append(args, "probe", "trap")...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		if l, err := br.ReadString('\n'); err != nil || l != "ready\n" {
			cmd.Process.Kill()
			t.Fatalf("init=%v: first line %q %v; stderr %s", init, l, err, stderr.String())
		}
		// A foreground container is complete (its config.json written)
		// once its program runs.
		if r := e.run("exec", name, "/probe", "uid"); r.code != 0 || r.stdout != "0:0\n" {
			t.Errorf("init=%v: exec into the running container: %s", init, r)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(br)
		err = cmd.Wait()
		if string(rest) != "got terminated\n" || cmd.ProcessState.ExitCode() != 42 {
			t.Errorf("init=%v: after SIGTERM: %q, %v (want got terminated, exit 42); stderr %s", init, rest, err, stderr.String())
		}
	}
	e.assertNothingLeft("")
}

// TestRunDetached covers -d, ps, logs, stop, kill, wait, rm, exec and the
// record surviving a killed monitor.
func TestRunDetached(t *testing.T) {
	e := runEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "logger", "probe", "log"))
	if ps := e.ok("ps"); !strings.Contains(ps, id[:12]) || !strings.Contains(ps, "Up ") || !strings.Contains(ps, "logger") {
		t.Errorf("ps:\n%s", ps)
	}
	if f := e.ok("ps", "--format", "{{.Names}} {{.State}}"); f != "logger running\n" {
		t.Errorf("ps --format template: %q", f)
	}
	if q := e.ok("ps", "-q"); strings.TrimSpace(q) != id[:12] {
		t.Errorf("ps -q: %q", q)
	}
	e.waitForLog("logger", "err 1")
	r := e.run("logs", "logger")
	if !hasLine(r.stdout, "line 0") || !hasLine(r.stderr, "err 0") || strings.Contains(r.stdout, "err 0") {
		t.Errorf("logs: streams not kept apart: %s", r)
	}
	if r := e.run("logs", "--tail", "1", "--timestamps", "logger"); strings.Count(r.stdout+r.stderr, "\n") != 1 ||
		!(strings.Contains(r.stdout, "Z line ") || strings.Contains(r.stderr, "Z err ")) {
		t.Errorf("logs --tail 1 --timestamps: %s", r)
	}
	if out := e.ok("exec", "logger", "/probe", "cat", "/etc/hostname"); out != id[:12]+"\n" {
		t.Errorf("exec: %q", out)
	}
	if r := e.run("exec", "-u", "app", "-w", "/etc", "logger", "/probe", "uid"); r.code != 0 || r.stdout != "1000:1000\n" {
		t.Errorf("exec -u app: %s", r)
	}
	if r := e.run("exec", "logger", "/probe", "exit", "7"); r.code != 7 {
		t.Errorf("exec exit code: %s", r)
	}
	if r := e.run("exec", "logger", "/nope"); r.code != 127 {
		t.Errorf("exec of a missing program: %s", r)
	}
	// A unique prefix of the ID works as well as the name.
	e.ok("stop", "-t", "5", id[:8])
	st := stateOf(e.inspect("logger"))
	if st["Status"] != "exited" || st["Running"] != false {
		t.Errorf("after stop: %v", st)
	}
	if out := strings.TrimSpace(e.ok("wait", "logger")); out != "2" {
		t.Errorf("wait printed %q, want the exit code 2 of a Go program killed by SIGTERM as PID 1", out)
	}
	if ps := e.ok("ps"); strings.Contains(ps, id[:12]) {
		t.Errorf("ps still lists the stopped container:\n%s", ps)
	}
	if ps := e.ok("ps", "-a"); !strings.Contains(ps, "Exited (2)") {
		t.Errorf("ps -a:\n%s", ps)
	}
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.ok("ps", "-a", "--format", "json")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ps --format json: %q: %v", l, err)
		}
		rows = append(rows, m)
	}
	if len(rows) != 1 || rows[0]["State"] != "exited" || rows[0]["Names"] != "logger" {
		t.Errorf("ps --format json: %v", rows)
	}
	if r := e.fails("run", "--name", "logger", "probe"); r.code != 125 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("a taken name: %s", r)
	}
	e.ok("rm", "logger")
	e.assertNothingLeft(id)

	// kill -s, and --rm with -d.
	id = strings.TrimSpace(e.ok("run", "-d", "--rm", "probe", "trap"))
	e.waitForLog(id, "ready") // its handler is in place
	e.ok("kill", "-s", "TERM", id)
	for deadline := time.Now().Add(10 * time.Second); len(e.containerDirs()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	e.assertNothingLeft(id)

	// An OOM kill of a detached container is recorded by its monitor.
	e.ok("run", "-d", "--name", "oomd", "--memory", "32m", "probe", "alloc", "200")
	if out := strings.TrimSpace(e.ok("wait", "oomd")); out != "137" {
		t.Errorf("wait after an OOM kill printed %q, want 137", out)
	}
	if st := stateOf(e.inspect("oomd")); st["OOMKilled"] != true || st["Status"] != "exited" {
		t.Errorf("inspect after an OOM kill: %v", st)
	}
	e.ok("rm", "oomd")

	// A failing detached start leaves nothing.
	if r := e.fails("run", "-d", "--entrypoint", "/nope", "probe"); r.code != 127 {
		t.Errorf("run -d of a missing program: %s", r)
	}
	e.assertNothingLeft("")
}

// TestRunMonitorKilled: a container whose monitor died is never shown as
// running once its process is gone.
func TestRunMonitorKilled(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "orphan", "probe", "sleep")
	m := e.inspect("orphan")
	monitor := int(m["MonitorPid"].(float64))
	pid := int(stateOf(m)["Pid"].(float64))
	if err := syscall.Kill(monitor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if st := stateOf(e.inspect("orphan")); st["Status"] != "running" {
		t.Errorf("the container still runs without its monitor, but inspect says %v", st)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	// Dead once a zombie or reaped: an exiting process has lost its root
	// before, while it tears its namespaces down.
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if s := string(b); err != nil || strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ps := e.ok("ps"); strings.Contains(ps, "orphan") {
		t.Errorf("ps lists a dead container as running:\n%s", ps)
	}
	if st := stateOf(e.inspect("orphan")); st["Status"] != "exited" || st["Running"] != false {
		t.Errorf("inspect of a dead container: %v", st)
	}
	e.ok("rm", "orphan")
	e.assertNothingLeft("")
}

// TestRunBadInput: errors are clear and leave nothing behind.
func TestRunBadInput(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "--name", "taken", "probe", "exit", "0")
	before := e.containerDirs()
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown image", []string{"nosuchimage"}, "nosuchimage"},
		{"memory below the minimum", []string{"--memory", "4m", "probe"}, "minimum memory"},
		{"memory not a size", []string{"--memory", "lots", "probe"}, "not a size"},
		{"cpus", []string{"--cpus", "many", "probe"}, "--cpus"},
		{"name taken", []string{"--name", "taken", "probe"}, "already in use"},
		{"bad name", []string{"--name", "../x", "probe"}, "invalid container name"},
		{"relative volume", []string{"-v", "data:/data", "probe"}, "absolute"},
		{"missing volume", []string{"-v", "/nonexistent/dir:/data", "probe"}, "does not exist"},
		{"network", []string{"--network", "bridge", "probe"}, "--network"},
		{"capability", []string{"--cap-add", "NOT_A_CAP", "probe"}, "unknown capability"},
		{"stop signal", []string{"--stop-signal", "SIGNOPE", "probe"}, "unknown signal"},
		{"ulimit", []string{"--ulimit", "nofile=x", "probe"}, "--ulimit"},
		{"security opt", []string{"--security-opt", "apparmor=x", "probe"}, "--security-opt"},
		{"pid of a missing container", []string{"--pid", "container:nosuch", "probe"}, "no such container"},
		{"no command", []string{"--entrypoint", "", "probe"}, "no ENTRYPOINT or CMD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.fails(append([]string{"run", "--rm"}, tt.args...)...)
			if r.code != 125 || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("want exit 125 saying %q: %s", tt.msg, r)
			}
			if got := e.containerDirs(); strings.Join(got, " ") != strings.Join(before, " ") {
				t.Errorf("containers now %v, before %v", got, before)
			}
		})
	}
	e.ok("rm", "taken")
	e.assertNothingLeft("")
	ents, _ := os.ReadDir(filepath.Join(e.root, "names"))
	if len(ents) != 0 {
		t.Errorf("names left reserved: %v", ents)
	}
}

// TestRunTerminal: -t gives the container a pty of its own; -i passes
// stdin; exit codes come through both.
func TestRunTerminal(t *testing.T) {
	e := runEnv(t)
	cmd := exec.Command(tabulaBin(), "--root", e.root, "run", "--rm", "-t", "probe", "readlink", "/proc/self/fd/1")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(ptmx)
	cmd.Wait()
	if !strings.HasPrefix(strings.TrimSpace(string(out)), "/dev/pts/") || cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("run -t: stdout is %q (exit %d), want a /dev/pts terminal", out, cmd.ProcessState.ExitCode())
	}
	cmd = exec.Command(tabulaBin(), "--root", e.root, "run", "--rm", "-t", "probe", "exit", "9")
	if ptmx, err = pty.Start(cmd); err != nil {
		t.Fatal(err)
	}
	io.ReadAll(ptmx)
	if cmd.Wait(); cmd.ProcessState.ExitCode() != 9 {
		t.Errorf("run -t exit code %d, want 9", cmd.ProcessState.ExitCode())
	}
	if r := e.runIn("", []byte("from stdin\n"), "run", "--rm", "-i", "probe", "cat", "/dev/stdin"); r.code != 0 || r.stdout != "from stdin\n" {
		t.Errorf("run -i: %s", r)
	}
	if r := e.runIn("", []byte("from stdin\n"), "run", "--rm", "probe", "cat", "/dev/stdin"); r.code != 0 || r.stdout != "" {
		t.Errorf("run without -i read stdin: %s", r)
	}
	e.ok("run", "-d", "--name", "box", "probe", "sleep")
	if r := e.runIn("", []byte("exec stdin\n"), "exec", "-i", "box", "/probe", "cat", "/dev/stdin"); r.code != 0 || r.stdout != "exec stdin\n" {
		t.Errorf("exec -i: %s", r)
	}
	if r := e.fails("exec", "-t", "box", "/probe", "uid"); r.code != 125 || !strings.Contains(r.stderr, "not a terminal") {
		t.Errorf("exec -t without a terminal: %s", r)
	}
	e.ok("rm", "-f", "box")
	e.assertNothingLeft("")
}

// TestRunIsolation: what a container must not see or do, through tabula run.
func TestRunIsolation(t *testing.T) {
	e := runEnv(t)
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"host processes invisible", []string{"probe", "pids"}, 0, "1\n"},
		{"/proc/sys read-only", []string{"-u", "0", "probe", "write", "/proc/sys/kernel/hostname"}, 1, ""},
		{"mount denied", []string{"-u", "0", "probe", "mount"}, 1, ""},
		{"user namespaces denied", []string{"-u", "0", "probe", "unshare-user"}, 1, ""},
		{"keyctl denied", []string{"-u", "0", "probe", "keyctl"}, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(append([]string{"run", "--rm"}, tt.args...)...)
			if r.code != tt.code || (tt.code == 0 && r.stdout != tt.out) {
				t.Errorf("exit %d, want %d with %q: %s", r.code, tt.code, tt.out, r)
			}
		})
	}

	// Masked paths: files read empty, directories list nothing. Which of
	// them exist depends on the kernel (a VM's may have no /proc/kcore).
	masked := 0
	for _, m := range []struct{ path, op string }{
		{"/proc/kcore", "cat"}, {"/proc/keys", "cat"}, {"/proc/timer_list", "cat"}, {"/sys/firmware", "ls"},
	} {
		if _, err := os.Stat(m.path); err != nil {
			continue
		}
		masked++
		if r := e.run("run", "--rm", "-u", "0", "probe", m.op, m.path); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
			t.Errorf("%s is not masked: %s", m.path, r)
		}
	}
	if masked == 0 {
		t.Error("none of the masked paths exists on this host: nothing was checked")
	}

	// Only fds 0-2 reach the program (CVE-2024-21626): any other is the
	// program's own (Go's runtime keeps its cgroup CPU quota files open;
	// the listing has its directory open).
	r := e.run("run", "--rm", "probe", "fds", "-v")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "0 ") {
		t.Fatalf("fds: %s", r)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		n, target, _ := strings.Cut(l, " ")
		if fd, _ := strconv.Atoi(n); fd > 2 && !strings.HasPrefix(target, "/sys/fs/cgroup/") && target != "/proc/1/fd" {
			t.Errorf("fd %d (%s) reached the container", fd, target)
		}
	}

	// Absolute symlinks in the image resolve inside the container's root,
	// as -v target and as WORKDIR.
	outside := t.TempDir()
	e.writeImage("links", map[string]imageFile{
		"probe":  {content: mustRead(t, goProgram(t, "probe", nil)), mode: 0o755},
		"escape": {link: outside},
		"up":     {link: "../../../../../../../../" + outside},
	}, v1.Config{Entrypoint: []string{"/probe"}, WorkingDir: "/up/work"})
	host := t.TempDir()
	writeFiles(t, host, map[string]string{"f": "bound\n"})
	if r := e.run("run", "--rm", "-v", host+":/escape/mnt", "links", "cat", "/escape/mnt/f"); r.code != 0 || r.stdout != "bound\n" {
		t.Errorf("-v through an absolute symlink: %s", r)
	}
	if r := e.run("run", "--rm", "links", "pwd"); r.code != 0 || r.stdout != outside+"/work\n" {
		t.Errorf("WORKDIR through a relative symlink: %s", r)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("the host directory the image's symlinks name was changed: %v", ents)
	}
	e.assertNothingLeft("")
}
