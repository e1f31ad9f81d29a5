package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
)

// fakeImages is an Images of images built in the test.
type fakeImages map[string]v1.Image

func (f fakeImages) Image(ctx context.Context, ref string) (v1.Image, error) {
	if img, ok := f[ref]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
}

// writeContext writes files (name → content; a name ending in "/" is a
// directory, content "->target" a symlink) under a new directory.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func build(t *testing.T, dir, dockerfile string, mod func(*Options)) (*Result, error) {
	t.Helper()
	opts := Options{ContextDir: dir, Dockerfile: []byte(dockerfile), TempDir: t.TempDir()}
	if mod != nil {
		mod(&opts)
	}
	return Build(context.Background(), opts)
}

func mustBuild(t *testing.T, dir, dockerfile string, mod func(*Options)) *Result {
	t.Helper()
	res, err := build(t, dir, dockerfile, mod)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return res
}

// listing is every entry of every layer: "layer path mode uid:gid size [content|->link]".
func listing(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			extra := ""
			switch h.Typeflag {
			case tar.TypeReg:
				b, _ := io.ReadAll(tr)
				extra = " " + string(b)
			case tar.TypeSymlink:
				extra = " ->" + h.Linkname
			case tar.TypeLink:
				extra = " =>" + h.Linkname
			}
			if !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
			}
			out = append(out, fmt.Sprintf("%d %s %04o %d:%d %d%s", i, h.Name, h.Mode, h.Uid, h.Gid, h.Size, extra))
		}
		rc.Close()
	}
	return out
}

func wantListing(t *testing.T, img v1.Image, want ...string) {
	t.Helper()
	got := listing(t, img)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScratchAddsNoLayer(t *testing.T) {
	res := mustBuild(t, writeContext(t, nil), "FROM scratch\nENV A=b\n", nil)
	layers, _ := res.Image.Layers()
	if len(layers) != 0 {
		t.Fatalf("%d layers, want 0", len(layers))
	}
	cfg, _ := res.Image.ConfigFile()
	if len(cfg.History) != 1 || !cfg.History[0].EmptyLayer || cfg.History[0].CreatedBy != "ENV A=b" {
		t.Errorf("history = %+v", cfg.History)
	}
	if !cfg.Created.Time.Equal(time.Unix(0, 0)) || cfg.OS != "linux" {
		t.Errorf("created %v os %q", cfg.Created, cfg.OS)
	}
}

func TestCopySemantics(t *testing.T) {
	ctxFiles := map[string]string{
		"test": "", "app": "APP", "a.txt": "A", "b.txt": "B", "dir/x": "X", "dir/sub/y": "Y",
		"dir/link": "->x", "linked": "->app", ".dockerignore": "secret\ndir/sub/ignored\n", "secret": "S", "dir/sub/ignored": "I",
	}
	tests := []struct {
		name, dockerfile string
		want             []string
	}{
		{"zero-byte file into dot", "FROM scratch\nCOPY test .\n", []string{"0 test 0644 0:0 0 "}},
		{"file to file", "FROM scratch\nCOPY app /bin/server\n", []string{"0 bin/ 0755 0:0 0", "0 bin/server 0644 0:0 3 APP"}},
		{"file into dir", "FROM scratch\nCOPY app /bin/\n", []string{"0 bin/ 0755 0:0 0", "0 bin/app 0644 0:0 3 APP"}},
		{"directory copies its contents", "FROM scratch\nCOPY dir /d\n", []string{
			"0 d/ 0755 0:0 0", "0 d/link 0777 0:0 0 ->x", "0 d/sub/ 0755 0:0 0", "0 d/sub/y 0644 0:0 1 Y", "0 d/x 0644 0:0 1 X"}},
		{"glob", "FROM scratch\nCOPY *.txt /t/\n", []string{"0 t/ 0755 0:0 0", "0 t/a.txt 0644 0:0 1 A", "0 t/b.txt 0644 0:0 1 B"}},
		{"relative to workdir", "FROM scratch\nWORKDIR /w\nCOPY app sub/\n", []string{
			"0 w/ 0755 0:0 0", "1 w/ 0755 0:0 0", "1 w/sub/ 0755 0:0 0", "1 w/sub/app 0644 0:0 3 APP"}},
		{"top symlink followed", "FROM scratch\nCOPY linked /l\n", []string{"0 l 0644 0:0 3 APP"}},
		{"chown and chmod", "FROM scratch\nCOPY --chown=10:20 --chmod=0755 app /app\n", []string{"0 app 0755 10:20 3 APP"}},
		{"chown uid only", "FROM scratch\nCOPY --chown=7 app /app\n", []string{"0 app 0644 7:7 3 APP"}},
		{"heredoc", "FROM scratch\nARG W=world\nCOPY <<EOF /greeting\nhello $W\nEOF\n", []string{"0 greeting 0644 0:0 12 hello world\n"}},
		{"existing dir is a dir", "FROM scratch\nCOPY dir/x /d/\nCOPY app /d\n", []string{
			"0 d/ 0755 0:0 0", "0 d/x 0644 0:0 1 X", "1 d/ 0755 0:0 0", "1 d/app 0644 0:0 3 APP"}},
		{"from stage keeps owners", "FROM scratch AS a\nCOPY --chown=5:6 dir/x /x\nFROM scratch\nCOPY --from=a /x /y\n", []string{"0 y 0644 5:6 1 X"}},
		{"copy link", "FROM scratch\nCOPY --link app /app\n", []string{"0 app 0644 0:0 3 APP"}},
		{"exclude", "FROM scratch\nCOPY --exclude=sub dir /d/\n", []string{"0 d/ 0755 0:0 0", "0 d/link 0777 0:0 0 ->x", "0 d/x 0644 0:0 1 X"}},
	}
	dir := writeContext(t, ctxFiles)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustBuild(t, dir, tt.dockerfile, nil)
			wantListing(t, res.Image, tt.want...)
		})
	}
}

