package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// buildID runs `tabula build -q` and returns the image ID it prints.
func (e *env) buildID(dir string, args ...string) string {
	e.t.Helper()
	out := e.ok(append(append([]string{"build", "-q"}, args...), dir)...)
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		e.t.Fatalf("build printed %q, want an image ID", out)
	}
	return id
}

// storedImage reads the image whose config digest is id straight from the
// OCI layout under the root, and validates it.
func (e *env) storedImage(id string) v1.Image {
	e.t.Helper()
	p, err := layout.FromPath(filepath.Join(e.root, "images"))
	if err != nil {
		e.t.Fatalf("open the layout: %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			continue
		}
		if name, _ := img.ConfigName(); name.String() == id {
			if err := validate.Image(img); err != nil {
				e.t.Fatalf("stored image %s: %v", id, err)
			}
			return img
		}
	}
	e.t.Fatalf("image %s is not in the layout's index.json", id)
	return nil
}

// imageFiles lists every file of an image's layers as "path mode uid:gid size".
func imageFiles(t *testing.T, img v1.Image) (files []string, contentBytes int64) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
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
			files = append(files, fmt.Sprintf("%s %04o %d:%d %d", h.Name, h.Mode, h.Uid, h.Gid, h.Size))
			contentBytes += h.Size
		}
		rc.Close()
	}
	return files, contentBytes
}

