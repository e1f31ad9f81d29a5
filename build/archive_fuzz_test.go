package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// FuzzReadArchive feeds ADD's archive reader arbitrary bytes: it must not
// panic, and every entry it accepts stays below the destination and never
// goes through a symlink the archive made.
func FuzzReadArchive(f *testing.F) {
	for _, hdrs := range [][]*tar.Header{
		{{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, {Name: "l/x", Typeflag: tar.TypeReg, Size: 1}},
		{{Name: "../x", Typeflag: tar.TypeReg, Size: 1}},
		{{Name: "f", Typeflag: tar.TypeReg, Size: 1}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hdrs {
			tw.WriteHeader(h)
			if h.Size > 0 {
				tw.Write([]byte("x"))
			}
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		sp := &spool{dir: dir}
		defer sp.Close()
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		children, err := readArchive(context.Background(), open, "fuzz.tar", sp)
		if err != nil {
			return
		}
		symlinks := map[string]bool{}
		for _, c := range children {
			if c.rel == "" || path.IsAbs(c.rel) || path.Clean(c.rel) != c.rel || c.rel == ".." || strings.HasPrefix(c.rel, "../") {
				t.Fatalf("entry %q leaves the destination", c.rel)
			}
			for dir := path.Dir(c.rel); dir != "."; dir = path.Dir(dir) {
				if symlinks[dir] {
					t.Fatalf("entry %q goes through the symlink %q", c.rel, dir)
				}
			}
			if c.e.Mode&fs.ModeSymlink != 0 {
				symlinks[c.rel] = true
			} else {
				delete(symlinks, c.rel)
			}
		}
	})
}
