package analyze

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

func TestReadBinaryGo(t *testing.T) {
	tests := []struct {
		name    string
		prog    string
		env     []string
		flags   []string
		linking Linking
		cgo     bool
		tags    []string
		want    GoFeatures
	}{
		{name: "hello", prog: "hello", linking: Static},
		{name: "hello stripped", prog: "hello", flags: []string{"-ldflags=-s -w"}, linking: Static},
		{name: "tls", prog: "tls", flags: []string{"-ldflags=-s -w"}, linking: Static,
			want: GoFeatures{TLSRoots: true}},
		{name: "tz", prog: "tz", linking: Static, want: GoFeatures{LoadLocation: true}},
		{name: "tz timetzdata", prog: "tz", flags: []string{"-tags", "timetzdata", "-ldflags=-s -w"}, linking: Static,
			tags: []string{"timetzdata"}, want: GoFeatures{LoadLocation: true, TZData: true}},
		{name: "user pure", prog: "user", linking: Static, want: GoFeatures{OSUser: true}},
		{name: "user osusergo", prog: "user", flags: []string{"-tags", "osusergo"}, linking: Static,
			tags: []string{"osusergo"}, want: GoFeatures{OSUser: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := goProg(t, tt.prog, tt.env, tt.flags...)
			b := readFile(t, p)
			if b.Linking != tt.linking {
				t.Errorf("linking %s, want %s (interp %q)", b.Linking, tt.linking, b.Interp)
			}
			if b.Arch != HostArch() {
				t.Errorf("arch %q, want %q", b.Arch, HostArch())
			}
			if b.Go == nil {
				t.Fatal("not recognised as a Go binary")
			}
			if b.Go.Version == "" || b.Go.CGO != tt.cgo || !slices.Equal(b.Go.Tags, tt.tags) {
				t.Errorf("go info %+v, want cgo %v tags %v", b.Go, tt.cgo, tt.tags)
			}
			if b.Go.Features == nil {
				t.Fatal("function table not read")
			}
			if *b.Go.Features != tt.want {
				t.Errorf("features %+v, want %+v", *b.Go.Features, tt.want)
			}
		})
	}
}

func TestReadBinaryGoCgo(t *testing.T) {
	cProg(t) // needs gcc
	p := goProg(t, "tls", []string{"CGO_ENABLED=1"})
	b := readFile(t, p)
	if b.Linking != Dynamic || b.Interp == "" || !slices.Contains(b.Needed, "libc.so.6") || b.Libc != Glibc {
		t.Errorf("cgo binary: %+v", b)
	}
	if b.Go == nil || !b.Go.CGO || b.Go.Features == nil || !b.Go.Features.CgoDNS || !b.Go.Features.TLSRoots {
		t.Errorf("cgo go info: %+v %+v", b.Go, b.Go.Features)
	}
	u := readFile(t, goProg(t, "user", []string{"CGO_ENABLED=1"}))
	if !u.Go.Features.OSUserCgo {
		t.Errorf("cgo os/user not seen: %+v", u.Go.Features)
	}
	// -tags netgo,osusergo keep the pure Go resolver and user lookup in a
	// cgo build.
	n := readFile(t, goProg(t, "tls", []string{"CGO_ENABLED=1"}, "-tags", "netgo,osusergo"))
	if !n.Go.CGO || !slices.Equal(n.Go.Tags, []string{"netgo", "osusergo"}) || n.Go.Features.CgoDNS || !n.Go.Features.TLSRoots {
		t.Errorf("cgo netgo build: %+v %+v", n.Go, n.Go.Features)
	}
	u = readFile(t, goProg(t, "user", []string{"CGO_ENABLED=1"}, "-tags", "osusergo"))
	if u.Go.Features.OSUserCgo || !u.Go.Features.OSUser {
		t.Errorf("cgo osusergo build: %+v", u.Go.Features)
	}
}

func TestReadBinaryC(t *testing.T) {
	tests := []struct {
		flags   []string
		linking Linking
		interp  bool
		needed  []string
	}{
		{nil, Dynamic, true, []string{"libc.so.6"}},
		{[]string{"-static"}, Static, false, nil},
		{[]string{"-static-pie"}, StaticPIE, false, nil},
		{[]string{"-Wl,-rpath,$ORIGIN/../lib:/opt/lib"}, Dynamic, true, []string{"libc.so.6"}},
	}
	for _, tt := range tests {
		p := cProg(t, tt.flags...)
		b := readFile(t, p)
		if b.Linking != tt.linking || (b.Interp != "") != tt.interp || !slices.Equal(b.Needed, tt.needed) {
			t.Errorf("gcc %v: linking %s interp %q needed %v", tt.flags, b.Linking, b.Interp, b.Needed)
		}
		if b.Go != nil {
			t.Errorf("gcc %v: taken for Go", tt.flags)
		}
		if b.Libc != Glibc {
			t.Errorf("gcc %v: libc %q, want glibc", tt.flags, b.Libc)
		}
		if len(tt.flags) == 1 && tt.flags[0] != "-static" && tt.flags[0] != "-static-pie" {
			want := []string{"$ORIGIN/../lib", "/opt/lib"}
			if !slices.Equal(b.RPath, want) && !slices.Equal(b.RunPath, want) {
				t.Errorf("rpath %v runpath %v, want %v", b.RPath, b.RunPath, want)
			}
		}
	}
}

