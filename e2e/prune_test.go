package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
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

// TestPruneLayers: the layers unpacked for containers go with the last
// image and container that use them, as Docker's do: rmi frees an unused
// image's, a container keeps its image's (rmi -f untags it only) until it
// is removed and a prune follows.
func TestPruneLayers(t *testing.T) {
	e := runEnv(t)
	unpacked := func(image string) []string {
		t.Helper()
		var ids []string
		if err := json.Unmarshal([]byte(e.ok("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)), &ids); err != nil || len(ids) == 0 {
			t.Fatalf("the layers of %s: %v", image, err)
		}
		var dirs []string
		for _, id := range ids {
			dirs = append(dirs, filepath.Join(e.root, "layers", strings.Replace(id, ":", "/", 1)))
		}
		return dirs
	}
	exist := func(dirs []string) bool {
		t.Helper()
		n := 0
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				n++
			}
		}
		if n != 0 && n != len(dirs) {
			t.Fatalf("%d of the layers %v are there", n, dirs)
		}
		return n > 0
	}
	hello, sleep := unpacked("hello"), unpacked("sleep")
	e.ok("run", "--rm", "hello")
	e.ok("run", "-d", "--name", "up", "sleep")
	if !exist(hello) || !exist(sleep) {
		t.Fatal("running hello and sleep did not unpack their layers")
	}
	if df := e.ok("system", "df"); !regexp.MustCompile(`(?m)^Layers +2 `).MatchString(df) {
		t.Errorf("system df counts other than 2 unpacked layers:\n%s", df)
	}

	// While a container is being made (it holds the layers directory
	// locked), rmi leaves the layers for later rather than wait long.
	making, err := os.Open(filepath.Join(e.root, "layers"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(making.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	e.ok("rmi", "hello")
	if !exist(hello) {
		t.Error("rmi removed layers while a container was being made")
	}
	making.Close()
	e.ok("image", "prune")
	if exist(hello) {
		t.Error("image prune left the unused image's unpacked layers")
	}
	probe := unpacked("bare")
	e.ok("run", "--rm", "bare", "exit", "0")
	e.ok("rmi", "bare")
	if exist(probe) {
		t.Error("rmi left the unused image's unpacked layers")
	}
	e.ok("tag", "sleep", "sleep2")
	e.ok("rmi", "sleep2")
	if !exist(sleep) {
		t.Error("rmi of a name removed the layers of the image, which has another")
	}
	e.ok("rmi", "-f", "sleep")
	e.ok("system", "prune", "-a")
	if !exist(sleep) {
		t.Fatal("the layers of a running container's image went with the image's name")
	}
	e.ok("rm", "-f", "up")
	if out := e.ok("system", "prune", "-a"); !strings.Contains(out, "Total reclaimed space") || strings.Contains(out, "reclaimed space: 0B") {
		t.Errorf("system prune -a freed nothing:\n%s", out)
	}
	if exist(sleep) {
		t.Error("system prune left the layers of an image and container both gone")
	}
	e.assertNothingLeft("")
	if ents, _ := os.ReadDir(filepath.Join(e.root, "layers")); len(ents) > 2 { // base-1, sha256
		t.Errorf("left in the layers directory: %v", ents)
	}
}
