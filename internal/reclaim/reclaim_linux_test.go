package reclaim

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tree makes dir/a/b/f, dir/a/g and dir/keep/k, and returns the list
// removing all but keep's file, deepest first (keep stays, being not
// empty), and then emptying that file and renaming it to keep/moved.
func tree(t *testing.T) (string, *List) {
	dir := t.TempDir()
	for _, d := range []string{"a/b", "keep"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/f", "a/g", "keep/k"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var l List
	l.Unlink(filepath.Join(dir, "a/b/f"))
	l.Rmdir(filepath.Join(dir, "a/b"))
	l.Rmdir(filepath.Join(dir, "keep")) // not empty: passed over
	l.Unlink(filepath.Join(dir, "a/g"))
	l.Unlink(filepath.Join(dir, "a/missing"))
	l.Rmdir(filepath.Join(dir, "a"))
	l.Truncate(filepath.Join(dir, "keep/k"))
	l.Rename(filepath.Join(dir, "keep/k"), filepath.Join(dir, "keep/moved"))
	return dir, &l
}

// entries lists dir's entries, recursively, as paths relative to it.
func entries(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestRemove(t *testing.T) {
	dir, l := tree(t)
	err := l.Remove()
	if !errors.Is(err, unix.ENOTEMPTY) {
		t.Errorf("Remove = %v, want the error of keep, not empty", err)
	}
	if got := entries(t, dir); len(got) != 2 || got[0] != "keep" || got[1] != "keep/moved" {
		t.Errorf("left %v, want keep and keep/moved", got)
	} else if b, _ := os.ReadFile(filepath.Join(dir, "keep/moved")); len(b) != 0 {
		t.Errorf("keep/moved holds %q, want it emptied", b)
	}
}

// detaches reports whether Detach starts processes on this architecture;
// where it does not, it checks that Detach says so (0) and starts nothing.
func detaches(t *testing.T) bool {
	if runtime.GOARCH == "amd64" {
		return true
	}
	var l List
	l.Unlink("/nonexistent")
	if pid := l.Detach(); pid != 0 {
		t.Fatalf("Detach on %s = %d, want 0 (not supported)", runtime.GOARCH, pid)
	}
	return false
}

func TestDetach(t *testing.T) {
	if !detaches(t) {
		return
	}
	dir, l := tree(t)
	pid := l.Detach()
	if pid <= 0 {
		t.Fatalf("Detach = %d", pid)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("the detached process: %v, status %v", err, ws)
	}
	if got := entries(t, dir); len(got) != 2 || got[0] != "keep" || got[1] != "keep/moved" {
		t.Errorf("left %v, want keep and keep/moved", got)
	} else if b, _ := os.ReadFile(filepath.Join(dir, "keep/moved")); len(b) != 0 {
		t.Errorf("keep/moved holds %q, want it emptied", b)
	}
	// This process's memory and files are its own still.
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestDetachOutlivesCaller: a process that detaches a slow list and exits
// ends the pipe it writes to at once, and the list is done after.
func TestDetachOutlivesCaller(t *testing.T) {
	if !detaches(t) {
		return
	}
	if os.Getenv("RECLAIM_HELPER") != "" {
		var l List
		ts := unix.Timespec{Sec: 2}
		sleep(&l, &ts)
		l.Unlink(os.Getenv("RECLAIM_HELPER"))
		if l.Detach() <= 0 {
			os.Exit(3)
		}
		os.Stdout.WriteString("detached\n")
		os.Exit(0)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDetachOutlivesCaller$")
	cmd.Env = append(os.Environ(), "RECLAIM_HELPER="+marker)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out) // to the pipe's end: the helper's exit, not the detached process's
	if err := cmd.Wait(); err != nil || string(b) != "detached\n" {
		t.Fatalf("helper: %v, printed %q", err, b)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the marker went before the detached process's sleep ended: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached process never removed the marker")
		}
	}
}

// sleep adds to l a step that sleeps for ts.
func sleep(l *List, ts *unix.Timespec) {
	l.ops = append(l.ops, op{nr: unix.SYS_NANOSLEEP, a1: uintptr(unsafe.Pointer(ts))})
}

// fileAndPipe makes file name in a new directory, and a pipe whose read end
// closes when the test ends.
func fileAndPipe(t *testing.T, name string) (file string, r, w *os.File) {
	file = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return file, r, w
}

// TestDetachHold: a held file stays open in the detached process through
// its removals, and only there: the read end of a held pipe sees its end
// once the list is done.
func TestDetachHold(t *testing.T) {
	if !detaches(t) {
		return
	}
	marker, r, w := fileAndPipe(t, "marker")
	var l List
	ts := unix.Timespec{Nsec: 200e6}
	sleep(&l, &ts)
	l.Unlink(marker)
	l.Hold(w)
	start := time.Now()
	pid := l.Detach()
	if pid <= 0 {
		t.Fatalf("Detach = %d", pid)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("this process's copy of the held pipe is still open after Detach")
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("the held pipe ended after %v, before the detached process's sleep", took)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the held pipe ended before the removals were done: %v", err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

// TestDetachRelease: Release closes the held files where it stands, before
// the steps added after it.
func TestDetachRelease(t *testing.T) {
	if !detaches(t) {
		return
	}
	before, r, w := fileAndPipe(t, "before")
	after := filepath.Join(filepath.Dir(before), "after")
	var l List
	ts := unix.Timespec{Nsec: 300e6}
	l.Hold(w)
	l.Release()
	sleep(&l, &ts)
	l.Rename(before, after)
	start := time.Now()
	pid := l.Detach()
	if pid <= 0 {
		t.Fatalf("Detach = %d", pid)
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("the held pipe ended after %v, not before the steps after Release", took)
	}
	if _, err := os.Stat(before); err != nil {
		t.Errorf("the step after Release was done before the held pipe ended: %v", err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	if _, err := os.Stat(after); err != nil {
		t.Errorf("the rename after Release was not done: %v", err)
	}
}
