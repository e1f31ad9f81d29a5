package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// startRegistry runs the distribution registry (Debian's docker-registry)
// on a free loopback port, storing under a temporary directory, and
// returns its host:port. htpasswd, when not empty, is the file of users
// it lets in, and no one else.
func startRegistry(t *testing.T, htpasswd string) string {
	t.Helper()
	bin := testenv.RequireCommand(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if htpasswd != "" {
		users := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(users, []byte(htpasswd), 0o644); err != nil {
			t.Fatal(err)
		}
		conf += fmt.Sprintf("auth:\n  htpasswd:\n    realm: tabula-test\n    path: %s\n", users)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry on %s does not answer", host)
		}
	}
}

// TestPushPull: tabula push to a real registry, rmi, pull back and run;
// skopeo and Docker read what tabula pushed.
func TestPushPull(t *testing.T) {
	e := runEnv(t)
	host := startRegistry(t, "")
	ref := host + "/demo/hello:v1"
	e.ok("tag", "hello", ref)
	id := strings.TrimSpace(e.ok("images", "-q", ref))
	out := e.ok("push", ref)
	if !strings.Contains(out, "The push refers to repository ["+host+"/demo/hello]") || !strings.Contains(out, "v1: digest: sha256:") {
		t.Errorf("push printed:\n%s", out)
	}
	pushed := out[strings.Index(out, "sha256:"):]
	pushed = pushed[:strings.IndexByte(pushed, ' ')]

	e.ok("rmi", "hello", ref)
	if r := e.run("run", "--rm", ref); r.code != 125 {
		t.Fatalf("run of an image removed: %s", r)
	}
	out = e.ok("pull", ref)
	if !strings.Contains(out, "Pull complete") || !strings.Contains(out, "Digest: "+pushed) {
		t.Errorf("pull printed:\n%s", out)
	}
	if got := strings.TrimSpace(e.ok("images", "-q", ref)); got != id {
		t.Errorf("the image pulled back is %s, pushed %s", got, id)
	}
	if out := e.ok("run", "--rm", ref); out != "Hello from scratch!\n" {
		t.Errorf("run of the pulled image: %q", out)
	}
	if r := e.run("pull", host+"/demo/absent:v1"); r.code != 125 || !strings.Contains(r.stderr, "no such image") {
		t.Errorf("pull of an absent image: %s", r)
	}
	if out := e.ok("pull", "-q", host+"/demo/hello@"+pushed); strings.TrimSpace(out) != host+"/demo/hello@"+pushed {
		t.Errorf("pull -q by digest printed %q", out)
	}

	skopeo := testenv.RequireCommand(t, "skopeo")
	raw, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	var info struct{ Digest string }
	if err := json.Unmarshal(raw, &info); err != nil || info.Digest != pushed {
		t.Errorf("skopeo sees %q (%v), tabula pushed %s", info.Digest, err, pushed)
	}

	testenv.RequireDocker(t)
	dref := "localhost:" + host[strings.LastIndexByte(host, ':')+1:] + "/demo/hello:v1"
	if out, err := exec.Command("docker", "pull", "-q", dref).CombinedOutput(); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", dref, err, out)
	}
	defer exec.Command("docker", "rmi", dref).Run()
	if out, err := exec.Command("docker", "run", "--rm", "--network", "none", dref).Output(); err != nil || string(out) != "Hello from scratch!\n" {
		t.Errorf("docker run of what tabula pushed: %q, %v", out, err)
	}
}

// TestLogin: a registry that wants a user refuses pull and push, and login
// with a wrong password; login stores the credentials where docker login
// does, push and pull then work; logout forgets them.
func TestLogin(t *testing.T) {
	e := runEnv(t)
	// alice, password s3cret (bcrypt).
	host := startRegistry(t, "alice:$2b$12$r5yUj1sutfrJvxz0RXqYnOqOmmaUFfvwiGZcPO07oFFkeseMkEg9G\n")
	dockerConfig := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dockerConfig)
	ref := host + "/private/hello:v1"
	e.ok("tag", "hello", ref)
	if r := e.run("push", ref); r.code != 1 || !strings.Contains(r.stderr, "refused access") || !strings.Contains(r.stderr, "tabula login") {
		t.Errorf("push without credentials: %s", r)
	}
	if r := e.run("login", "-u", "alice", "-p", "wrong", host); r.code != 1 || !strings.Contains(r.stderr, "wrong user name or password") {
		t.Errorf("login with a wrong password: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dockerConfig, "config.json")); err == nil {
		t.Error("a refused login wrote the credentials")
	}
	if r := e.runIn("", []byte("s3cret\n"), "login", "-u", "alice", "--password-stdin", host); r.code != 0 || r.stdout != "Login Succeeded\n" {
		t.Fatalf("login: %s", r)
	}
	var cf struct {
		Auths map[string]struct{ Auth string }
	}
	raw, err := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
	if err != nil || json.Unmarshal(raw, &cf) != nil || cf.Auths[host].Auth == "" {
		t.Fatalf("config.json after login: %s %v", raw, err)
	}
	e.ok("push", ref)
	e.ok("rmi", ref)
	e.ok("pull", ref)
	if out := e.ok("run", "--rm", ref); out != "Hello from scratch!\n" {
		t.Errorf("run of the image pulled with credentials: %q", out)
	}
	if out := e.ok("logout", host); out != "Removing login credentials for "+host+"\n" {
		t.Errorf("logout: %q", out)
	}
	if r := e.run("pull", ref); r.code != 1 || !strings.Contains(r.stderr, "refused access") {
		t.Errorf("pull after logout: %s", r)
	}
}
