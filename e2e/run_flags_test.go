package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestRunFlags: each of tabula run's flags that TestRunForeground does not
// cover changes what the program sees, as it does under docker run.
func TestRunFlags(t *testing.T) {
	e := runEnv(t)
	hostNS := func(kind string) string {
		l, err := os.Readlink("/proc/self/ns/" + kind)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	writeFiles(t, dir, map[string]string{
		"env": "# a comment\nFROM_FILE=yes\n\nSPACED=a b\n",
		// A profile of the user's own: everything but mount (Docker's
		// denies keyctl, and allows mount to CAP_SYS_ADMIN).
		"seccomp.json": `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}`,
	})

	for _, tt := range []struct {
		name string
		args []string
		code int
		has  []string // lines stdout must hold
		not  []string // lines stdout must not hold
	}{
		{"env file", []string{"--env-file", envFile, "probe", "env"}, 0, []string{"FROM_FILE=yes", "SPACED=a b"}, nil},
		{"env flag over env file", []string{"--env-file", envFile, "-e", "FROM_FILE=flag", "probe", "env"}, 0, []string{"FROM_FILE=flag"}, []string{"FROM_FILE=yes"}},
		{"no new privileges off by default", []string{"probe", "cat", "/proc/self/status"}, 0, []string{"NoNewPrivs:\t0"}, nil},
		{"no new privileges", []string{"--security-opt", "no-new-privileges", "probe", "cat", "/proc/self/status"}, 0, []string{"NoNewPrivs:\t1"}, nil},
		{"seccomp filter by default", []string{"probe", "cat", "/proc/self/status"}, 0, []string{"Seccomp:\t2"}, nil},
		{"seccomp unconfined", []string{"--security-opt", "seccomp=unconfined", "probe", "cat", "/proc/self/status"}, 0, []string{"Seccomp:\t0"}, nil},
		{"seccomp unconfined allows keyctl", []string{"--security-opt", "seccomp=unconfined", "probe", "keyctl"}, 0, []string{"keyctl allowed"}, nil},
		{"seccomp profile file allows", []string{"--security-opt", "seccomp=" + filepath.Join(dir, "seccomp.json"), "probe", "keyctl"}, 0, []string{"keyctl allowed"}, nil},
		{"seccomp profile file denies", []string{"--security-opt", "seccomp=" + filepath.Join(dir, "seccomp.json"), "--cap-add", "SYS_ADMIN", "probe", "mount"}, 1, nil, nil},
		{"capabilities dropped", []string{"probe", "cat", "/proc/self/status"}, 0, []string{"CapEff:\t00000000a80425fb"}, nil},
		{"cap-add", []string{"--cap-add", "SYS_ADMIN", "probe", "mount"}, 0, []string{"mounted"}, nil},
		{"cap-drop ALL", []string{"--cap-drop", "ALL", "probe", "cat", "/proc/self/status"}, 0, []string{"CapEff:\t0000000000000000"}, nil},
		{"privileged", []string{"--privileged", "probe", "mount"}, 0, []string{"mounted"}, nil},
		{"privileged /proc/sys writable", []string{"--privileged", "probe", "write", "/proc/sys/kernel/hostname"}, 0, []string{"ok"}, nil},
		// (Go raises its own soft limit of open files: core sizes stay as set.)
		{"ulimit", []string{"--ulimit", "core=1000:2000", "probe", "cat", "/proc/self/limits"}, 0, []string{"Max core file size        1000                 2000                 bytes     "}, nil},
		{"network none", []string{"probe", "ls", "/sys/class/net"}, 0, []string{"lo"}, nil},
		{"network host", []string{"--network", "host", "probe", "readlink", "/proc/self/ns/net"}, 0, []string{hostNS("net")}, nil},
		{"network isolated", []string{"probe", "readlink", "/proc/self/ns/net"}, 0, nil, []string{hostNS("net")}},
		{"ipc host", []string{"--ipc", "host", "probe", "readlink", "/proc/self/ns/ipc"}, 0, []string{hostNS("ipc")}, nil},
		{"pid host", []string{"--pid", "host", "probe", "readlink", "/proc/self/ns/pid"}, 0, []string{hostNS("pid")}, nil},
		{"cpus", []string{"--cpus", "0.5", "probe", "cpu-max"}, 0, []string{"50000 100000"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(append([]string{"run", "--rm"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r)
			}
			for _, l := range tt.has {
				if !hasLine(r.stdout, l) {
					t.Errorf("stdout lacks %q: %s", l, r)
				}
			}
			for _, l := range tt.not {
				if hasLine(r.stdout, l) {
					t.Errorf("stdout holds %q: %s", l, r)
				}
			}
		})
	}

	// --pid and --ipc container:NAME share a running container's namespaces.
	e.ok("run", "-d", "--name", "target", "probe", "sleep")
	pidNS := strings.TrimSpace(e.ok("exec", "target", "/probe", "readlink", "/proc/self/ns/pid"))
	ipcNS := strings.TrimSpace(e.ok("exec", "target", "/probe", "readlink", "/proc/self/ns/ipc"))
	if out := e.ok("run", "--rm", "--pid", "container:target", "probe", "readlink", "/proc/self/ns/pid"); strings.TrimSpace(out) != pidNS {
		t.Errorf("--pid container:target: %q, want %q", out, pidNS)
	}
	if out := e.ok("run", "--rm", "--pid", "container:target", "probe", "cat", "/proc/1/cmdline"); out != "/probe\x00sleep\x00" {
		t.Errorf("--pid container:target: PID 1 is %q, want the target's /probe sleep", out)
	}
	if out := e.ok("run", "--rm", "--ipc", "container:target", "probe", "readlink", "/proc/self/ns/ipc"); strings.TrimSpace(out) != ipcNS {
		t.Errorf("--ipc container:target: %q, want %q", out, ipcNS)
	}
	e.ok("rm", "-f", "target")

	// --stop-signal is what stop sends; --stop-timeout how long it waits
	// before SIGKILL. probe trap exits 42 on SIGTERM only; Go exits 2 on
	// an unhandled SIGINT and ignores SIGUSR1.
	e.ok("run", "-d", "--name", "int", "--stop-signal", "SIGINT", "probe", "trap")
	e.waitForLog("int", "ready")
	e.ok("stop", "int")
	if code := strings.TrimSpace(e.ok("wait", "int")); code != "2" {
		t.Errorf("stop with --stop-signal SIGINT: exit %s, want 2 (SIGTERM would give 42)", code)
	}
	if sig := e.inspect("int")["Config"].(map[string]any)["StopSignal"]; sig != "SIGINT" {
		t.Errorf("inspect Config.StopSignal = %v", sig)
	}
	e.ok("run", "-d", "--name", "deaf", "--stop-signal", "SIGUSR1", "--stop-timeout", "1", "probe", "trap")
	e.ok("stop", "deaf")
	if code := strings.TrimSpace(e.ok("wait", "deaf")); code != "137" {
		t.Errorf("stop of a container deaf to its stop signal: exit %s, want 137 (SIGKILL after --stop-timeout)", code)
	}
	e.ok("rm", "int", "deaf")
	e.assertNothingLeft("")
}

// TestRunForegroundLogs: a foreground container that stays after it exits
// has its output in its log, by stream, with or without a terminal, as
// docker logs shows it; the terminal gets it too.
func TestRunForegroundLogs(t *testing.T) {
	e := runEnv(t)
	r := e.run("run", "--name", "fg", "probe", "print", "out", "err")
	if r.code != 0 || r.stdout != "out\nunended" || r.stderr != "err\n" {
		t.Fatalf("run: %s", r)
	}
	if l := e.run("logs", "fg"); l.code != 0 || l.stdout != "out\nunended" || l.stderr != "err\n" {
		t.Errorf("logs of a foreground container: %s", l)
	}
	r = e.run("run", "-t", "--name", "fgt", "probe", "print", "out", "err")
	if r.code != 0 || r.stdout != "out\r\nerr\r\nunended" {
		t.Fatalf("run -t: %s", r)
	}
	if l := e.run("logs", "fgt"); l.code != 0 || l.stdout != r.stdout {
		t.Errorf("logs of a foreground container with a terminal: %s", l)
	}
	e.ok("rm", "fg", "fgt")
	e.assertNothingLeft("")
}

// TestRunNeedsRoot: run by another user, tabula says it needs root rather
// than failing on the first mount or chown.
func TestRunNeedsRoot(t *testing.T) {
	e := runEnv(t)
	dir, err := os.MkdirTemp("", "tabula-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "tabula")
	if err := os.WriteFile(exe, mustRead(t, tabulaBin()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// The store the other user reads: a copy of the test's, theirs.
	root := filepath.Join(dir, "root")
	if out, err := exec.Command("cp", "-a", e.root, root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if out, err := exec.Command("chown", "-R", "65534:65534", root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	cmd := exec.Command(exe, "--root", root, "run", "--rm", "hello")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "must run as root") {
		t.Errorf("run as uid 65534: %v: %s", err, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers")); len(ents) != 0 {
		t.Errorf("layers unpacked by a refused run: %v", ents)
	}
}

// TestRunDynamicWithoutLoader: a dynamically linked program in an image
// without its loader fails with 127 and says why and what to do, where
// the kernel alone would say "no such file or directory".
func TestRunDynamicWithoutLoader(t *testing.T) {
	e := runEnv(t)
	e.writeImage("dyn", map[string]imageFile{"app": {content: mustRead(t, "/bin/ls"), mode: 0o755}}, v1.Config{Entrypoint: []string{"/app"}})
	f, err := elf.Open("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	r := e.run("run", "--rm", "dyn")
	if r.code != 127 || !strings.Contains(r.stderr, "/app is dynamically linked; its interpreter "+interp+" is not in the image") ||
		!strings.Contains(r.stderr, "tabula doctor") {
		t.Errorf("run of a dynamic program without its loader: %s", r)
	}
	e.assertNothingLeft("")
}
