package e2e

import (
	"strings"
	"testing"
)

// TestPrune: container prune removes exited containers only; system prune
// removes them and then the images no container uses (-a).
func TestPrune(t *testing.T) {
	e := runEnv(t)
	e.ok("tag", "hello", "spare")
	running := strings.TrimSpace(e.ok("run", "-d", "--name", "up", "sleep"))
	exited := e.run("run", "--name", "done", "probe", "exit", "3")
	if exited.code != 3 {
		t.Fatalf("run probe exit 3: %s", exited)
	}
	doneID := e.inspect("done")["Id"].(string)
	out := e.ok("container", "prune")
	if !strings.Contains(out, "Deleted Containers:") || !strings.Contains(out, doneID) || strings.Contains(out, running) {
		t.Errorf("container prune printed:\n%s", out)
	}
	if ids := strings.Fields(e.ok("ps", "-aq")); len(ids) != 1 || !strings.HasPrefix(running, ids[0]) {
		t.Errorf("after container prune: %v, want only %s", ids, running)
	}

	e.run("run", "--name", "done2", "probe", "exit", "0")
	out = e.ok("system", "prune", "-a")
	if strings.Count(out, "\n") < 2 || !strings.Contains(out, "Deleted Containers:") {
		t.Errorf("system prune -a printed:\n%s", out)
	}
	imgs := e.ok("images", "--format", "{{.Repository}}")
	if strings.TrimSpace(imgs) != "sleep" {
		t.Errorf("after system prune -a the images are %q, want only sleep (used by a running container)", imgs)
	}
	e.ok("rm", "-f", "up")
	e.assertNothingLeft("")
}