func TestCopyErrors(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
	dir := writeContext(t, map[string]string{
		"app": "A", "a.txt": "a", "b.txt": "b", "out": "->" + filepath.Join(outside, "secret"), "up": "->../../etc/passwd",
		"sub/deep": "->../../x", ".dockerignore": "hidden\n", "hidden": "h",
	})
	tests := []struct {
		name, dockerfile, want string
	}{
		{"missing", "FROM scratch\nCOPY nope /x\n", "Dockerfile:2: COPY nope: no such file or directory in the build context"},
		{"dot dot", "FROM scratch\nCOPY ../x /x\n", "Dockerfile:2: COPY ../x: the path is outside the build context"},
		{"absolute", "FROM scratch\nCOPY /etc/passwd /x\n", "Dockerfile:2: COPY /etc/passwd: an absolute path is outside the build context"},
		{"absolute symlink", "FROM scratch\nCOPY out /x\n", "Dockerfile:2: COPY out: out is a symlink to " + filepath.Join(outside, "secret") + ", outside the build context"},
		{"relative symlink out", "FROM scratch\nCOPY up /x\n", "Dockerfile:2: COPY up: up is a symlink to ../../etc/passwd, outside the build context"},
		{"nested symlink out", "FROM scratch\nCOPY sub/deep /x\n", "outside the build context"},
		{"ignored", "FROM scratch\nCOPY hidden /x\n", "Dockerfile:2: COPY hidden: no such file in the build context (.dockerignore excludes it)"},
		{"glob none", "FROM scratch\nCOPY *.none /x/\n", "Dockerfile:2: COPY *.none: no file in the build context matches"},
		{"unknown from", "FROM scratch\nCOPY --from=builder /x /x\n", "Dockerfile:2: COPY --from=builder: no stage named builder, and no image builder in the local store"},
		{"unknown from image", "FROM scratch\nCOPY app /app\nFROM base:1\n", "Dockerfile:3: no image base:1 in the local store"},
		{"chown name without passwd", "FROM scratch\nCOPY --chown=app app /app\n", "Dockerfile:2: COPY --chown=app: user \"app\" cannot be looked up: the stage has no /etc/passwd"},
		{"many sources need dir", "FROM scratch\nCOPY app app /x\n", "Dockerfile:2: COPY with more than one source needs a destination directory ending in /"},
		{"glob of many needs dir", "FROM scratch\nCOPY *.txt /x\n", "Dockerfile:2: COPY *.txt matches 2 sources; with more than one source the destination must be a directory ending in /, not /x"},
		{"bad chmod", "FROM scratch\nCOPY --chmod=u+x app /x\n", "Dockerfile:2: COPY --chmod=u+x: want an octal mode"},
		{"file as dir", "FROM scratch\nCOPY app /f\nCOPY app /f/g\n", "Dockerfile:3: COPY: f/g cannot be written: f is a file in the image"},
		{"checksum local", "FROM scratch\nADD --checksum=sha256:00 app /x\n", "Dockerfile:2: ADD --checksum works only with http(s) URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, dir, tt.dockerfile, func(o *Options) { o.Images = fakeImages{} })
			if err == nil {
				t.Fatalf("Build succeeded, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	files := map[string]string{"app": "binary", "etc/ssl/certs/ca.pem": "CA", "dir/a": "a"}
	df := "FROM scratch AS host\nCOPY etc /etc\nFROM scratch\nCOPY --from=host /etc/ssl/certs/ /etc/ssl/certs/\nCOPY app /\nCOPY dir /dir\nUSER 65532:65532\nCMD [\"/app\"]\n"
	a := writeContext(t, files)
	b := writeContext(t, files)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		os.Chtimes(p, old, old)
		return nil
	})
	os.Chmod(filepath.Join(b, "dir"), 0o755)
	r1 := mustBuild(t, a, df, nil)
	r2 := mustBuild(t, b, df, func(o *Options) { o.CacheDir = t.TempDir() })
	d1, _ := r1.Image.Digest()
	d2, _ := r2.Image.Digest()
	if d1 != d2 {
		t.Fatalf("digests differ: %v %v", d1, d2)
	}
	// --timestamp changes every time, and so the digest.
	r3 := mustBuild(t, a, df, func(o *Options) { o.Timestamp = time.Unix(1700000000, 0) })
	if d3, _ := r3.Image.Digest(); d3 == d1 {
		t.Fatal("a different timestamp gave the same digest")
	}
	cfg, _ := r3.Image.ConfigFile()
	if cfg.Created.Unix() != 1700000000 {
		t.Errorf("created = %v", cfg.Created)
	}
}

func TestCacheHit(t *testing.T) {
	dir := writeContext(t, map[string]string{"app": strings.Repeat("x", 100000)})
	cache := t.TempDir()
	df := "FROM scratch\nCOPY app /app\nWORKDIR /data\n"
	var p1, p2 bytes.Buffer
	r1 := mustBuild(t, dir, df, func(o *Options) { o.CacheDir = cache; o.Progress = &p1 })
	r2 := mustBuild(t, dir, df, func(o *Options) { o.CacheDir = cache; o.Progress = &p2 })
	if strings.Contains(p1.String(), "CACHED") || strings.Count(p2.String(), "CACHED") != 2 {
		t.Fatalf("first:\n%s\nsecond:\n%s", p1.String(), p2.String())
	}
	if !strings.Contains(p2.String(), "#2 [1/2] COPY app /app\n#2 CACHED") {
		t.Errorf("progress:\n%s", p2.String())
	}
	d1, _ := r1.Image.Digest()
	d2, _ := r2.Image.Digest()
	if d1 != d2 {
		t.Fatal("cached build differs")
	}
	// A changed file misses the cache.
	os.WriteFile(filepath.Join(dir, "app"), []byte("y"), 0o644)
	var p3 bytes.Buffer
	r3 := mustBuild(t, dir, df, func(o *Options) { o.CacheDir = cache; o.Progress = &p3 })
	if strings.Count(p3.String(), "CACHED") != 1 {
		t.Errorf("progress after a change:\n%s", p3.String())
	}
	wantListing(t, r3.Image, "0 app 0644 0:0 1 y", "1 data/ 0755 0:0 0")
	// --no-cache builds again.
	var p4 bytes.Buffer
	mustBuild(t, dir, df, func(o *Options) { o.CacheDir = cache; o.NoCache = true; o.Progress = &p4 })
	if strings.Contains(p4.String(), "CACHED") {
		t.Errorf("--no-cache progress:\n%s", p4.String())
	}
}

func TestConfigInstructions(t *testing.T) {
	df := `FROM scratch
ENV A=1 B="two words"
ENV A=one
LABEL org.example.v=1 "x y"=z
USER 65532:65532
WORKDIR /srv
WORKDIR rel
EXPOSE 80 53/udp 8000-8001
SHELL ["/bin/ash", "-e", "-c"]
CMD serve --port 80
ENTRYPOINT ["/app"]
STOPSIGNAL SIGTERM
VOLUME /data
VOLUME ["/cache"]
HEALTHCHECK --interval=5s --retries=2 CMD ["/app", "health"]
ONBUILD COPY . /src
MAINTAINER someone
`
	res := mustBuild(t, writeContext(t, nil), df, func(o *Options) { o.Labels = map[string]string{"cli": "yes"} })
	cfg, _ := res.Image.ConfigFile()
	c := cfg.Config
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("Env", c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=one", "B=two words"})
	check("Labels", c.Labels, map[string]string{"org.example.v": "1", "x y": "z", "cli": "yes"})
	check("User", c.User, "65532:65532")
	check("WorkingDir", c.WorkingDir, "/srv/rel")
	check("ExposedPorts", c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
	check("Cmd", c.Cmd, []string{"/bin/ash", "-e", "-c", "serve --port 80"})
	check("Entrypoint", c.Entrypoint, []string{"/app"})
	check("StopSignal", c.StopSignal, "SIGTERM")
	check("Volumes", c.Volumes, map[string]struct{}{"/data": {}, "/cache": {}})
	check("Healthcheck", *c.Healthcheck, v1.HealthConfig{Test: []string{"CMD", "/app", "health"}, Interval: 5 * time.Second, Retries: 2})
	check("OnBuild", c.OnBuild, []string{"COPY . /src"})
	check("Author", cfg.Author, "someone")
	// WORKDIR made two layers, owned by the USER; the rest are empty layers.
	wantListing(t, res.Image, "0 srv/ 0755 65532:65532 0", "1 srv/ 0755 65532:65532 0", "1 srv/rel/ 0755 65532:65532 0")
	var empty, full int
	for _, h := range cfg.History {
		if h.EmptyLayer {
			empty++
		} else {
			full++
		}
	}
	if full != 2 || empty != 14 {
		t.Errorf("history: %d layers, %d empty; want 2 and 14", full, empty)
	}
}

func TestEntrypointResetsInheritedCmd(t *testing.T) {
	df := "FROM scratch AS base\nCMD [\"x\"]\nFROM base\nENTRYPOINT /app\n"
	res := mustBuild(t, writeContext(t, nil), df, nil)
	cfg, _ := res.Image.ConfigFile()
	if cfg.Config.Cmd != nil || fmt.Sprint(cfg.Config.Entrypoint) != "[/bin/sh -c /app]" {
		t.Errorf("Cmd %v Entrypoint %v", cfg.Config.Cmd, cfg.Config.Entrypoint)
	}
}

func TestChownNamesFromStagePasswd(t *testing.T) {
	dir := writeContext(t, map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\nstaff:x:50:app\n",
		"f":          "F",
	})
	df := "FROM scratch AS base\nCOPY etc /etc\nFROM base\nCOPY --chown=app:staff f /f\nCOPY --chown=app f /g\n"
	res := mustBuild(t, dir, df, nil)
	got := listing(t, res.Image)
	if got[len(got)-2] != "1 f 0644 1000:50 1 F" || got[len(got)-1] != "2 g 0644 1000:1000 1 F" {
		t.Errorf("listing %q", got)
	}
	_, err := build(t, dir, "FROM scratch AS base\nCOPY etc /etc\nFROM base\nCOPY --chown=nobody f /f\n", nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:4: COPY --chown=nobody: no user \"nobody\" in the stage's /etc/passwd") {
		t.Errorf("err = %v", err)
	}
}

func TestFromImage(t *testing.T) {
	dir := writeContext(t, map[string]string{"lib/ld.so": "LD", "app": "A"})
	base := mustBuild(t, dir, "FROM scratch\nCOPY lib /lib\nENV HOME=/home\n", nil)
	images := fakeImages{"base:1": base.Image}
	res := mustBuild(t, dir, "FROM base:1\nWORKDIR $HOME\nCOPY app .\n", func(o *Options) { o.Images = images })
	wantListing(t, res.Image, "0 lib/ 0755 0:0 0", "0 lib/ld.so 0644 0:0 2 LD", "1 home/ 0755 0:0 0", "2 home/ 0755 0:0 0", "2 home/app 0644 0:0 1 A")
	res = mustBuild(t, dir, "FROM scratch\nCOPY --from=base:1 /lib/ld.so /ld\n", func(o *Options) { o.Images = images })
	wantListing(t, res.Image, "0 ld 0644 0:0 2 LD")
}

// tarball returns a tar of entries compressed with compress.
func tarball(t *testing.T, hdrs []*tar.Header, compress func(io.Writer) io.WriteCloser) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := compress(&buf)
	tw := tar.NewWriter(w)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname))
		}
		content := h.Linkname
		if h.Typeflag == tar.TypeReg {
			h.Linkname = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(content))
		}
	}
	tw.Close()
	w.Close()
	return buf.Bytes()
}

