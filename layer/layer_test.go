package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/tabula-dev/tabula/internal/testenv"
)

func content(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func regular(p, s string) File {
	return File{Path: p, Mode: 0o644, Size: int64(len(s)), Open: content(s), ModTime: time.Unix(1700000000, 0)}
}

// entries lists a tar stream as "name type mode uid:gid size mtime link".
func entries(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %c %o %d:%d %d %d %s", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.Unix(), h.Linkname))
	}
}

func TestWriteTarIsDeterministic(t *testing.T) {
	ctx := context.Background()
	files := []File{
		regular("usr/local/bin/app", "binary"),
		{Path: "/etc/ssl", Mode: fs.ModeDir | 0o755},
		regular("./etc/ssl/certs/ca.crt", "pem"),
		{Path: "bin/app", Mode: fs.ModeSymlink | 0o777, Linkname: "/usr/local/bin/app"},
		{Path: "etc/passwd", Mode: 0o644 | fs.ModeSetuid, UID: 65532, GID: 65532, Size: 1, Open: content("x")},
	}
	var a, b bytes.Buffer
	if err := WriteTar(ctx, &a, files, Options{}); err != nil {
		t.Fatal(err)
	}
	reversed := make([]File, len(files))
	for i, f := range files {
		reversed[len(files)-1-i] = f
	}
	if err := WriteTar(ctx, &b, reversed, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same files in another order gave other bytes")
	}
	got := strings.Join(entries(t, a.Bytes()), "\n")
	want := strings.Join([]string{
		"bin/ 5 755 0:0 0 1700000000 ",
		"bin/app 2 777 0:0 0 0 /usr/local/bin/app",
		"etc/ 5 755 0:0 0 1700000000 ",
		"etc/passwd 0 4644 65532:65532 1 0 ",
		"etc/ssl/ 5 755 0:0 0 0 ",
		"etc/ssl/certs/ 5 755 0:0 0 1700000000 ",
		"etc/ssl/certs/ca.crt 0 644 0:0 3 1700000000 ",
		"usr/ 5 755 0:0 0 1700000000 ",
		"usr/local/ 5 755 0:0 0 1700000000 ",
		"usr/local/bin/ 5 755 0:0 0 1700000000 ",
		"usr/local/bin/app 0 644 0:0 6 1700000000 ",
	}, "\n")
	if got != want {
		t.Errorf("entries:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTarClampsTimes(t *testing.T) {
	var buf bytes.Buffer
	epoch := time.Unix(1000, 0)
	if err := WriteTar(context.Background(), &buf, []File{regular("a", "x")}, Options{Timestamp: epoch}); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries(t, buf.Bytes()) {
		if !strings.Contains(e, " 1000 ") {
			t.Errorf("entry %q not clamped to 1000", e)
		}
	}
}

func TestWriteTarRefuses(t *testing.T) {
	for name, f := range map[string]File{
		"climbs out":   regular("../etc/passwd", "x"),
		"short read":   {Path: "a", Mode: 0o644, Size: 10, Open: content("x")},
		"no content":   {Path: "a", Mode: 0o644, Size: 10},
		"bad hardlink": {Path: "a", Hardlink: true, Linkname: "../../b"},
		"socket":       {Path: "s", Mode: fs.ModeSocket},
	} {
		t.Run(name, func(t *testing.T) {
			if err := WriteTar(context.Background(), io.Discard, []File{f}, Options{}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestNewLayerDigests(t *testing.T) {
	for _, c := range []Compression{Gzip, Zstd, None} {
		t.Run(string(c), func(t *testing.T) {
			files := []File{regular("app", strings.Repeat("hello ", 10000)), regular("test", "")}
			l, err := New(context.Background(), files, Options{Compression: c, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if c == Gzip {
				if err := validate.Layer(l); err != nil {
					t.Fatal(err)
				}
			}
			blob, _ := l.Compressed()
			b, _ := io.ReadAll(blob)
			if d, _ := l.Digest(); fmt.Sprintf("%x", sha256.Sum256(b)) != d.Hex {
				t.Error("digest is not the digest of the blob")
			}
			if n, _ := l.Size(); n != int64(len(b)) {
				t.Errorf("size %d, blob has %d bytes", n, len(b))
			}
			again, err := New(context.Background(), files, Options{Compression: c})
			if err != nil {
				t.Fatal(err)
			}
			d1, _ := l.Digest()
			d2, _ := again.Digest()
			if d1 != d2 {
				t.Errorf("same files, digests %s and %s", d1, d2)
			}
			rc, _ := l.Uncompressed()
			defer rc.Close()
			b, _ = io.ReadAll(rc)
			diffID, _ := l.DiffID()
			if fmt.Sprintf("%x", sha256.Sum256(b)) != diffID.Hex {
				t.Error("diff ID is not the digest of the uncompressed tar")
			}
		})
	}
}

func TestDecompress(t *testing.T) {
	plain := []byte(strings.Repeat("tabula ", 1000))
	compress := map[string]func(io.Writer) io.WriteCloser{
		"gzip": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"zstd": func(w io.Writer) io.WriteCloser { z, _ := zstd.NewWriter(w); return z },
		"xz":   func(w io.Writer) io.WriteCloser { z, _ := xz.NewWriter(w); return z },
		"none": func(w io.Writer) io.WriteCloser { return nopWriteCloser{w} },
	}
	for name, mk := range compress {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := mk(&buf)
			w.Write(plain)
			w.Close()
			if got := IsCompressed(buf.Bytes()); got != (name != "none") {
				t.Errorf("IsCompressed = %v", got)
			}
			rc, err := Decompress(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Error("round trip changed the content")
			}
		})
	}
}

// tarOf writes headers (with content for regular files) as a tar stream.
func tarOf(t testing.TB, hs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "content of " + h.Name
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func reg(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
func dir(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
func symlink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}

// sandbox returns a root to extract into, inside a parent that must stay
// otherwise empty, and a function that fails the test if anything was
// written beside the root.
func sandbox(t *testing.T) (string, func()) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, func() {
		t.Helper()
		es, _ := os.ReadDir(parent)
		if len(es) != 1 {
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			t.Errorf("extraction wrote outside its root: %v", names)
		}
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for name, tc := range map[string]struct {
		tar  []*tar.Header
		want string
	}{
		"dot dot":         {[]*tar.Header{reg("../escaped")}, "climbs out"},
		"nested dot dot":  {[]*tar.Header{reg("a/../../escaped")}, "climbs out"},
		"absolute":        {[]*tar.Header{reg("/escaped")}, "absolute"},
		"hardlink out":    {[]*tar.Header{{Name: "l", Typeflag: tar.TypeLink, Linkname: "../escaped"}}, "climbs out"},
		"hardlink absent": {[]*tar.Header{{Name: "l", Typeflag: tar.TypeLink, Linkname: "nothing"}}, "hard link"},
	} {
		t.Run(name, func(t *testing.T) {
			root, check := sandbox(t)
			err := Extract(context.Background(), bytes.NewReader(tarOf(t, tc.tar...)), root, ExtractOptions{NoChown: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			check()
		})
	}
}

func TestExtractKeepsSymlinksInside(t *testing.T) {
	for name, hs := range map[string][]*tar.Header{
		"absolute symlink": {symlink("evil", "/"), reg("evil/escaped")},
		"relative symlink": {symlink("evil", "../../../.."), reg("evil/escaped")},
		"chained":          {symlink("a", "../"), symlink("b", "a/a/a"), reg("b/escaped")},
		"symlink then dir": {symlink("evil", "/"), dir("evil/sub/"), reg("evil/sub/escaped")},
	} {
		t.Run(name, func(t *testing.T) {
			root, check := sandbox(t)
			if err := Extract(context.Background(), bytes.NewReader(tarOf(t, hs...)), root, ExtractOptions{NoChown: true}); err != nil {
				t.Fatal(err)
			}
			check()
			last := hs[len(hs)-1].Name
			if _, err := os.Stat(filepath.Join(root, strings.TrimPrefix(last, "evil/"))); err != nil && !strings.HasPrefix(last, "b/") {
				t.Errorf("%s did not land inside the root: %v", last, err)
			}
		})
	}
}

func TestExtractRoundTrip(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	files := []File{
		regular("etc/passwd", "root:x:0:0::/:/sbin/nologin\n"),
		{Path: "usr/bin/app", Mode: 0o755 | fs.ModeSetuid, UID: 65532, GID: 65532, Size: 3, Open: content("elf"), ModTime: time.Unix(42, 0)},
		{Path: "bin", Mode: fs.ModeSymlink | 0o777, Linkname: "usr/bin"},
		{Path: "usr/bin/again", Hardlink: true, Linkname: "usr/bin/app"},
		{Path: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Devmajor: 1, Devminor: 3},
	}
	var buf bytes.Buffer
	if err := WriteTar(ctx, &buf, files, Options{}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := Extract(ctx, &buf, root, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(root, "usr/bin/app"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755|fs.ModeSetuid || fi.ModTime().Unix() != 42 || owner(fi) != "65532:65532" {
		t.Errorf("usr/bin/app: mode %v mtime %d owner %s", fi.Mode(), fi.ModTime().Unix(), owner(fi))
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin")); l != "usr/bin" {
		t.Errorf("bin links to %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "bin/again")); string(b) != "elf" {
		t.Errorf("hard link reads %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(root, "dev/null")); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("dev/null: %v %v", fi, err)
	}
}

// TestExtractFileContents unpacks files larger and smaller than one of
// writeFile's writes, from a reader that returns little at a time as a
// decompressor does, and a file the archive cuts short.
func TestExtractFileContents(t *testing.T) {
	big := make([]byte, 2*writeSize+12345)
	rand.NewChaCha8([32]byte{1}).Read(big)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{"small", []byte("tiny")}, {"big", big}, {"empty", nil}, {"exact", big[:writeSize]}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(f.body))})
		tw.Write(f.body)
	}
	tw.Close()
	root := t.TempDir()
	if err := Extract(context.Background(), iotest.HalfReader(bytes.NewReader(buf.Bytes())), root, ExtractOptions{NoChown: true}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"small": []byte("tiny"), "big": big, "empty": nil, "exact": big[:writeSize]} {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}

	cut := buf.Bytes()[:1024+writeSize/2] // small's header and body, big's header, half of big
	err := Extract(context.Background(), bytes.NewReader(cut), t.TempDir(), ExtractOptions{NoChown: true})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("archive cut in a file: error %v, want one wrapping %v", err, io.ErrUnexpectedEOF)
	}
}

func TestExtractWhiteouts(t *testing.T) {
	ctx := context.Background()
	lower := tarOf(t, dir("a/"), reg("a/old"), reg("a/gone"), dir("b/"), reg("b/old"), reg("keep"))
	upper := tarOf(t, reg("a/.wh.gone"), dir("b/"), reg("b/new"), reg("b/.wh..wh..opq"), reg(".wh.keep.not"))
	root := t.TempDir()
	for _, l := range [][]byte{lower, upper} {
		if err := Extract(ctx, bytes.NewReader(l), root, ExtractOptions{NoChown: true}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		got = append(got, rel)
		return nil
	})
	if want := ". a a/old b b/new keep"; strings.Join(got, " ") != want {
		t.Errorf("tree after whiteouts: %v, want %s", got, want)
	}
}

func TestExtractOverlayWhiteouts(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	err := Extract(context.Background(), bytes.NewReader(tarOf(t, reg("a/.wh.gone"), reg("b/.wh..wh..opq"))), root, ExtractOptions{Whiteouts: OverlayWhiteouts})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(root, "a/gone"))
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("a/gone is not a whiteout device: %v %v", fi, err)
	}
	if v := opaque(t, filepath.Join(root, "b")); v != "y" {
		t.Errorf("b is not opaque: %q", v)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(tarOf(f, symlink("evil", "/"), reg("evil/escaped")))
	f.Add(tarOf(f, reg("../escaped"), dir("a/"), reg("a/.wh..wh..opq")))
	f.Add(tarOf(f, symlink("a", "../"), symlink("b", "a/a/a"), reg("b/escaped"), reg("a/.wh.b")))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		os.Mkdir(root, 0o755)
		Extract(context.Background(), bytes.NewReader(data), root, ExtractOptions{NoChown: true})
		es, _ := os.ReadDir(parent)
		if len(es) != 1 {
			t.Fatalf("extraction wrote outside its root: %v", es)
		}
	})
}

// TestWalkReadsToTheEnd: Walk reads past the archive's end marker, so a
// reader that fails at its end (a blob whose digest does not match) fails
// the walk, not only the entries.
func TestWalkReadsToTheEnd(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTar(context.Background(), &b, []File{regular("a", "x")}, Options{}); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("digest mismatch")
	r := io.MultiReader(bytes.NewReader(b.Bytes()), &failingReader{bad})
	n := 0
	err := Walk(context.Background(), r, func(h *tar.Header, _ io.Reader) error { n++; return nil })
	if !errors.Is(err, bad) || n != 1 {
		t.Errorf("Walk over a stream failing after the end marker: %v after %d entries", err, n)
	}
	if _, err := ContentSize(context.Background(), io.MultiReader(bytes.NewReader(b.Bytes()), &failingReader{bad})); !errors.Is(err, bad) {
		t.Errorf("ContentSize: %v", err)
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }
