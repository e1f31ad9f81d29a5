package e2e

import (
	"os"
	"path/filepath"
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

// TestBuilderPrune: builder prune empties the build cache, and the next
// build fills it again and gives the same image.
func TestBuilderPrune(t *testing.T) {
	e := newEnv(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "content\n"})
	id := e.ok("build", "-q", "-t", "cached", ctx)
	cache := filepath.Join(e.root, "cache")
	if n := countFiles(t, cache); n == 0 {
		t.Fatalf("no build cache after a build")
	}
	if out := e.ok("builder", "prune"); !strings.Contains(out, "Deleted build cache:") {
		t.Errorf("builder prune printed %q", out)
	}
	if n := countFiles(t, cache); n != 0 {
		t.Errorf("%d files left in the build cache", n)
	}
	if again := e.ok("build", "-q", "-t", "cached", ctx); again != id {
		t.Errorf("rebuild after builder prune: %q, want %q", again, id)
	}
	if n := countFiles(t, cache); n == 0 {
		t.Errorf("the rebuild left no cache")
	}
	if out := e.ok("system", "prune"); !strings.Contains(out, "Deleted build cache:") {
		t.Errorf("system prune printed %q", out)
	}
}

// countFiles counts the regular files below dir (none when it is missing).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
