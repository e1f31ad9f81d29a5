package e2e

import (
	"strings"
	"testing"
)

// TestPsFilters: ps --filter, --no-trunc, -n and -l select and show
// containers as docker ps does.
func TestPsFilters(t *testing.T) {
	e := runEnv(t)
	up := strings.TrimSpace(e.ok("run", "-d", "--name", "web-up", "sleep"))
	e.run("run", "--name", "web-failed", "probe", "exit", "3")
	e.run("run", "--name", "job-done", "probe", "exit", "0")
	ps := func(args ...string) string {
		t.Helper()
		return strings.Join(strings.Fields(e.ok(append([]string{"ps", "--format", "{{.Names}}"}, args...)...)), " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "web-up"},
		{[]string{"-a"}, "job-done web-failed web-up"},
		{[]string{"-a", "-f", "name=web"}, "web-failed web-up"},
		{[]string{"-f", "status=exited"}, "job-done web-failed"},
		{[]string{"-a", "-f", "exited=3"}, "web-failed"},
		{[]string{"-a", "-f", "name=web", "-f", "status=exited"}, "web-failed"},
		{[]string{"-a", "-f", "name=job", "-f", "name=up"}, "job-done web-up"},
		{[]string{"-a", "-f", "ancestor=sleep"}, "web-up"},
		{[]string{"-f", "id=" + up[:6]}, "web-up"},
		{[]string{"-l"}, "job-done"},
		{[]string{"-n", "2"}, "job-done web-failed"},
	} {
		if got := ps(tt.args...); got != tt.want {
			t.Errorf("ps %s: %q, want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}
	if got := strings.TrimSpace(e.ok("ps", "-q", "--no-trunc")); got != up {
		t.Errorf("ps -q --no-trunc: %q, want %q", got, up)
	}
	for _, bad := range []string{"name", "color=red", "status=sleeping", "exited=x"} {
		if r := e.fails("ps", "-f", bad); r.code != 125 || !strings.Contains(r.stderr, bad) {
			t.Errorf("ps -f %s: %s", bad, r)
		}
	}
	e.ok("rm", "-f", "web-up", "web-failed", "job-done")
}
