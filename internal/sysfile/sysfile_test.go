package sysfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789"), 1000) // past the first buffer
	for name, data := range map[string][]byte{"empty": nil, "small": []byte("hi\n"), "big": big} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("ReadFile(%s) = %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
	// procfs reports a size of 0 for what it generates.
	want, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile("/proc/self/mountinfo")
	if err != nil || !bytes.HasPrefix(got, want[:bytes.IndexByte(want, ' ')]) || len(got) < len(want)/2 {
		t.Errorf("ReadFile(/proc/self/mountinfo) = %q, %v", got, err)
	}
	_, err = ReadFile(filepath.Join(dir, "missing"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "missing") {
		t.Errorf("ReadFile of a missing file: %v; want a *fs.PathError naming it, Is fs.ErrNotExist", err)
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("a longer first version"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "second" {
		t.Errorf("contents %q, %v; want the second version alone", b, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640 from the creation", fi.Mode(), err)
	}
	if err := WriteFile(filepath.Join(p, "under-a-file"), nil, 0o600); !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("WriteFile below a regular file: %v", err)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"first, longer", "second"} {
		if err := WriteAtomic(dir, "state.json", []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err != nil || string(b) != v {
			t.Errorf("contents %q, %v; want %q", b, err, v)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d entries in the directory; want state.json alone, no temporary file", len(ents))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing"), "f", nil, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteAtomic into a missing directory: %v; want fs.ErrNotExist", err)
	}
}

func BenchmarkReadFile(b *testing.B) {
	for b.Loop() {
		if _, err := ReadFile("/proc/self/stat"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOSReadFile(b *testing.B) {
	for b.Loop() {
		if _, err := os.ReadFile("/proc/self/stat"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 64)
	if n, err := f.Read(b); err != nil || string(b[:n]) != "contents" || f.Name() != p {
		t.Errorf("read %q, %v from %s", b[:n], err, f.Name())
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("a file opened for reading took a write")
	}
	if _, err := Open(filepath.Join(p, "missing")); !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open below a file: %v", err)
	}
}

func TestCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "name")
	if err := Create(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(p, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v; want fs.ErrExist", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "first" {
		t.Errorf("contents %q, %v; want the first untouched", b, err)
	}
}
