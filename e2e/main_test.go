package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// binDir holds the binaries built once for the whole test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tabula-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "tabula"), "../cmd/tabula")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tabula: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tabulaBin is the path of the tabula binary under test.
func tabulaBin() string { return filepath.Join(binDir, "tabula") }

// env is one test's tabula root.
type env struct {
	t    testing.TB
	root string
}

func newEnv(t testing.TB) *env {
	return &env{t: t, root: t.TempDir()}
}

// result is what one tabula invocation printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs tabula with --root set to the env's root.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runIn("", nil, args...)
}

// runIn runs tabula in dir with stdin (nil for none).
func (e *env) runIn(dir string, stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(tabulaBin(), append([]string{"--root", e.root}, args...)...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("tabula %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// ok runs tabula and fails the test unless it exits 0; it returns stdout.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("tabula %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fails runs tabula, fails the test if it exits 0, and returns the result.
func (e *env) fails(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code == 0 {
		e.t.Fatalf("tabula %s succeeded, want failure: %s", strings.Join(args, " "), r)
	}
	return r
}

var goBuilds sync.Map // source file → built binary path

// goProgram compiles testdata/<name>.go once per run with the given
// environment (CGO_ENABLED=0 unless env says otherwise) and flags, and returns
// the binary's path.
func goProgram(t testing.TB, name string, env []string, flags ...string) string {
	t.Helper()
	key := name + "\x00" + strings.Join(env, " ") + "\x00" + strings.Join(flags, " ")
	if p, ok := goBuilds.Load(key); ok {
		return p.(string)
	}
	out := filepath.Join(binDir, fmt.Sprintf("%s-%d", name, len(key)+int(hash(key))))
	args := append([]string{"build", "-trimpath", "-o", out}, flags...)
	args = append(args, filepath.Join("testdata", name+".go"))
	cmd := exec.Command("go", args...)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	goBuilds.Store(key, out)
	return out
}

func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h % 100000
}

// writeFiles writes name → content files under dir, creating parents.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
