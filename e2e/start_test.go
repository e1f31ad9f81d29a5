package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStart: start runs an exited container again with its writable layer,
// name and log; -a prints its output and exits with its code; restart
// stops and starts; a start that fails leaves the container exited with
// the reason, and a later one can succeed; create makes a container that
// only start runs.
func TestStart(t *testing.T) {
	e := runEnv(t)
	// count /n counts the runs in the container's writable layer.
	if r := e.run("run", "-u", "0", "--name", "c", "probe", "count", "/n"); r.code != 1 || r.stdout != "run 1\n" {
		t.Fatalf("first run: %s", r)
	}
	first := e.inspect("c")["State"].(map[string]any)["StartedAt"].(string)
	if r := e.run("start", "-a", "c"); r.code != 2 || r.stdout != "run 2\n" {
		t.Errorf("start -a: %s, want run 2 and exit 2", r)
	}
	if out := e.ok("start", "c"); out != "c\n" {
		t.Errorf("start printed %q, want the name", out)
	}
	if out := e.ok("wait", "c"); out != "3\n" {
		t.Errorf("wait after start: %q, want 3", out)
	}
	if out := e.ok("logs", "c"); out != "run 1\nrun 2\nrun 3\n" {
		t.Errorf("the log kept %q, want all three runs", out)
	}
	state := e.inspect("c")["State"].(map[string]any)
	if state["Status"] != "exited" || state["ExitCode"] != 3.0 || state["StartedAt"].(string) <= first {
		t.Errorf("state after three runs: %v (first started at %s)", state, first)
	}
	if out := e.ok("logs", "--since", "2000-01-01", "c"); out != "run 1\nrun 2\nrun 3\n" {
		t.Errorf("logs --since 2000: %q", out)
	}
	if out := e.ok("logs", "--since", "-1h", "c"); out != "" {
		t.Errorf("logs --since an hour ahead: %q", out)
	}

	// Detached: restart and start give the container a new process; start
	// of a running one leaves it be.
	e.ok("run", "-d", "--name", "s", "probe", "sleep")
	pid := e.inspect("s")["State"].(map[string]any)["Pid"]
	if out := e.ok("start", "s"); out != "s\n" || e.inspect("s")["State"].(map[string]any)["Pid"] != pid {
		t.Errorf("start of a running container: %q, and its process changed", out)
	}
	e.ok("restart", "-t", "1", "s")
	state = e.inspect("s")["State"].(map[string]any)
	if state["Status"] != "running" || state["Pid"] == pid {
		t.Errorf("after restart: %v, the process was %v", state, pid)
	}
	e.ok("stop", "-t", "1", "s")
	e.ok("start", "s")
	if got := e.inspect("s")["State"].(map[string]any)["Status"]; got != "running" {
		t.Errorf("after stop and start: %v", got)
	}

	// A start that fails: the container stays, with the reason.
	vol := t.TempDir()
	e.ok("run", "--name", "v", "-v", vol+":/data", "probe", "ls", "/data")
	if err := os.Remove(vol); err != nil {
		t.Fatal(err)
	}
	r := e.run("start", "v")
	if r.code != 125 || !strings.Contains(r.stderr, vol) {
		t.Errorf("start without the volume's source: %s", r)
	}
	state = e.inspect("v")["State"].(map[string]any)
	if state["Status"] != "exited" || state["ExitCode"] != 125.0 || !strings.Contains(state["Error"].(string), "bind source") {
		t.Errorf("state after a failed start: %v", state)
	}
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("start", "-a", "v"); r.code != 0 || r.stdout != "f\n" {
		t.Errorf("start once the source is back: %s", r)
	}

	// create makes a container that only start runs.
	id := strings.TrimSpace(e.ok("create", "-u", "0", "--name", "k", "probe", "count", "/n"))
	if out := e.ok("ps", "-a", "--filter", "status=created", "--format", "{{.Names}} {{.Status}}"); out != "k Created\n" {
		t.Errorf("ps after create: %q", out)
	}
	if state := e.inspect("k")["State"].(map[string]any); state["Status"] != "created" || state["Pid"] != 0.0 || !strings.HasPrefix(id, e.inspect("k")["Id"].(string)[:12]) {
		t.Errorf("inspect after create: %v (create printed %q)", state, id)
	}
	if r := e.run("start", "-a", "k"); r.code != 1 || r.stdout != "run 1\n" {
		t.Errorf("start -a of a created container: %s", r)
	}
	e.ok("create", "--name", "gone", "probe", "exit", "0")
	e.ok("rm", "gone")

	e.ok("create", "--rm", "--name", "once", "probe", "exit", "0")
	e.ok("start", "-a", "once")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := e.run("inspect", "once"); r.code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a --rm container made by create stays after it exits")
		}
	}

	// start -a is in the foreground, as run: signals reach the container,
	// and a second start, detached, finds it running.
	e.ok("create", "--name", "tr", "probe", "trap")
	cmd := exec.Command(tabulaBin(), "--root", e.root, "start", "-a", "tr")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if l, err := br.ReadString('\n'); err != nil || l != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("start -a of trap: first line %q %v", l, err)
	}
	if out := e.ok("start", "tr"); out != "tr\n" {
		t.Errorf("start of a container started by start -a: %q", out)
	}
	if r := e.run("start", "-a", "tr"); r.code != 125 || !strings.Contains(r.stderr, "is running") {
		t.Errorf("start -a of a running container: %s", r)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(br)
	cmd.Wait()
	if string(rest) != "got terminated\n" || cmd.ProcessState.ExitCode() != 42 {
		t.Errorf("start -a after SIGTERM: %q, exit %d; want got terminated, exit 42", rest, cmd.ProcessState.ExitCode())
	}

	if r := e.run("start", "-a", "c", "v"); r.code != 125 || !strings.Contains(r.stderr, "one container") {
		t.Errorf("start -a of two: %s", r)
	}
	e.ok("rm", "-f", "c", "s", "v", "k", "tr")
	created := strings.TrimSpace(e.ok("create", "probe", "exit", "0"))
	if out := e.ok("container", "prune"); !strings.Contains(out, created) {
		t.Errorf("container prune left a created container: %q", out)
	}
	e.assertNothingLeft("")
}