type nopW struct{ io.Writer }

func (nopW) Close() error { return nil }

func TestAddArchives(t *testing.T) {
	hdrs := func() []*tar.Header {
		return []*tar.Header{
			{Name: "hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "hello\n"},
			{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "dir/x", Typeflag: tar.TypeReg, Mode: 0o640, Linkname: "x"},
		}
	}
	bz2, err := os.ReadFile("testdata/files.tar.bz2")
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string][]byte{
		"a.tar":     tarball(t, hdrs(), func(w io.Writer) io.WriteCloser { return nopW{w} }),
		"a.tar.gz":  tarball(t, hdrs(), func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }),
		"a.tar.bz2": bz2,
		"a.tar.xz": tarball(t, hdrs(), func(w io.Writer) io.WriteCloser {
			x, _ := xz.NewWriter(w)
			return x
		}),
		"a.tar.zst": tarball(t, hdrs(), func(w io.Writer) io.WriteCloser {
			z, _ := zstd.NewWriter(w)
			return z
		}),
	}
	dir := t.TempDir()
	for name, data := range archives {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		t.Run(name, func(t *testing.T) {
			res := mustBuild(t, dir, "FROM scratch\nADD "+name+" /opt\n", nil)
			wantListing(t, res.Image, "0 opt/ 0755 0:0 0", "0 opt/dir/ 0755 0:0 0", "0 opt/dir/x 0640 0:0 1 x", "0 opt/hello.txt 0644 0:0 6 hello\n")
		})
	}
	// A plain file is copied, and COPY never extracts.
	os.WriteFile(filepath.Join(dir, "plain"), []byte("not a tar"), 0o644)
	res := mustBuild(t, dir, "FROM scratch\nADD plain /p\nCOPY a.tar /a.tar\n", nil)
	got := listing(t, res.Image)
	if len(got) != 2 || got[0] != "0 p 0644 0:0 9 not a tar" || !strings.HasPrefix(got[1], "1 a.tar 0644 0:0 ") {
		t.Errorf("listing %q", got)
	}
}