func wantFiles(t *testing.T, img v1.Image, want ...string) {
	t.Helper()
	got, _ := imageFiles(t, img)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// copyHostFile copies src into dir/name, or writes stand-in content when
// the host has no such file.
func copyHostFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		data = []byte("stand-in for " + src + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestBuildSeeds builds the scratch Dockerfiles of the seeds. Their builder
// stages ran compilers with RUN; here a stage copies the host-built binary
// and host files from the context instead.
func TestBuildSeeds(t *testing.T) {
	hello := goProgram(t, "hello", nil, "-ldflags=-s -w")
	helloInfo, err := os.Stat(hello)
	if err != nil {
		t.Fatal(err)
	}
	size := helloInfo.Size()
	e := newEnv(t)

	t.Run("000 final stage copies from a stage", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, hello, filepath.Join(dir, "app"), 0o755)
		writeFiles(t, dir, map[string]string{"Dockerfile": `# Build Stage (the binary was built on the host)
FROM scratch AS builder
WORKDIR /src
COPY app .

# Final Image
FROM scratch
COPY --from=builder /src/app /app
ENTRYPOINT ["/app"]
`})
		img := e.storedImage(e.buildID(dir, "-t", "seed000"))
		wantFiles(t, img, fmt.Sprintf("app 0755 0:0 %d", size))
		cfg, _ := img.ConfigFile()
		if strings.Join(cfg.Config.Entrypoint, " ") != "/app" {
			t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
		}
	})

	t.Run("001 an empty file is about 0 bytes", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"test": "", "Dockerfile": "FROM scratch\nCOPY test .\n"})
		img := e.storedImage(e.buildID(dir, "-t", "scratchtest"))
		files, content := imageFiles(t, img)
		if content != 0 || len(files) != 1 || files[0] != "test 0644 0:0 0" {
			t.Errorf("files %q, %d bytes of content; want only the empty test", files, content)
		}
		layers, _ := img.Layers()
		if len(layers) != 1 {
			t.Errorf("%d layers, want 1", len(layers))
		}
	})

	t.Run("003 hello", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, hello, filepath.Join(dir, "hello"), 0o755)
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /\nCMD [\"/hello\"]\n"})
		img := e.storedImage(e.buildID(dir, "-t", "hello"))
		wantFiles(t, img, fmt.Sprintf("hello 0755 0:0 %d", size))
	})

	// The host-like stage the CA, zoneinfo and USER Dockerfiles copy from.
	host := t.TempDir()
	copyFile(t, hello, filepath.Join(host, "main"), 0o755)
	copyHostFile(t, "/etc/ssl/certs/ca-certificates.crt", filepath.Join(host, "certs", "ca-certificates.crt"))
	copyHostFile(t, "/usr/share/zoneinfo/UTC", filepath.Join(host, "zoneinfo", "UTC"))
	copyHostFile(t, "/usr/share/zoneinfo/Europe/Paris", filepath.Join(host, "zoneinfo", "Europe", "Paris"))
	builder := "FROM scratch AS builder\nWORKDIR /app\nCOPY main .\nCOPY certs/ /etc/ssl/certs/\nCOPY zoneinfo /usr/share/zoneinfo\n"
	certSize := fileSize(t, filepath.Join(host, "certs", "ca-certificates.crt"))

	t.Run("003 CA bundle", func(t *testing.T) {
		writeFiles(t, host, map[string]string{"Dockerfile": builder + `FROM scratch

# Copy the CA bundle from the builder stage
COPY --from=builder /etc/ssl/certs/ /etc/ssl/certs/
COPY --from=builder /app/main /
CMD ["/main"]
`})
		img := e.storedImage(e.buildID(host, "-t", "ca"))
		wantFiles(t, img,
			"etc/ 0755 0:0 0", "etc/ssl/ 0755 0:0 0", "etc/ssl/certs/ 0755 0:0 0",
			fmt.Sprintf("etc/ssl/certs/ca-certificates.crt 0644 0:0 %d", certSize),
			fmt.Sprintf("main 0755 0:0 %d", size))
	})

	t.Run("003 zoneinfo", func(t *testing.T) {
		writeFiles(t, host, map[string]string{"Dockerfile": builder + `FROM scratch

# Copy the timezone info from the builder stage
COPY --from=builder /usr/share/zoneinfo/ /usr/share/zoneinfo/
COPY --from=builder /app/main /
CMD ["/main"]
`})
		img := e.storedImage(e.buildID(host, "-t", "tz"))
		files, _ := imageFiles(t, img)
		joined := strings.Join(files, "\n")
		for _, want := range []string{"usr/share/zoneinfo/UTC 0644 0:0", "usr/share/zoneinfo/Europe/Paris 0644 0:0", "main 0755 0:0"} {
			if !strings.Contains(joined, want) {
				t.Errorf("no %q in\n%s", want, joined)
			}
		}
	})

	t.Run("003 USER 65532", func(t *testing.T) {
		writeFiles(t, host, map[string]string{"Dockerfile": builder + "FROM scratch\nUSER 65532:65532\nENV USER=nonroot\nCOPY --from=builder /app/main /\nCMD [\"/main\"]\n"})
		img := e.storedImage(e.buildID(host, "-t", "nonroot"))
		cfg, _ := img.ConfigFile()
		if cfg.Config.User != "65532:65532" || !contains(cfg.Config.Env, "USER=nonroot") {
			t.Errorf("user %q env %q", cfg.Config.User, cfg.Config.Env)
		}
		wantFiles(t, img, fmt.Sprintf("main 0755 0:0 %d", size))
	})

	t.Run("004 multi-stage static binary", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, hello, filepath.Join(dir, "main"), 0o755)
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch AS builder\nCOPY main /src/main\n\nFROM scratch\nCOPY --from=builder /src/main /main\nCMD [\"/main\"]\n"})
		img := e.storedImage(e.buildID(dir, "-t", "docker-from-scratch"))
		_, content := imageFiles(t, img)
		if content != size {
			t.Errorf("image content %d bytes, want the binary's %d", content, size)
		}
	})
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestBuildReproducible builds the same Dockerfile from a fresh root each
// time, and from a copy of the context whose files have other mtimes.
func TestBuildReproducible(t *testing.T) {
	hello := goProgram(t, "hello", nil)
	files := map[string]string{
		"Dockerfile":        "FROM scratch AS files\nCOPY etc /etc\nFROM scratch\nCOPY --from=files /etc/ /etc/\nCOPY hello /\nCOPY data /data\nCMD [\"/hello\"]\n",
		"etc/passwd":        "nonroot:x:65532:65532::/:/sbin/nologin\n",
		"data/a/b.txt":      "b",
		"data/c.txt":        "c",
		"data/a/deep/d.txt": "d",
	}
	a, b := t.TempDir(), t.TempDir()
	writeFiles(t, a, files)
	writeFiles(t, b, files)
	copyFile(t, hello, filepath.Join(a, "hello"), 0o755)
	copyFile(t, hello, filepath.Join(b, "hello"), 0o755)
	old := time.Date(2011, 1, 2, 3, 4, 5, 0, time.UTC)
	filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(p, old, old.Add(time.Duration(len(p))*time.Hour))
		}
		return nil
	})
	id1 := newEnv(t).buildID(a)
	id2 := newEnv(t).buildID(a)
	id3 := newEnv(t).buildID(b)
	if id1 != id2 || id1 != id3 {
		t.Fatalf("image IDs differ: %s %s %s", id1, id2, id3)
	}
	// SOURCE_DATE_EPOCH and --timestamp set every time.
	e := newEnv(t)
	id4 := e.buildID(a, "--timestamp", "1700000000")
	if id4 == id1 {
		t.Fatal("--timestamp did not change the image")
	}
	cfg, _ := e.storedImage(id4).ConfigFile()
	if cfg.Created.Unix() != 1700000000 {
		t.Errorf("created %v", cfg.Created)
	}
}