func TestReadBinaryOtherArch(t *testing.T) {
	p := goProg(t, "hello", []string{"GOARCH=arm64"})
	b := readFile(t, p)
	if b.Arch != "arm64" || b.Machine != "EM_AARCH64" || b.Go == nil {
		t.Errorf("arm64 binary read as %+v", b)
	}
	p = goProg(t, "hello", []string{"GOARCH=386"})
	if b := readFile(t, p); b.Arch != "386" || b.Class != "ELF32" {
		t.Errorf("386 binary read as %+v", b)
	}
}

func TestReadBinaryBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(goProg(t, "hello", nil, "-ldflags=-s -w"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	// Point the section header table past the end of the file.
	copy(corrupt[0x28:0x30], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	cases := map[string][]byte{
		"empty":      {},
		"text":       []byte("#!/bin/sh\necho hi\n"),
		"magic only": []byte("\x7fELF"),
		"header cut": good[:40],
		"truncated":  good[:len(good)/3],
		"corrupt":    corrupt,
	}
	for name, data := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(p)
		_, err := ReadBinary(f, int64(len(data)), p)
		f.Close()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: error %v does not wrap ErrInvalidArgument", name, err)
		}
		if len(data) < 4 || string(data[:4]) != "\x7fELF" {
			if !errors.Is(err, ErrNotELF) {
				t.Errorf("%s: %v, want ErrNotELF", name, err)
			}
		}
		t.Logf("%s: %v", name, err)
	}
	// A directory.
	if _, err := ReadBinaryAt(os.DirFS(filepath.Dir(dir)), "/"+filepath.Base(dir)); err == nil || !errors.Is(err, ErrNotELF) {
		t.Errorf("directory: %v, want an ErrNotELF error", err)
	}
}

// TestReadBinaryHuge reads 1 GB files (sparse, so the test costs no disk):
// only the headers and the sections needed are read.
func TestReadBinaryHuge(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(cProg(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, head := range map[string][]byte{"zeros": nil, "elf": good} {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(head)
		if err := f.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		r := &countingReaderAt{r: f}
		b, err := ReadBinary(r, 1<<30, p)
		f.Close()
		if name == "zeros" && !errors.Is(err, ErrNotELF) {
			t.Errorf("1 GB of zeros: %v, want ErrNotELF", err)
		}
		if name == "elf" && (err != nil || b.Linking != Dynamic) {
			t.Errorf("1 GB ELF: %+v, %v", b, err)
		}
		if r.n > 16<<20 {
			t.Errorf("%s: read %d bytes of a 1 GB file", name, r.n)
		}
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestReadBinaryGoModule reads the main module, its dependencies (a
// replaced one too) and the build settings of a module build.
func TestReadBinaryGoModule(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"app/go.mod":     "module example.com/app\n\ngo 1.22\n\nrequire example.com/greet v1.2.3\n\nreplace example.com/greet => ../greet\n",
		"app/main.go":    "package main\n\nimport \"example.com/greet\"\n\nfunc main() { println(greet.Hello()) }\n",
		"greet/go.mod":   "module example.com/greet\n\ngo 1.22\n",
		"greet/greet.go": "package greet\n\nfunc Hello() string { return \"hello\" }\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "app.bin")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "netgo,osusergo", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = filepath.Join(dir, "app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b := readFile(t, out)
	if b.Go == nil {
		t.Fatal("not read as Go")
	}
	g := b.Go
	if g.Main != "example.com/app" || !strings.HasPrefix(g.Version, "go1.") || g.CGO || !slices.Equal(g.Tags, []string{"netgo", "osusergo"}) {
		t.Errorf("build info %+v", g)
	}
	if !slices.Equal(g.Deps, []string{"example.com/greet@v1.2.3 => ../greet"}) {
		t.Errorf("deps %q", g.Deps)
	}
}

// TestReadBinaryRust: Rust's standard library, glibc, and the CA bundle
// path a Rust program names are read from a rustc build.
func TestReadBinaryRust(t *testing.T) {
	rustc := testenv.RequireCommand(t, "rustc")
	dir := t.TempDir()
	for name, flags := range map[string][]string{
		"dynamic": nil,
		"static":  {"-C", "target-feature=+crt-static"},
	} {
		out := filepath.Join(dir, name)
		args := append([]string{"-O", "-o", out}, flags...)
		if b, err := exec.Command(rustc, append(args, filepath.Join("testdata", "progs", "certs.rs"))...).CombinedOutput(); err != nil {
			t.Fatalf("rustc %v: %v\n%s", flags, err, b)
		}
		b := readFile(t, out)
		if !b.Rust || b.Go != nil || b.Libc != Glibc || !slices.Contains(b.Paths, "/etc/ssl/certs") {
			t.Errorf("rustc %s: %+v", name, b)
		}
		if want := map[string]bool{"dynamic": true}[name]; (b.Linking == Dynamic) != want {
			t.Errorf("rustc %s: linking %s", name, b.Linking)
		}
		if name == "dynamic" && !slices.Contains(b.Needed, "libc.so.6") {
			t.Errorf("rustc dynamic: needed %v", b.Needed)
		}
	}
}