func TestAddArchiveEscapes(t *testing.T) {
	tests := []struct {
		name string
		hdrs []*tar.Header
		want string
	}{
		{"dot dot", []*tar.Header{{Name: "../../etc/evil", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "x"}}, `entry "../../etc/evil" climbs out`},
		{"absolute", []*tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "x"}}, `entry "/etc/evil" is an absolute path`},
		{"symlink then file", []*tar.Header{
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "x"},
		}, `entry "link/evil" goes through the symbolic link link`},
		{"symlink dir then file", []*tar.Header{
			{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "a/up", Typeflag: tar.TypeSymlink, Linkname: "../../.."},
			{Name: "a/up/b/evil", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "x"},
		}, `goes through the symbolic link a/up`},
		{"hard link out", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}}, "hard link to an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "evil.tar"), tarball(t, tt.hdrs, func(w io.Writer) io.WriteCloser { return nopW{w} }), 0o644)
			_, err := build(t, dir, "FROM scratch\nADD evil.tar /x/\n", nil)
			if err == nil || !strings.Contains(err.Error(), "Dockerfile:2: ADD evil.tar: the archive's "+tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("not an invalid argument: %v", err)
			}
		})
	}
	// A symlink to an image directory with a file written through it.
	dir := writeContext(t, map[string]string{"f": "x"})
	os.WriteFile(filepath.Join(dir, "ok.tar"), tarball(t, []*tar.Header{{Name: "l/f", Typeflag: tar.TypeReg, Mode: 0o644, Linkname: "x"}}, func(w io.Writer) io.WriteCloser { return nopW{w} }), 0o644)
	os.Symlink("/etc", filepath.Join(dir, "l"))
	_, err := build(t, dir, "FROM scratch AS s\nCOPY --from=0 / /\nFROM scratch\nADD ok.tar /\n", nil)
	if err != nil {
		t.Fatalf("plain archive: %v", err)
	}
}

func TestAddURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "downloaded")
	}))
	defer srv.Close()
	sum := sha256Hex([]byte("downloaded"))
	dir := writeContext(t, nil)
	res := mustBuild(t, dir, fmt.Sprintf("FROM scratch\nADD --checksum=sha256:%s %s/files/tool /bin/\n", sum, srv.URL), nil)
	wantListing(t, res.Image, "0 bin/ 0755 0:0 0", "0 bin/tool 0600 0:0 10 downloaded")
	_, err := build(t, dir, fmt.Sprintf("FROM scratch\nADD --checksum=sha256:%s %s/files/tool /bin/\n", strings.Repeat("0", 64), srv.URL), nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2: ADD "+srv.URL+"/files/tool: the download's checksum is sha256:"+sum) {
		t.Errorf("err = %v", err)
	}
	_, err = build(t, dir, fmt.Sprintf("FROM scratch\nADD %s/missing /x\n", srv.URL), nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v", err)
	}
}

func TestCancel(t *testing.T) {
	dir := writeContext(t, map[string]string{"a": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, Options{ContextDir: dir, Dockerfile: []byte("FROM scratch\nCOPY a /a\n")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestZstdLayers(t *testing.T) {
	dir := writeContext(t, map[string]string{"a": "x"})
	res, err := build(t, dir, "FROM scratch\nCOPY a /a\n", func(o *Options) { o.Compression = layer.Zstd })
	if err != nil {
		t.Fatal(err)
	}
	// validate reads layers as gzip only: check the manifest and config.
	if err := validate.Image(res.Image, validate.Fast); err != nil {
		t.Fatal(err)
	}
	wantListing(t, res.Image, "0 a 0644 0:0 1 x")
	layers, _ := res.Image.Layers()
	mt, _ := layers[0].MediaType()
	if mt != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Fatalf("media type %s", mt)
	}
	m, _ := res.Image.Manifest()
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("manifest %s config %s", m.MediaType, m.Config.MediaType)
	}
}

func TestDockerignoreWalk(t *testing.T) {
	dir := writeContext(t, map[string]string{
		".dockerignore": "**/*.log\nnode_modules\n!node_modules/keep\n", "a/b.log": "l", "a/c": "c",
		"node_modules/x": "x", "node_modules/keep": "k",
	})
	res := mustBuild(t, dir, "FROM scratch\nCOPY . /src/\n", nil)
	got := listing(t, res.Image)
	sort.Strings(got)
	want := []string{"0 src/ 0755 0:0 0", "0 src/.dockerignore 0644 0:0 41 **/*.log\nnode_modules\n!node_modules/keep\n", "0 src/a/ 0755 0:0 0",
		"0 src/a/c 0644 0:0 1 c", "0 src/node_modules/ 0755 0:0 0", "0 src/node_modules/keep 0644 0:0 1 k"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScratchPlatform(t *testing.T) {
	res := mustBuild(t, writeContext(t, nil), "FROM --platform=linux/arm64/v8 scratch\n", nil)
	cfg, _ := res.Image.ConfigFile()
	if cfg.OS != "linux" || cfg.Architecture != "arm64" || cfg.Variant != "v8" {
		t.Errorf("platform %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant)
	}
	if _, err := build(t, writeContext(t, nil), "FROM --platform=arm64 scratch\n", nil); err == nil || !strings.Contains(err.Error(), "Dockerfile:1: FROM --platform=arm64: want os/arch[/variant]") {
		t.Errorf("err = %v", err)
	}
}

// A symlink in a stage never leads COPY --from out of that stage's root.
func TestCopyFromStageSymlinkStaysInside(t *testing.T) {
	dir := writeContext(t, map[string]string{"up": "->../../../../../../etc", "etc/hostname": "stage's own"})
	df := "FROM scratch AS s\nCOPY . /\nFROM scratch\nCOPY --from=s /up/hostname /h\n"
	res := mustBuild(t, dir, df, nil)
	// /up → /etc inside the stage: its own hostname, not the host's.
	wantListing(t, res.Image, "0 h 0644 0:0 11 stage's own")
	_, err := build(t, dir, "FROM scratch AS s\nCOPY . /\nFROM scratch\nCOPY --from=s /up/passwd /p\n", nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:4: COPY --from: /up/passwd: no such file or directory in stage s") {
		t.Fatalf("err = %v", err)
	}
}

// cancelOn cancels when a progress line contains what.
type cancelOn struct {
	what   string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.what) {
		c.cancel()
	}
	return len(p), nil
}

// A build cancelled mid-way (Ctrl-C) stops with context.Canceled.
func TestCancelMidBuild(t *testing.T) {
	dir := writeContext(t, map[string]string{"a": "x", "b": "y"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Build(ctx, Options{
		ContextDir: dir, Dockerfile: []byte("FROM scratch\nCOPY a /a\nCOPY b /b\n"),
		Progress: cancelOn{what: "COPY a /a", cancel: cancel},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestDockerfileOwnIgnoreFile(t *testing.T) {
	dir := writeContext(t, map[string]string{".dockerignore": "a\n", "a": "A", "b": "B", "app.Dockerfile.dockerignore": "b\n*.dockerignore\n"})
	df := "FROM scratch\nCOPY . /x/\n"
	res := mustBuild(t, dir, df, func(o *Options) { o.IgnoreFile = filepath.Join(dir, "app.Dockerfile.dockerignore") })
	wantListing(t, res.Image, "0 x/ 0755 0:0 0", "0 x/a 0644 0:0 1 A")
	res = mustBuild(t, dir, df, func(o *Options) { o.IgnoreFile = filepath.Join(dir, "missing.dockerignore") })
	wantListing(t, res.Image, "0 x/ 0755 0:0 0", "0 x/.dockerignore 0644 0:0 2 a\n", "0 x/app.Dockerfile.dockerignore 0644 0:0 17 b\n*.dockerignore\n", "0 x/b 0644 0:0 1 B")
}

func TestOnBuildTriggersRun(t *testing.T) {
	dir := writeContext(t, map[string]string{"app": "A"})
	base := mustBuild(t, dir, "FROM scratch\nONBUILD COPY app /from-trigger\n", nil)
	res := mustBuild(t, dir, "FROM base:1\nLABEL child=yes\n", func(o *Options) { o.Images = fakeImages{"base:1": base.Image} })
	wantListing(t, res.Image, "0 from-trigger 0644 0:0 1 A")
	cfg, _ := res.Image.ConfigFile()
	if len(cfg.Config.OnBuild) != 0 {
		t.Errorf("triggers passed on: %v", cfg.Config.OnBuild)
	}
	if n := len(cfg.History); n != 3 || cfg.History[1].CreatedBy != "COPY app /from-trigger" {
		t.Errorf("history %+v", cfg.History)
	}
}

func TestAddArchiveHardLink(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "l.tar"), tarball(t, []*tar.Header{
		{Name: "f", Typeflag: tar.TypeReg, Mode: 0o755, Linkname: "data"},
		{Name: "sub/h", Typeflag: tar.TypeLink, Linkname: "f"},
	}, func(w io.Writer) io.WriteCloser { return nopW{w} }), 0o644)
	df := "FROM scratch AS a\nADD l.tar /x/\nFROM scratch\nCOPY --from=a /x/sub/h /copied\n"
	res := mustBuild(t, dir, df, func(o *Options) { o.Target = "a" })
	wantListing(t, res.Image, "0 x/ 0755 0:0 0", "0 x/f 0755 0:0 4 data", "0 x/sub/ 0755 0:0 0", "0 x/sub/h 0755 0:0 0 =>x/f")
	// Copied out of the stage, the link is a file with the content.
	res = mustBuild(t, dir, df, nil)
	wantListing(t, res.Image, "0 copied 0755 0:0 4 data")
}

func TestUnusedBuildArgWarning(t *testing.T) {
	var p bytes.Buffer
	mustBuild(t, writeContext(t, nil), "FROM scratch\nARG USED\n", func(o *Options) {
		o.BuildArgs = map[string]string{"USED": "1", "TYPO": "2"}
		o.Progress = &p
	})
	if !strings.Contains(p.String(), "[Warning] One or more build-args [TYPO] were not consumed\n") {
		t.Errorf("progress:\n%s", p.String())
	}
}

func TestConfigInstructionErrors(t *testing.T) {
	tests := []struct{ df, want string }{
		{"FROM scratch\nEXPOSE 80/foo\n", "Dockerfile:2: EXPOSE 80/foo: protocol \"foo\": want tcp, udp or sctp"},
		{"FROM scratch\nEXPOSE http\n", "Dockerfile:2: EXPOSE http: \"http\" is not a port number"},
		{"FROM scratch\nEXPOSE 90-80\n", "Dockerfile:2: EXPOSE 90-80: \"90-80\" is not a port range"},
		{"FROM scratch\nSTOPSIGNAL 99\n", "Dockerfile:2: STOPSIGNAL 99: signal numbers go from 1 to 64"},
		{"FROM scratch\nSTOPSIGNAL SIG!\n", "Dockerfile:2: STOPSIGNAL SIG! is not a signal name or number"},
		{"FROM scratch\nCOPY a /f\nWORKDIR /f\n", "Dockerfile:3: WORKDIR /f: the path exists and is not a directory"},
	}
	dir := writeContext(t, map[string]string{"a": "x"})
	for _, tt := range tests {
		_, err := build(t, dir, tt.df, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.df, err, tt.want)
		}
	}
}

// What the README says of reproducibility: an ADD archive's entries keep
// their owners and lose their times and user names; context files are 0:0.
func TestAddArchiveKeepsOwnersNotTimes(t *testing.T) {
	dir := writeContext(t, map[string]string{"f": "F"})
	os.WriteFile(filepath.Join(dir, "o.tar"), tarball(t, []*tar.Header{
		{Name: "owned", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 5, Gid: 6, Uname: "five", Gname: "six", ModTime: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Linkname: "o"},
	}, func(w io.Writer) io.WriteCloser { return nopW{w} }), 0o644)
	os.Chtimes(filepath.Join(dir, "f"), time.Now(), time.Now())
	res := mustBuild(t, dir, "FROM scratch\nADD o.tar /\nCOPY f /f\n", nil)
	wantListing(t, res.Image, "0 owned 0600 5:6 1 o", "1 f 0644 0:0 1 F")
	layers, _ := res.Image.Layers()
	for _, l := range layers {
		rc, _ := l.Uncompressed()
		tr := tar.NewReader(rc)
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("%s carries names %q:%q", h.Name, h.Uname, h.Gname)
			}
		}
		rc.Close()
	}
}
