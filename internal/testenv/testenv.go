// Package testenv decides whether a test's prerequisites are present. On a
// developer machine a missing prerequisite skips the test; when CI=true it
// fails it, so that CI never passes by silently running nothing.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips the test on a developer machine and fails it in CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a prerequisite is missing: "+format, args...)
	}
	t.Skipf("prerequisite missing: "+format, args...)
}

// RequireRoot needs the test to run as uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "test needs root")
	}
}

// RequireCommand needs each named program on PATH and returns the path of the first.
func RequireCommand(t testing.TB, names ...string) string {
	t.Helper()
	var first string
	for i, name := range names {
		p, err := exec.LookPath(name)
		if err != nil {
			missing(t, "%s not on PATH", name)
			return ""
		}
		if i == 0 {
			first = p
		}
	}
	return first
}

// RequireDocker needs a docker client that reaches a running daemon.
func RequireDocker(t testing.TB) {
	t.Helper()
	RequireCommand(t, "docker")
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		missing(t, "no Docker daemon answers: %v: %s", err, out)
	}
}

// Require is the general form: when ok is false the test skips (or fails in CI)
// with the given reason.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		missing(t, format, args...)
	}
}
