package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabula-dev/tabula/errdefs"
)

func newRecord(t *testing.T, c *Containers, name string) *Record {
	t.Helper()
	id := NewID()
	if err := c.reserveName(name, id); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.Dir(id), 0o711); err != nil {
		t.Fatal(err)
	}
	r := &Record{ID: id, Name: "/" + name, Created: time.Now(), State: State{Status: StatusExited}}
	if err := c.Save(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNamesAndLookup(t *testing.T) {
	ctx := context.Background()
	c := &Containers{Root: t.TempDir()}
	a := newRecord(t, c, "alpha")
	b := newRecord(t, c, "beta")
	if err := c.reserveName("alpha", NewID()); !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), a.ID[:12]) {
		t.Errorf("a taken name: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "-x", ""} {
		if err := c.reserveName(bad, NewID()); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	for ref, want := range map[string]string{"alpha": a.ID, "/beta": b.ID, a.ID: a.ID, b.ID[:10]: b.ID} {
		r, err := c.Lookup(ctx, ref)
		if err != nil || r.ID != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", ref, r, err, want)
		}
	}
	if _, err := c.Lookup(ctx, "gamma"); !errdefs.IsNotFound(err) {
		t.Errorf("Lookup of a missing name: %v", err)
	}
	// The empty prefix matches both: ambiguous is an error, never a guess.
	if len(a.ID) > 0 && a.ID[0] == b.ID[0] {
		if _, err := c.Lookup(ctx, a.ID[:1]); err == nil || !strings.Contains(err.Error(), "ambiguous") {
			t.Errorf("an ambiguous prefix: %v", err)
		}
	}
	// A name whose container directory is gone is free again.
	os.RemoveAll(c.Dir(a.ID))
	if err := c.reserveName("alpha", NewID()); err != nil {
		t.Errorf("the name of a vanished container: %v", err)
	}
	c.releaseName("beta", NewID()) // another ID's release leaves it
	if _, err := c.Lookup(ctx, "beta"); err != nil {
		t.Errorf("beta released by a stranger: %v", err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("List = %v, %v", list, err)
	}
}

// TestRefreshDeadProcess: a record saying running whose process and owner
// are gone reads as exited.
func TestRefreshDeadProcess(t *testing.T) {
	c := &Containers{Root: t.TempDir()}
	r := newRecord(t, c, "ghost")
	r.State = State{Status: StatusRunning, Running: true, Pid: 1 << 22}
	r.Monitor, r.MonitorStart = 1<<22, 12345
	c.Save(r)
	got, err := c.Lookup(context.Background(), "ghost")
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Status != StatusExited || got.State.Running || got.State.Pid != 0 || got.State.Error == "" {
		t.Errorf("a dead container reads as %+v", got.State)
	}
	// Our own PID with another start time is a recycled PID, not the owner.
	pid, start := selfStart()
	if alive(pid, start+1) || !alive(pid, start) {
		t.Errorf("alive() does not tell a recycled PID from its owner")
	}
}

// TestInterruptedCreate: a container directory without its record (tabula
// killed while creating it) shows as exited once old enough, under the name
// it reserved, so rm finds it and frees the name.
func TestInterruptedCreate(t *testing.T) {
	ctx := context.Background()
	c := &Containers{Root: t.TempDir()}
	id := NewID()
	if err := c.reserveName("cut_short", id); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(c.Dir(id), 0o711)
	if list, _ := c.List(ctx); len(list) != 0 {
		t.Errorf("a container being created is listed: %v", list)
	}
	old := time.Now().Add(-2 * time.Minute)
	os.Chtimes(c.Dir(id), old, old)
	r, err := c.Lookup(ctx, "cut_short")
	if err != nil || r.ID != id || r.State.Status != StatusExited || !strings.Contains(r.State.Error, "interrupted") {
		t.Fatalf("an interrupted creation: %+v %v", r, err)
	}
	if err := c.Remove(ctx, r, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.namesDir(), "cut_short")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the name of a removed interrupted container stays reserved: %v", err)
	}
}

// TestListSweepsRemoving: a container directory renamed away whose removal
// was cut short goes at the next listing, which never shows it.
func TestListSweepsRemoving(t *testing.T) {
	c := &Containers{Root: t.TempDir()}
	gone := filepath.Join(c.dir(), removingPrefix+strings.Repeat("ab", 32))
	if err := os.MkdirAll(filepath.Join(gone, "upper", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	recs, err := c.List(context.Background())
	if err != nil || len(recs) != 0 {
		t.Fatalf("List = %v, %v", recs, err)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("the directory being removed is still there")
	}
}
