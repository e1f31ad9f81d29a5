package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/internal/testenv"
)

func TestMain(m *testing.M) {
	if Reexec() {
		return
	}
	os.Exit(m.Run())
}

var busyboxApplets = []string{"sh", "ls", "cat", "echo", "id", "hostname", "mount", "unshare", "true",
	"false", "sleep", "readlink", "grep", "head", "kill", "touch", "stat", "pwd", "keyctl", "env", "dd", "ps", "wc", "tty", "seq"}

// busyboxBundle makes a bundle whose rootfs holds the host's static busybox
// and its applet links, with DefaultSpec running args.
func busyboxBundle(t testing.TB, args ...string) (string, *specs.Spec) {
	t.Helper()
	testenv.RequireRoot(t)
	bb := testenv.RequireCommand(t, "busybox")
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	spec := DefaultSpec()
	spec.Process.Args = args
	spec.Hostname = "box"
	return bundle, spec
}

func writeSpec(t testing.TB, bundle string, spec *specs.Spec) {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// result is what a container run produced.
type result struct {
	out    string
	status ExitStatus
	err    error // from Create or Start
}

// runContainer creates, starts and waits for a container of bundle and
// deletes it, returning its combined output.
func runContainer(t testing.TB, r *Runtime, id, bundle string, spec *specs.Spec) result {
	t.Helper()
	writeSpec(t, bundle, spec)
	ctx := context.Background()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(&buf, pr) }()
	c, err := r.Create(ctx, id, bundle, CreateOptions{Stdout: pw, Stderr: pw})
	pw.Close()
	if err != nil {
		wg.Wait()
		pr.Close()
		return result{err: err, out: buf.String()}
	}
	t.Cleanup(func() { r.Delete(ctx, id, true) })
	if err := r.Start(ctx, id); err != nil {
		c.Wait()
		wg.Wait()
		pr.Close()
		return result{err: err, out: buf.String()}
	}
	st, err := c.Wait()
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	wg.Wait()
	pr.Close()
	if err := r.Delete(ctx, id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	return result{out: buf.String(), status: st}
}

func TestRunSmoke(t *testing.T) {
	bundle, spec := busyboxBundle(t, "sh", "-c", "echo hello; echo pid=$$; hostname")
	r := &Runtime{StateDir: t.TempDir()}
	res := runContainer(t, r, "smoke", bundle, spec)
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	if res.status.Code != 0 || !strings.Contains(res.out, "hello\npid=1\nbox\n") {
		t.Fatalf("status %+v, output %q", res.status, res.out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// readAll reads until EOF or EIO (a pty whose slave side closed).
func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, f)
	if errors.Is(err, syscall.EIO) {
		err = nil
	}
	return buf.Bytes(), err
}

// TestStartAfter: a container made to start at once (Start) holds its
// program until StartAfter is closed.
func TestStartAfter(t *testing.T) {
	for _, noSpawn := range []bool{false, true} {
		t.Run(map[bool]string{false: "spawn", true: "init"}[noSpawn], func(t *testing.T) {
			bundle, spec := busyboxBundle(t, "echo", "started")
			writeSpec(t, bundle, spec)
			r := &Runtime{StateDir: t.TempDir(), noSpawn: noSpawn}
			id := "gated-" + map[bool]string{false: "spawn", true: "init"}[noSpawn]
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			gate := make(chan struct{})
			type made struct {
				c   *Container
				err error
			}
			created := make(chan made, 1)
			go func() {
				c, err := r.Create(context.Background(), id, bundle, CreateOptions{Stdout: pw, Stderr: pw, Start: true, StartAfter: gate})
				pw.Close()
				created <- made{c, err}
			}()
			// Far longer than a container takes to start.
			pr.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			buf := make([]byte, 64)
			if n, err := pr.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				select {
				case m := <-created:
					t.Fatalf("before the gate opened: read %q, %v; Create returned %v", buf[:n], err, m.err)
				default:
					t.Fatalf("before the gate opened: read %q, %v; want nothing", buf[:n], err)
				}
			}
			select {
			case m := <-created:
				t.Fatalf("Create returned before the gate opened: %v", m.err)
			default:
			}
			close(gate)
			m := <-created
			if m.err != nil {
				t.Fatal(m.err)
			}
			defer r.Delete(context.Background(), id, true)
			pr.SetReadDeadline(time.Time{})
			out, _ := io.ReadAll(pr)
			if st, err := m.c.Wait(); err != nil || st.Code != 0 || string(out) != "started\n" {
				t.Fatalf("after the gate: %+v, %v, output %q", st, err, out)
			}
		})
	}
}
