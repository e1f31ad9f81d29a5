package analyze

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/tabula-dev/tabula/layer"
)

// lf is a layer file: a regular file with content, a directory (content
// "/"), or a symlink (content "->target").
type lf struct {
	path, content string
	mode          fs.FileMode
}

func reg(p, content string) lf { return lf{p, content, 0o644} }
func exe(p, content string) lf { return lf{p, content, 0o755} }
func dirEntry(p string) lf     { return lf{p, "", fs.ModeDir | 0o755} }
func link(p, target string) lf { return lf{p, target, fs.ModeSymlink | 0o777} }
func hostExe(t testing.TB, p, src string) lf {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return lf{p, string(b), 0o755}
}

func newLayer(t testing.TB, files ...lf) v1.Layer {
	t.Helper()
	var out []layer.File
	for _, f := range files {
		f := f
		lfile := layer.File{Path: f.path, Mode: f.mode}
		switch {
		case f.mode.IsDir():
		case f.mode&fs.ModeSymlink != 0:
			lfile.Linkname = f.content
		default:
			lfile.Size = int64(len(f.content))
			lfile.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(f.content))), nil }
		}
		out = append(out, lfile)
	}
	l, err := layer.New(context.Background(), out, layer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newImage(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = "linux", HostArch()
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestOpenImageWhiteouts(t *testing.T) {
	img := newImage(t, v1.Config{},
		newLayer(t, reg("etc/a", "a1"), reg("etc/b", "b1"), reg("keep/x", "x"), reg("opq/old", "old"),
			reg("gone/deep/f", "f"), link("lnk", "etc/a")),
		newLayer(t, reg("etc/a", "a2"), reg("etc/.wh.b", ""), reg(".wh.gone", ""),
			dirEntry("opq"), reg("opq/.wh..wh..opq", ""), reg("opq/new", "new")),
	)
	tree, err := OpenImage(context.Background(), img, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	want := map[string]string{"etc/a": "a2", "keep/x": "x", "opq/new": "new", "lnk": "a2"}
	for p, content := range want {
		b, err := fs.ReadFile(tree, p)
		if err != nil || string(b) != content {
			t.Errorf("%s: %q, %v; want %q", p, b, err, content)
		}
	}
	for _, p := range []string{"etc/b", "gone", "gone/deep/f", "opq/old", "etc/.wh.b", "opq/.wh..wh..opq"} {
		if _, err := tree.Lstat(p); err == nil {
			t.Errorf("%s survives its whiteout", p)
		}
	}
	if target, err := tree.ReadLink("lnk"); err != nil || target != "etc/a" {
		t.Errorf("ReadLink(lnk) = %q, %v", target, err)
	}
	if err := fstestCheck(tree.Tree); err != nil {
		t.Error(err)
	}
}

// fstestCheck reads every file the tree lists.
func fstestCheck(t *Tree) error {
	return fs.WalkDir(t, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			_, err = fs.ReadFile(t, p)
		}
		return err
	})
}

func TestTreeSymlinksStayInside(t *testing.T) {
	tree := NewTree()
	tree.AddFile("/etc/passwd", 0o644, 4, func() (ReadAtCloser, error) { return bytesAt("root"), nil })
	tree.AddSymlink("/up", "../../../../etc/passwd")
	tree.AddSymlink("/abs", "/etc/passwd")
	tree.AddSymlink("/lib", "usr/lib")
	tree.AddDir("/usr/lib", 0o755)
	tree.AddFile("/usr/lib/libc.so.6", 0o755, 4, func() (ReadAtCloser, error) { return bytesAt("libc"), nil })
	tree.AddSymlink("/loop1", "loop2")
	tree.AddSymlink("/loop2", "loop1")
	tree.AddSymlink("/hostetc", "/../../etc/shadow")
	for p, want := range map[string]string{"up": "root", "abs": "root", "lib/libc.so.6": "libc"} {
		b, err := fs.ReadFile(tree, p)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
	if _, err := tree.Open("loop1"); err == nil {
		t.Error("symlink loop opened")
	}
	// /etc/shadow exists on the host; the tree must not reach it.
	if _, err := tree.Open("hostetc"); err == nil {
		t.Error("a symlink climbing out of the root reached outside the tree")
	}
	if _, err := tree.Open("../etc/passwd"); err == nil {
		t.Error("an invalid fs path was accepted")
	}
}

type byteReaderAt struct{ *bytes.Reader }

func (byteReaderAt) Close() error { return nil }

func bytesAt(s string) ReadAtCloser { return byteReaderAt{bytes.NewReader([]byte(s))} }