// TestBuildOptions covers -f -, --iidfile, --target, --build-arg, --label
// and the plain progress output.
func TestBuildOptions(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a": "A", "b": "B"})
	df := "ARG WHICH=a\nFROM scratch AS first\nARG WHICH\nCOPY ${WHICH} /file\nFROM first AS second\nCOPY b /b\n"
	iid := filepath.Join(t.TempDir(), "iid")
	r := e.runIn("", []byte(df), "build", "-f", "-", "--target", "first", "--build-arg", "WHICH=b", "--label", "k=v", "--iidfile", iid, "-t", "opts:1", dir)
	if r.code != 0 {
		t.Fatal(r)
	}
	id := strings.TrimSpace(r.stdout)
	if got, _ := os.ReadFile(iid); string(got) != id {
		t.Errorf("--iidfile has %q, stdout %q", got, id)
	}
	for _, want := range []string{"#1 [internal] load build definition from Dockerfile", "#2 [1/1] COPY ${WHICH} /file", "#2 DONE", "writing image " + id} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress has no %q:\n%s", want, r.stderr)
		}
	}
	img := e.storedImage(id)
	wantFiles(t, img, "file 0644 0:0 1")
	cfg, _ := img.ConfigFile()
	if cfg.Config.Labels["k"] != "v" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}
	// The same again is all cached.
	r = e.runIn("", []byte(df), "build", "-f", "-", "--target", "first", "--build-arg", "WHICH=b", "--label", "k=v", dir)
	if !strings.Contains(r.stderr, "#2 CACHED") || strings.TrimSpace(r.stdout) != id {
		t.Errorf("second build:\n%s", r)
	}
}

