package runtime

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/reclaim"
)

// TestReclaim: a running container is not reclaimed, nor one whose first
// process exited leaving another in its cgroup; an exited one is gone from
// the runtime at once, and its state and cgroup go with the list.
func TestReclaim(t *testing.T) {
	ctx := context.Background()
	bundle, spec := busyboxBundle(t, "sleep", "60")
	writeSpec(t, bundle, spec)
	r := &Runtime{StateDir: t.TempDir()}
	c, err := r.Create(ctx, "reclaimed", bundle, CreateOptions{Start: true})
	if err != nil {
		t.Fatal(err)
	}
	var l reclaim.List
	if r.Reclaim("reclaimed", &l) || l.Len() != 0 {
		t.Fatal("Reclaim took a running container")
	}
	if err := r.Kill(ctx, "reclaimed", unix.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	dirs, err := cgroupDirs("/tabula/reclaimed")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reclaim("reclaimed", &l) {
		t.Fatal("Reclaim refused an exited container")
	}
	if _, err := r.State(ctx, "reclaimed"); !errdefs.IsNotFound(err) {
		t.Errorf("State after Reclaim: %v, want not found", err)
	}
	if list, _ := r.List(ctx); len(list) != 0 {
		t.Errorf("List after Reclaim: %d containers", len(list))
	}
	if runtime.GOARCH == "amd64" {
		pid := l.Detach()
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
	} else if err := l.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(dirs, filepath.Join(r.StateDir, removingPrefix+"reclaimed")) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	assertGone(t, r, "reclaimed", bundle)

	// Without a PID namespace of its own, a container's other processes
	// outlive its first: Delete kills them.
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			nss = append(nss, ns)
		}
	}
	spec.Linux.Namespaces = nss
	spec.Process.Args = []string{"sh", "-c", "sleep 60 & exit 0"}
	writeSpec(t, bundle, spec)
	c, err = r.Create(ctx, "straggler", bundle, CreateOptions{Start: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Wait()
	var l2 reclaim.List
	if r.Reclaim("straggler", &l2) || l2.Len() != 0 {
		t.Error("Reclaim took a container with a process left in its cgroup")
	}
	if err := r.Delete(ctx, "straggler", true); err != nil {
		t.Fatal(err)
	}
	assertGone(t, r, "straggler", bundle)
}

// TestListSweepsRemoving: a state directory renamed away whose removal was
// cut short goes at the next listing.
func TestListSweepsRemoving(t *testing.T) {
	r := &Runtime{StateDir: t.TempDir()}
	gone := filepath.Join(r.StateDir, removingPrefix+"cut")
	if err := os.MkdirAll(gone, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gone, ".tmp-state.json-1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if list, err := r.List(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("the state directory being removed is still there")
	}
}