// TestBuildBadInput checks each bad input's error and that the store is
// left as it was.
func TestBuildBadInput(t *testing.T) {
	e := newEnv(t)
	good := t.TempDir()
	writeFiles(t, good, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"})
	e.buildID(good, "-t", "existing")
	before := e.ok("images")
	index := func() []byte {
		b, err := os.ReadFile(filepath.Join(e.root, "images", "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	indexBefore := index()
	// Every file under the store with its size: a failed build adds no
	// blob and leaves no temporary file. (The step cache may keep the
	// layers of the steps that succeeded, as Docker's does, but no
	// temporary file either.)
	storeFiles := func() string {
		var out []string
		filepath.WalkDir(e.root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			rel := strings.TrimPrefix(p, e.root)
			if strings.HasPrefix(rel, "/cache/") && !strings.Contains(rel, ".tmp") {
				return nil
			}
			fi, _ := de.Info()
			out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
			return nil
		})
		return strings.Join(out, "\n")
	}
	filesBefore := storeFiles()

	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "s"})
	escapeMark := filepath.Join(outside, "escaped")

	tests := []struct {
		name       string
		dockerfile string
		files      map[string]string
		tar        []*tar.Header
		want       string
	}{
		{name: "syntax error", dockerfile: "FROM scratch\nCOPY --from=x\n", want: "Dockerfile:2: COPY requires at least two arguments"},
		{name: "unknown instruction", dockerfile: "FROM scratch\nCOPY f /f\nCOPPY f /g\n", want: "Dockerfile:3: unknown instruction: COPPY"},
		{name: "run", dockerfile: "FROM scratch\nRUN echo hi\n", want: "Dockerfile:2: RUN is not supported yet"},
		{name: "missing source", dockerfile: "FROM scratch\nCOPY nope /nope\n", want: "Dockerfile:2: COPY nope: no such file or directory in the build context"},
		{name: "dot dot source", dockerfile: "FROM scratch\nCOPY ../x /x\n", want: "Dockerfile:2: COPY ../x: the path is outside the build context"},
		{name: "absolute source", dockerfile: "FROM scratch\nCOPY /etc/passwd /x\n", want: "Dockerfile:2: COPY /etc/passwd: an absolute path is outside the build context"},
		{name: "symlink out", dockerfile: "FROM scratch\nCOPY link /x\n", files: map[string]string{"link": "->" + filepath.Join(outside, "secret")},
			want: "Dockerfile:2: COPY link: link is a symlink to " + filepath.Join(outside, "secret") + ", outside the build context"},
		{name: "unknown from stage", dockerfile: "FROM scratch AS a\nFROM scratch\nCOPY --from=builder /app /app\n", want: "Dockerfile:3: COPY --from=builder: no stage named builder"},
		{name: "tar dot dot", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{{Name: "../../../../../../../../" + escapeMark, Typeflag: tar.TypeReg, Mode: 0o644}},
			want: "Dockerfile:2: ADD evil.tar: the archive's entry"},
		{name: "tar absolute", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{{Name: escapeMark, Typeflag: tar.TypeReg, Mode: 0o644}},
			want: "is an absolute path"},
		{name: "tar symlink then file", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{
			{Name: "out", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "out/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		}, want: `Dockerfile:2: ADD evil.tar: the archive's entry "out/escaped" goes through the symbolic link out`},
		{name: "tar relative symlink then file", dockerfile: "FROM scratch\nADD evil.tar /x/\n", tar: []*tar.Header{
			{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../" + outside},
			{Name: "up/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		}, want: `entry "up/escaped" goes through the symbolic link up`},
		{name: "tar symlink then directory", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{
			{Name: "out", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "out/escaped/", Typeflag: tar.TypeDir, Mode: 0o755},
		}, want: `entry "out/escaped/" goes through the symbolic link out`},
		{name: "tar hard link out", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{
			{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../../../../../../" + filepath.Join(outside, "secret")},
		}, want: `Dockerfile:2: ADD evil.tar: the archive's entry "h" is a hard link to`},
		{name: "tar dot dot in the middle", dockerfile: "FROM scratch\nADD evil.tar /\n", tar: []*tar.Header{
			{Name: "a/../../escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		}, want: `entry "a/../../escaped" climbs out of the destination`},
		// A symlink an earlier step put in the image, and an archive
		// that writes through it: refused at the second ADD.
		{name: "image symlink then tar file", dockerfile: "FROM scratch\nCOPY d/ /\nADD evil.tar /\n",
			files: map[string]string{"d/out": "->" + outside},
			tar:   []*tar.Header{{Name: "out/escaped", Typeflag: tar.TypeReg, Mode: 0o644}},
			want:  "Dockerfile:3: ADD: out/escaped would be written through the symbolic link out"},
		{name: "unknown base image", dockerfile: "FROM nosuch:1\nCOPY f /f\n", files: map[string]string{"f": "x"},
			want: "Dockerfile:1: no image nosuch:1 in the local store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"Dockerfile": tt.dockerfile}
			for k, v := range tt.files {
				if target, ok := strings.CutPrefix(v, "->"); ok {
					os.MkdirAll(filepath.Dir(filepath.Join(dir, k)), 0o755)
					if err := os.Symlink(target, filepath.Join(dir, k)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				files[k] = v
			}
			writeFiles(t, dir, files)
			if tt.tar != nil {
				writeTar(t, filepath.Join(dir, "evil.tar"), tt.tar)
			}
			r := e.fails("build", "-t", "bad", dir)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, r)
			}
			if r.code != 125 {
				t.Errorf("exit code %d, want 125", r.code)
			}
			if _, err := os.Lstat(escapeMark); err == nil {
				t.Fatalf("%s was written outside the layer", escapeMark)
			}
			if after := e.ok("images"); after != before {
				t.Errorf("tabula images changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if !bytes.Equal(index(), indexBefore) {
				t.Error("index.json changed")
			}
			if after := storeFiles(); after != filesBefore {
				t.Errorf("the store's files changed:\nbefore:\n%s\nafter:\n%s", filesBefore, after)
			}
		})
	}
}

func writeTar(t *testing.T, p string, hdrs []*tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 4
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("evil"))
		}
	}
	tw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuildParallel builds eight different images into one root at once.
func TestBuildParallel(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	results := make([]result, 8)
	for i := range 8 {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"Dockerfile":          fmt.Sprintf("FROM scratch\nCOPY f%d /f\nCOPY shared /shared\nLABEL n=%d\n", i, i),
			fmt.Sprintf("f%d", i): strings.Repeat(fmt.Sprint(i), 100000),
			"shared":              "the same in every image",
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run("build", "-q", "-t", fmt.Sprintf("par%d", i), dir)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("build %d: %s", i, r)
		}
		ids[i] = strings.TrimSpace(r.stdout)
	}
	images := e.ok("images")
	for i, id := range ids {
		e.storedImage(id)
		if !strings.Contains(images, fmt.Sprintf("par%d ", i)) {
			t.Errorf("par%d missing from tabula images:\n%s", i, images)
		}
		if got := strings.TrimSpace(e.ok("image", "inspect", "--format", "{{.Id}}", fmt.Sprintf("par%d", i))); got != id {
			t.Errorf("par%d is %s, want %s", i, got, id)
		}
	}
	e.ok("system", "check")
	if n := strings.Count(strings.TrimSpace(images), "\n"); n != 8 {
		t.Errorf("tabula images lists %d images, want 8:\n%s", n, images)
	}
}

// TestBuildSIGKILL kills builds at several points, and interrupts some;
// the store stays readable and a rebuild succeeds.
func TestBuildSIGKILL(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7 / 5)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY big /big\nCOPY small /small\n"}
	for i := range 300 {
		files[fmt.Sprintf("small/%03d", i)] = fmt.Sprint(i)
	}
	writeFiles(t, dir, files)
	for _, delay := range []time.Duration{20 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond, 900 * time.Millisecond} {
		cmd := exec.Command(tabulaBin(), "--root", e.root, "build", "-t", "killed", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		e.ok("images")
		e.ok("system", "check")
	}
	// Ctrl-C stops a build cleanly: exit 130 (or 0 if it had finished).
	for _, delay := range []time.Duration{30 * time.Millisecond, 200 * time.Millisecond} {
		cmd := exec.Command(tabulaBin(), "--root", e.root, "build", "--no-cache", "-t", "interrupted", dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); err != nil && code != 130 {
			t.Errorf("interrupted build exited %d, want 130:\n%s", code, stderr.String())
		}
		e.ok("images")
	}
	id := e.buildID(dir, "-t", "killed")
	e.storedImage(id)
	if !strings.Contains(e.ok("images"), "killed") {
		t.Error("the rebuilt image is not listed")
	}
	e.ok("system", "check")
	// Without the step cache too: every layer made again.
	if id2 := e.buildID(dir, "--no-cache", "-t", "killed"); id2 != id {
		t.Errorf("the rebuild without cache gave %s, want %s", id2, id)
	}
	e.ok("system", "check")
}

// TestBuildSaveDockerRun: tabula build → tabula save → docker load →
// docker run prints the program's greeting.
func TestBuildSaveDockerRun(t *testing.T) {
	testenv.RequireDocker(t)
	e := newEnv(t)
	dir := t.TempDir()
	copyFile(t, goProgram(t, "hello", nil), filepath.Join(dir, "hello"), 0o755)
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /\nCMD [\"/hello\"]\n"})
	name := fmt.Sprintf("tabula-e2e-hello:%d", time.Now().UnixNano())
	e.buildID(dir, "-t", name)
	archive := filepath.Join(t.TempDir(), "hello.tar")
	e.ok("save", "-o", archive, name)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })
	if out, err := exec.Command("docker", "load", "-i", archive).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	out, err := exec.Command("docker", "run", "--rm", name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "Hello from scratch!" {
		t.Errorf("docker run printed %q", out)
	}
}

// TestBuildOutputArchive: -o type=docker,dest=FILE writes an archive that
// docker load reads.
func TestBuildOutputArchive(t *testing.T) {
	testenv.RequireDocker(t)
	e := newEnv(t)
	dir := t.TempDir()
	copyFile(t, goProgram(t, "hello", nil), filepath.Join(dir, "hello"), 0o755)
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /\nCMD [\"/hello\"]\n"})
	name := fmt.Sprintf("tabula-e2e-out:%d", time.Now().UnixNano())
	archive := filepath.Join(t.TempDir(), "out.tar")
	e.buildID(dir, "-t", name, "-o", "type=docker,dest="+archive)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })
	if out, err := exec.Command("docker", "load", "-i", archive).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	out, err := exec.Command("docker", "run", "--rm", name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "Hello from scratch!" {
		t.Fatalf("docker run: %v: %q", err, out)
	}
}

// TestBuildFromStoreImage: FROM and COPY --from name an image of the local
// store (its ENV and ONBUILD apply), zstd layers, -o type=oci, and the
// archive loads elsewhere as the same image.
func TestBuildFromStoreImage(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b":               "base",
		"base.Dockerfile": "FROM scratch\nCOPY b /b\nENV X=1\nONBUILD LABEL from=onbuild\n",
		"Dockerfile":      "FROM storebase:1\nARG V\nENV Y=${V:-dflt} Z=${X}\nCOPY --from=storebase:1 /b /c\n",
	})
	e.buildID(dir, "-f", filepath.Join(dir, "base.Dockerfile"), "-t", "storebase:1")
	archive := filepath.Join(t.TempDir(), "child.tar")
	id := e.buildID(dir, "-t", "child", "--compression", "zstd", "-o", "type=oci,dest="+archive)
	var ins []struct {
		Config struct {
			Env     []string
			Labels  map[string]string
			OnBuild []string
		}
		Layers []struct{ MediaType string }
	}
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", "child")), &ins); err != nil || len(ins) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	c := ins[0].Config
	if !contains(c.Env, "X=1") || !contains(c.Env, "Y=dflt") || !contains(c.Env, "Z=1") || c.Labels["from"] != "onbuild" || len(c.OnBuild) != 0 {
		t.Errorf("config %+v", c)
	}
	if len(ins[0].Layers) != 2 || ins[0].Layers[1].MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("layers %+v, want the base's and one zstd layer", ins[0].Layers)
	}
	out := e.ok("image", "files", "child")
	if !regexpMatch(`(?m)^1 .*\s4\s.*\sb$`, out) || !regexpMatch(`(?m)^2 .*\s4\s.*\sc$`, out) {
		t.Errorf("image files:\n%s", out)
	}
	fresh := newEnv(t)
	if out := fresh.ok("load", "-i", archive); strings.TrimSpace(out) != "Loaded image: child:latest" {
		t.Fatalf("load of the -o archive printed %q", out)
	}
	if got := strings.TrimSpace(fresh.ok("images", "-q", "--no-trunc")); got != id {
		t.Fatalf("the -o archive holds %s, want %s", got, id)
	}
	fresh.ok("system", "check")
	if out := e.ok("version"); !strings.HasPrefix(out, "tabula ") {
		t.Errorf("version printed %q", out)
	}
	if r := e.fails("--log-level", "loud", "images"); r.code != 125 || !strings.Contains(r.stderr, "--log-level") {
		t.Errorf("a bad --log-level: %s", r)
	}
}

// TestBuildSourceDateEpoch: SOURCE_DATE_EPOCH sets every time when
// --timestamp is not given; --timestamp wins over it.
func TestBuildSourceDateEpoch(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f": "x", "Dockerfile": "FROM scratch\nCOPY f /f\n"})
	build := func(args ...string) string {
		cmd := exec.Command(tabulaBin(), append([]string{"--root", e.root, "build", "-q", "--no-cache"}, append(args, dir)...)...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1600000000")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("build %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		args []string
		want int64
	}{{nil, 1600000000}, {[]string{"--timestamp", "1700000000"}, 1700000000}} {
		img := e.storedImage(build(tc.args...))
		cfg, _ := img.ConfigFile()
		if cfg.Created.Unix() != tc.want || cfg.History[0].Created.Unix() != tc.want {
			t.Errorf("%v: created %v, history %v; want %d", tc.args, cfg.Created, cfg.History[0].Created, tc.want)
		}
		layers, _ := img.Layers()
		rc, _ := layers[0].Uncompressed()
		h, err := tar.NewReader(rc).Next()
		rc.Close()
		if err != nil || h.ModTime.Unix() != tc.want {
			t.Errorf("%v: the file's mtime is %v, want %d", tc.args, h.ModTime, tc.want)
		}
	}
	if r := e.fails("build", "--timestamp", "yesterday", dir); r.code != 125 || !strings.Contains(r.stderr, "--timestamp") {
		t.Errorf("a bad --timestamp: %s", r)
	}
}

// TestRootDefault: the root is /var/lib/tabula for root and
// $XDG_DATA_HOME/tabula for other users.
func TestRootDefault(t *testing.T) {
	testenv.RequireRoot(t)
	out, err := exec.Command(tabulaBin(), "images", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `(default "/var/lib/tabula")`) {
		t.Fatalf("root's default root: %v\n%s", err, out)
	}
	// Another user: a copy of the binary it can run, and its data home.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "tabula")
	copyFile(t, tabulaBin(), bin, 0o755)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o777)
	cmd := exec.Command(bin, "images", "-q")
	cmd.Env = []string{"XDG_DATA_HOME=" + data, "HOME=/nonexistent", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tabula images as uid 65534: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "tabula", "images", "index.json")); err != nil {
		t.Fatalf("no store under $XDG_DATA_HOME/tabula: %v", err)
	}
}
