package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// scratchImage is a FROM scratch image with one file, made without tabula.
func scratchImage(t *testing.T, file, content string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	tw.Write([]byte(content))
	tw.Close()
	layerBytes := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "COPY " + file + " /", Created: v1.Time{Time: time.Unix(1700000000, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: time.Now().Add(-5 * time.Minute)}
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = []string{"/" + file}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerArchive writes img as a docker-archive named ref.
func dockerArchive(t *testing.T, ref string, img v1.Image) []byte {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func imageID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// loadInto loads an archive into the env and fails unless it succeeds.
func (e *env) loadArchive(data []byte) string {
	e.t.Helper()
	r := e.runIn("", data, "load")
	if r.code != 0 {
		e.t.Fatalf("tabula load: %s", r)
	}
	return r.stdout
}

func TestImagesCommands(t *testing.T) {
	e := newEnv(t)
	img := scratchImage(t, "hello.txt", "hello")
	id := imageID(t, img)
	out := e.loadArchive(dockerArchive(t, "e2e/one:v1", img))
	if strings.TrimSpace(out) != "Loaded image: e2e/one:v1" {
		t.Fatalf("load printed %q", out)
	}

	// images: one row, Docker's columns, ID, relative time and size.
	out = e.ok("images")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.Contains(lines[0], "IMAGE ID") {
		t.Fatalf("images:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	if fields[0] != "e2e/one" || fields[1] != "v1" || fields[2] != strings.TrimPrefix(id, "sha256:")[:12] ||
		strings.Join(fields[3:6], " ") != "5 minutes ago" || fields[6] != "5B" {
		t.Fatalf("images row %q; want e2e/one v1 %s 5 minutes ago 5B", lines[1], id[7:19])
	}
	if q := strings.TrimSpace(e.ok("images", "-q")); q != id[7:19] {
		t.Fatalf("images -q = %q", q)
	}
	digest, _ := img.Digest()
	if out := e.ok("images", "--digests"); !strings.Contains(out, "DIGEST") {
		t.Fatalf("images --digests:\n%s", out)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(e.ok("images", "--format", "json")), &row); err != nil || row["Repository"] != "e2e/one" || row["Tag"] != "v1" {
		t.Fatalf("images --format json: %v %v", row, err)
	}
	if out := e.ok("images", "e2e/one"); !strings.Contains(out, "e2e/one") {
		t.Fatalf("images e2e/one:\n%s", out)
	}
	if out := e.ok("images", "e2e/one:v2"); strings.Contains(out, "e2e/one") {
		t.Fatalf("images e2e/one:v2 lists v1:\n%s", out)
	}
	if out := e.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); out != "e2e/one:v1 "+id[7:19]+"\n" {
		t.Fatalf("images --format template: %q", out)
	}
	if out := e.ok("image", "inspect", "--format", "{{.Id}} {{json .Config.Entrypoint}}", "e2e/one:v1"); out != id+` ["/hello.txt"]`+"\n" {
		t.Fatalf("image inspect --format template: %q", out)
	}
	if r := e.fails("images", "--format", "{{.ID"); r.code != 125 {
		t.Fatalf("a broken template: %s", r)
	}
	if out := e.ok("image", "ls"); out != e.ok("images") {
		t.Fatalf("image ls differs from images:\n%s", out)
	}

	// inspect: a JSON array with Docker's fields.
	var ins []struct {
		Id, Architecture, Os string
		RepoTags             []string
		Size                 int64
		Config               struct{ Entrypoint []string }
		RootFS               struct {
			Type   string
			Layers []string
		}
		History []struct {
			CreatedBy string `json:"created_by"`
		}
	}
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", "e2e/one:v1")), &ins); err != nil || len(ins) != 1 {
		t.Fatalf("image inspect: %v %+v", err, ins)
	}
	diffIDs, _ := img.ConfigFile()
	if ins[0].Id != id || ins[0].RepoTags[0] != "e2e/one:v1" || ins[0].Size != 5 || ins[0].Os != "linux" ||
		ins[0].Config.Entrypoint[0] != "/hello.txt" || ins[0].RootFS.Layers[0] != diffIDs.RootFS.DiffIDs[0].String() ||
		ins[0].History[0].CreatedBy != "COPY hello.txt /" {
		t.Fatalf("image inspect = %+v", ins[0])
	}

	// history and files.
	out = e.ok("image", "history", "e2e/one:v1")
	if !strings.Contains(out, "CREATED BY") || !strings.Contains(out, "COPY hello.txt /") || !strings.Contains(out, id[7:19]) || !strings.Contains(out, "5B") {
		t.Fatalf("image history:\n%s", out)
	}
	out = e.ok("image", "files", "e2e/one:v1")
	if !regexpMatch(`(?m)^1 [0-9a-f]{12}\s+-rw-r--r--\s+0/0\s+5\s+2023-11-14 22:13\s+hello.txt$`, out) {
		t.Fatalf("image files:\n%s", out)
	}
	var files []struct {
		Layer int
		Path  string
		Size  int64
		Mode  string
	}
	if err := json.Unmarshal([]byte(e.ok("image", "files", "--format", "json", "e2e/one:v1")), &files); err != nil ||
		len(files) != 1 || files[0].Path != "hello.txt" || files[0].Layer != 1 || files[0].Size != 5 {
		t.Fatalf("image files --format json: %v %+v", err, files)
	}

	// tag, then remove by name and by ID prefix.
	e.ok("tag", "e2e/one:v1", "other")
	e.ok("image", "tag", id[7:15], "third:x")
	if out := e.ok("images"); strings.Count(out, id[7:19]) != 3 {
		t.Fatalf("after tagging, images:\n%s", out)
	}
	if r := e.fails("rmi", id[7:15]); r.code != 1 || !strings.Contains(r.stderr, "-f") {
		t.Fatalf("rmi by ID of an image with 3 names: %s", r)
	}
	if out := e.ok("rmi", "other"); strings.TrimSpace(out) != "Untagged: other:latest" {
		t.Fatalf("rmi other printed %q", out)
	}
	out = e.ok("image", "rm", "-f", id[7:15])
	if !strings.Contains(out, "Untagged: e2e/one:v1") || !strings.Contains(out, "Untagged: third:x") || !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("image rm -f printed:\n%s", out)
	}
	if out := e.ok("images", "-q"); out != "" {
		t.Fatalf("images after rm: %q", out)
	}
	blobs, _ := os.ReadDir(filepath.Join(e.root, "images", "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Fatalf("%d blobs left after removing the only image", len(blobs))
	}
	_ = digest
	e.ok("system", "check")
}

func regexpMatch(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

func TestSaveLoadRoundTrips(t *testing.T) {
	e := newEnv(t)
	img := scratchImage(t, "a.txt", "round trip")
	id := imageID(t, img)
	e.loadArchive(dockerArchive(t, "rt:1", img))
	dir := t.TempDir()
	for _, format := range []string{"docker", "oci"} {
		t.Run(format, func(t *testing.T) {
			f := filepath.Join(dir, format+".tar")
			e.ok("save", "--format", format, "-o", f, "rt:1")
			fresh := &env{t: t, root: t.TempDir()}
			out := fresh.ok("load", "-i", f)
			if strings.TrimSpace(out) != "Loaded image: rt:1" {
				t.Fatalf("load printed %q", out)
			}
			var ins []struct{ Id string }
			json.Unmarshal([]byte(fresh.ok("image", "inspect", "rt:1")), &ins)
			if len(ins) != 1 || ins[0].Id != id {
				t.Fatalf("after save/load the image ID is %+v, want %s", ins, id)
			}
			fresh.ok("system", "check")

			// Saved to stdout (a pipe) and gzip-compressed, it loads too.
			r := e.run("save", "--format", format, "rt:1")
			if r.code != 0 {
				t.Fatal(r)
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(r.stdout))
			zw.Close()
			fresh2 := &env{t: t, root: t.TempDir()}
			if out := fresh2.loadArchive(gz.Bytes()); !strings.Contains(out, "rt:1") {
				t.Fatalf("load of gzip archive printed %q", out)
			}
		})
	}
}

func TestSkopeoReadsStore(t *testing.T) {
	testenv.RequireCommand(t, "skopeo")
	e := newEnv(t)
	img := scratchImage(t, "s.txt", "skopeo")
	e.loadArchive(dockerArchive(t, "sk:1", img))
	var ins []struct {
		Descriptor struct{ Digest string }
	}
	json.Unmarshal([]byte(e.ok("image", "inspect", "sk:1")), &ins)
	out, err := exec.Command("skopeo", "inspect", "oci:"+filepath.Join(e.root, "images")+":sk:1").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	var sk struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal(out, &sk); err != nil || sk.Digest != ins[0].Descriptor.Digest || len(sk.Layers) != 1 {
		t.Fatalf("skopeo inspect: %v %+v, want digest %s", err, sk, ins[0].Descriptor.Digest)
	}
	dst := filepath.Join(t.TempDir(), "copy.tar")
	if out, err := exec.Command("skopeo", "copy", "oci:"+filepath.Join(e.root, "images")+":sk:1", "docker-archive:"+dst+":sk:copied").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	fresh := &env{t: t, root: t.TempDir()}
	if out := fresh.ok("load", "-i", dst); strings.TrimSpace(out) != "Loaded image: sk:copied" {
		t.Fatalf("load of skopeo's archive: %q", out)
	}
	if q := strings.TrimSpace(fresh.ok("images", "-q", "--no-trunc")); q != imageID(t, img) {
		t.Fatalf("skopeo's copy has ID %q, want %s", q, imageID(t, img))
	}
}

func TestDockerLoadsSave(t *testing.T) {
	testenv.RequireDocker(t)
	e := newEnv(t)
	img := scratchImage(t, "d.txt", "docker")
	id := imageID(t, img)
	ref := fmt.Sprintf("tabula-e2e-images:%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), os.Getpid())
	e.loadArchive(dockerArchive(t, ref, img))
	for _, format := range []string{"docker", "oci"} {
		f := filepath.Join(t.TempDir(), "img.tar")
		e.ok("save", "--format", format, "-o", f, ref)
		exec.Command("docker", "rmi", "-f", ref).Run()
		out, err := exec.Command("docker", "load", "-i", f).CombinedOutput()
		if err != nil {
			t.Fatalf("docker load of the %s archive: %v\n%s", format, err, out)
		}
		got, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", ref).CombinedOutput()
		if err != nil {
			t.Fatalf("docker image inspect: %v\n%s", err, got)
		}
		// Docker's ID is the config digest, or with the containerd image
		// store the manifest digest: either way it is tabula's.
		gotID := strings.TrimSpace(string(got))
		digest, _ := img.Digest()
		if gotID != id && gotID != digest.String() {
			t.Fatalf("docker sees %s as %s, tabula as %s", format, gotID, id)
		}
		if out, err := exec.Command("docker", "images", "--no-trunc", "--format", "{{.ID}}", ref).CombinedOutput(); err != nil || !strings.Contains(string(out), gotID) {
			t.Fatalf("docker images does not list %s: %v %s", ref, err, out)
		}
	}
	exec.Command("docker", "rmi", "-f", ref).Run()
}

func TestCorruptBlob(t *testing.T) {
	e := newEnv(t)
	img := scratchImage(t, "c.txt", "corrupt me")
	e.loadArchive(dockerArchive(t, "corrupt:1", img))
	e.ok("system", "check")
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// Find the stored layer (load may recompress it): the only blob that
	// is neither the config nor a manifest.
	var ins []struct {
		Layers []struct{ Digest string }
	}
	json.Unmarshal([]byte(e.ok("image", "inspect", "corrupt:1")), &ins)
	layer := ins[0].Layers[0].Digest
	p := filepath.Join(e.root, "images", "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	os.WriteFile(p, b, 0o644)
	r := e.fails("system", "check")
	if r.code != 1 || !strings.Contains(r.stderr, layer) || !strings.Contains(r.stderr, "digest") {
		t.Fatalf("system check with a corrupt layer: %s", r)
	}
	r = e.fails("save", "--format", "oci", "-o", filepath.Join(t.TempDir(), "x.tar"), "corrupt:1")
	if !strings.Contains(r.stderr, layer) || !strings.Contains(r.stderr, "digest") {
		t.Fatalf("save of a corrupt image: %s", r)
	}
	// A corrupt config: same size, other bytes.
	cfg := filepath.Join(e.root, "images", "blobs", "sha256", m.Config.Digest.Hex)
	cb, _ := os.ReadFile(cfg)
	copy(cb[bytes.Index(cb, []byte("amd64")):], "AMD64")
	os.WriteFile(cfg, cb, 0o644)
	r = e.fails("image", "inspect", "corrupt:1")
	if !strings.Contains(r.stderr, m.Config.Digest.String()) || !strings.Contains(r.stderr, "digest") {
		t.Fatalf("inspect of an image with a corrupt config: %s", r)
	}
	r = e.fails("system", "check")
	if !strings.Contains(r.stderr, m.Config.Digest.String()) || !strings.Contains(r.stderr, layer) {
		t.Fatalf("system check names not both corrupt blobs: %s", r)
	}
}

func TestImagesBadInput(t *testing.T) {
	e := newEnv(t)
	img := scratchImage(t, "b.txt", "bad input")
	good := dockerArchive(t, "good:1", img)
	e.loadArchive(good)
	before := e.ok("images")

	escape := rewriteTar(t, good, func(name string, body []byte) (string, []byte) {
		if name == "manifest.json" {
			var m []map[string]any
			json.Unmarshal(body, &m)
			m[0]["Config"] = "../../../etc/passwd"
			m[0]["RepoTags"] = []string{"evil:1"}
			body, _ = json.Marshal(m)
		}
		return name, body
	})
	entryEscape := rewriteTar(t, good, func(name string, body []byte) (string, []byte) {
		if name == "manifest.json" {
			return "../manifest.json", body
		}
		return name, body
	})
	absent := rewriteTar(t, good, func(name string, body []byte) (string, []byte) {
		if strings.HasSuffix(name, ".tar.gz") {
			return "", nil
		}
		if name == "manifest.json" {
			body = bytes.ReplaceAll(body, []byte("good:1"), []byte("evil:2"))
		}
		return name, body
	})
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
		code  int
		want  string
	}{
		{"unknown image inspect", nil, []string{"image", "inspect", "nope:1"}, 125, "no such image"},
		{"unknown image rm", nil, []string{"rmi", "nope"}, 125, "no such image"},
		{"unknown image history", nil, []string{"image", "history", "nope"}, 125, "no such image"},
		{"unknown image files", nil, []string{"image", "files", "nope"}, 125, "no such image"},
		{"unknown image save", nil, []string{"save", "-o", filepath.Join(t.TempDir(), "x.tar"), "nope"}, 125, "no such image"},
		{"unknown image tag", nil, []string{"tag", "nope", "x"}, 125, "no such image"},
		{"bad tag", nil, []string{"tag", "good:1", "Bad Tag"}, 125, "Bad Tag"},
		{"bad save format", nil, []string{"save", "--format", "zip", "good:1"}, 125, "zip"},
		{"garbage archive", bytes.Repeat([]byte("garbage!"), 200), []string{"load"}, 125, "not a tar"},
		{"empty archive", []byte{}, []string{"load"}, 125, "empty"},
		{"config outside archive", escape, []string{"load"}, 125, "outside the archive"},
		{"entry outside archive", entryEscape, []string{"load"}, 125, "outside the archive"},
		{"absent layer", absent, []string{"load"}, 125, "not in the archive"},
		{"missing input file", nil, []string{"load", "-i", "/nonexistent.tar"}, 125, "/nonexistent.tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runIn("", tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit %d and %q: %s", tc.code, tc.want, r)
			}
			if after := e.ok("images"); after != before {
				t.Fatalf("images changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
	e.ok("system", "check")
	// Nothing was written outside the store.
	if _, err := os.Stat(filepath.Join(e.root, "etc")); err == nil {
		t.Fatal("a load wrote outside the store")
	}
}

// rewriteTar maps every regular file of a tar through edit; an empty name drops it.
func rewriteTar(t *testing.T, data []byte, edit func(name string, body []byte) (string, []byte)) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var body bytes.Buffer
		body.ReadFrom(tr)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		n, b := edit(h.Name, body.Bytes())
		if n == "" {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	return out.Bytes()
}

func TestSaveRefusesTerminal(t *testing.T) {
	e := newEnv(t)
	e.loadArchive(dockerArchive(t, "tty:1", scratchImage(t, "t.txt", "tty")))
	ptmx, tty, err := pty.Open()
	testenv.Require(t, err == nil, "a pseudo-terminal: %v", err)
	defer ptmx.Close()
	defer tty.Close()
	go io.Copy(io.Discard, ptmx)
	cmd := exec.Command(tabulaBin(), "--root", e.root, "save", "tty:1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 125 || !strings.Contains(stderr.String(), "terminal") {
		t.Fatalf("save to a terminal: %v, stderr %q", err, stderr.String())
	}
}

func TestParallelLoads(t *testing.T) {
	e := newEnv(t)
	var archives [][]byte
	var ids []string
	for i := 0; i < 8; i++ {
		img := scratchImage(t, "p.txt", strings.Repeat("x", i+1))
		archives = append(archives, dockerArchive(t, "par:"+string(rune('a'+i)), img))
		ids = append(ids, imageID(t, img))
	}
	results := make(chan result, 8)
	for _, a := range archives {
		go func(a []byte) { results <- e.runIn("", a, "load") }(a)
	}
	for range archives {
		if r := <-results; r.code != 0 {
			t.Errorf("parallel load: %s", r)
		}
	}
	out := e.ok("images", "-q", "--no-trunc")
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("image %s missing after parallel loads:\n%s", id, out)
		}
	}
	e.ok("system", "check")
}

func TestPruneAndDf(t *testing.T) {
	e := newEnv(t)
	a := scratchImage(t, "a.txt", "first")
	b := scratchImage(t, "a.txt", "second")
	e.loadArchive(dockerArchive(t, "pr:1", a))
	e.loadArchive(dockerArchive(t, "pr:1", b)) // a is left dangling
	out := e.ok("images")
	if !strings.Contains(out, "<none>") || !strings.Contains(out, imageID(t, b)[7:19]) {
		t.Fatalf("after moving the tag, images:\n%s", out)
	}
	if q := strings.TrimSpace(e.ok("images", "-q", "--no-trunc", "--filter", "dangling=true")); q != imageID(t, a) {
		t.Fatalf("images --filter dangling=true: %q", q)
	}
	if q := strings.TrimSpace(e.ok("images", "-q", "--no-trunc", "-f", "reference=p*")); q != imageID(t, b) {
		t.Fatalf("images -f reference=p*: %q", q)
	}
	out = e.ok("system", "df")
	if !regexpMatch(`(?m)^Images\s+2\s+1\s+`, out) {
		t.Fatalf("system df:\n%s", out)
	}
	out = e.ok("image", "prune", "-f")
	if !strings.Contains(out, "deleted: "+imageID(t, a)) || !strings.Contains(out, "Total reclaimed space:") {
		t.Fatalf("image prune:\n%s", out)
	}
	if q := strings.TrimSpace(e.ok("images", "-q", "--no-trunc")); q != imageID(t, b) {
		t.Fatalf("after prune images -q = %q", q)
	}
	e.ok("system", "check")
	out = e.ok("system", "prune", "-a")
	if !strings.Contains(out, "untagged: pr:1") {
		t.Fatalf("system prune -a:\n%s", out)
	}
	if q := e.ok("images", "-q"); q != "" {
		t.Fatalf("after system prune -a: %q", q)
	}
}

// TestLoadSIGKILL kills `tabula load` at different moments: every time the
// store still lists, checks clean and takes the load again.
func TestLoadSIGKILL(t *testing.T) {
	e := newEnv(t)
	e.loadArchive(dockerArchive(t, "before:1", scratchImage(t, "k.txt", "killed")))
	big, err := random.Image(4<<20, 4)
	if err != nil {
		t.Fatal(err)
	}
	data := dockerArchive(t, "big:1", big)
	for _, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		cmd := exec.Command(tabulaBin(), "--root", e.root, "load")
		cmd.Stdin = bytes.NewReader(data)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		out := e.ok("images")
		if !strings.Contains(out, "before") {
			t.Fatalf("after SIGKILL at %v, images:\n%s", delay, out)
		}
		e.ok("system", "check")
	}
	if out := e.loadArchive(data); !strings.Contains(out, "big:1") {
		t.Fatalf("load after the kills: %q", out)
	}
	e.ok("system", "check")
}

// TestImagesListsAroundBrokenImage: one image with a corrupt config and one
// with a missing manifest do not stop `tabula images`: it lists the others,
// names the broken ones on stderr, exits 0; rmi removes them.
func TestImagesListsAroundBrokenImage(t *testing.T) {
	e := newEnv(t)
	good := scratchImage(t, "g.txt", "good")
	bad := scratchImage(t, "b.txt", "bad config")
	gone := scratchImage(t, "m.txt", "missing manifest")
	e.loadArchive(dockerArchive(t, "good:1", good))
	e.loadArchive(dockerArchive(t, "bad:1", bad))
	e.loadArchive(dockerArchive(t, "gone:1", gone))
	blobs := filepath.Join(e.root, "images", "blobs", "sha256")
	badID := imageID(t, bad)
	if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(badID, "sha256:")), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ins []struct{ Descriptor struct{ Digest string } }
	json.Unmarshal([]byte(e.ok("image", "inspect", "gone:1")), &ins)
	goneManifest := ins[0].Descriptor.Digest
	if err := os.Remove(filepath.Join(blobs, strings.TrimPrefix(goneManifest, "sha256:"))); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"images"}, {"images", "-q"}, {"images", "--format", "json"}, {"system", "df"}} {
		r := e.run(args...)
		if r.code != 0 {
			t.Fatalf("%v with broken images: %s", args, r)
		}
		if args[0] == "images" && !strings.Contains(r.stdout, imageID(t, good)[7:19]) {
			t.Errorf("%v does not list the good image: %s", args, r)
		}
		if regexpMatch(`\b(bad|gone)\b`, r.stdout) || strings.Contains(r.stdout, badID[7:19]) {
			t.Errorf("%v lists a broken image: %s", args, r)
		}
		for _, want := range []string{"warning: image bad:1 (", badID, "warning: image gone:1 (" + goneManifest + ")", "is missing", "tabula system check"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr has no %q: %s", args, want, r)
			}
		}
	}
	if r := e.fails("system", "check"); r.code != 1 || !strings.Contains(r.stderr, badID) || !strings.Contains(r.stderr, goneManifest) {
		t.Fatalf("system check: %s", r)
	}
	if r := e.fails("image", "inspect", "bad:1"); !strings.Contains(r.stderr, badID) {
		t.Fatalf("inspect of the broken image: %s", r)
	}
	e.ok("rmi", "bad:1", "gone:1")
	r := e.run("images")
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "good") {
		t.Fatalf("images after removing the broken ones: %s", r)
	}
	e.ok("system", "check")
}

// TestImageRmInUse: an image that a container uses is not removed without
// -f, as Docker refuses; by ID, a running container's image is never removed.
func TestImageRmInUse(t *testing.T) {
	testenv.RequireRoot(t)
	e := newEnv(t)
	dir := t.TempDir()
	copyFile(t, goProgram(t, "hello", nil), filepath.Join(dir, "hello"), 0o755)
	copyFile(t, goProgram(t, "sleep", nil), filepath.Join(dir, "sleep"), 0o755)
	writeFiles(t, dir, map[string]string{
		"hello.Dockerfile": "FROM scratch\nCOPY hello /\nCMD [\"/hello\"]\n",
		"sleep.Dockerfile": "FROM scratch\nCOPY sleep /\nCMD [\"/sleep\"]\n",
	})
	helloID := e.buildID(dir, "-f", filepath.Join(dir, "hello.Dockerfile"), "-t", "rmhello")
	sleepID := e.buildID(dir, "-f", filepath.Join(dir, "sleep.Dockerfile"), "-t", "rmsleep")
	t.Cleanup(func() { e.run("rm", "-f", "rm-stopped", "rm-running") })

	// A stopped container.
	if out := e.ok("run", "--name", "rm-stopped", "rmhello"); strings.TrimSpace(out) != "Hello from scratch!" {
		t.Fatalf("run printed %q", out)
	}
	var insp []struct{ Id string }
	if err := json.Unmarshal([]byte(e.ok("inspect", "rm-stopped")), &insp); err != nil || len(insp) != 1 || len(insp[0].Id) != 64 {
		t.Fatalf("inspect rm-stopped: %v %+v", err, insp)
	}
	stopped := insp[0].Id
	r := e.fails("rmi", "rmhello")
	if r.code != 1 || !strings.Contains(r.stderr, `conflict: unable to remove repository reference "rmhello" (must force) - container `+stopped[:12]+" is using its referenced image "+helloID[7:19]) {
		t.Fatalf("rmi of a stopped container's image: %s", r)
	}
	r = e.fails("rmi", helloID[7:19])
	if r.code != 1 || !strings.Contains(r.stderr, "unable to delete "+helloID[7:19]+" (must be forced) - image is being used by stopped container "+stopped[:12]) {
		t.Fatalf("rmi by ID of a stopped container's image: %s", r)
	}
	if !strings.Contains(e.ok("images"), "rmhello") {
		t.Fatal("a refused rmi removed the image")
	}
	// Another name goes without -f: the image keeps one.
	e.ok("tag", "rmhello", "rmhello:other")
	if out := e.ok("rmi", "rmhello:other"); strings.TrimSpace(out) != "Untagged: rmhello:other" {
		t.Fatalf("rmi of a second name printed %q", out)
	}

	// A running container.
	e.ok("run", "-d", "--name", "rm-running", "rmsleep")
	r = e.fails("rmi", "rmsleep")
	if r.code != 1 || !strings.Contains(r.stderr, "must force") || !strings.Contains(r.stderr, sleepID[7:19]) {
		t.Fatalf("rmi of a running container's image: %s", r)
	}
	r = e.fails("rmi", "-f", sleepID[7:19])
	if r.code != 1 || !strings.Contains(r.stderr, "(cannot be forced) - image is being used by running container") {
		t.Fatalf("rmi -f by ID of a running container's image: %s", r)
	}
	// -f by name untags; the running container keeps the image, dangling.
	if out := e.ok("rmi", "-f", "rmsleep"); strings.TrimSpace(out) != "Untagged: rmsleep:latest" {
		t.Fatalf("rmi -f of a running container's image printed %q", out)
	}
	if q := e.ok("images", "-q", "--no-trunc", "--filter", "dangling=true"); strings.TrimSpace(q) != sleepID {
		t.Fatalf("the running container's image is not kept as dangling: %q", q)
	}
	// Prune keeps images that containers use.
	e.ok("image", "prune", "-a", "-f")
	if q := e.ok("images", "-q", "--no-trunc"); !strings.Contains(q, sleepID) || !strings.Contains(q, helloID) {
		t.Fatalf("prune removed an image in use: %q", q)
	}

	// -f by name removes the stopped container's image; once the
	// containers are gone, nothing protects the other.
	if out := e.ok("rmi", "-f", "rmhello"); !strings.Contains(out, "Untagged: rmhello:latest") || !strings.Contains(out, "Deleted: "+helloID) {
		t.Fatalf("rmi -f of a stopped container's image printed %q", out)
	}
	e.ok("rm", "-f", "rm-stopped", "rm-running")
	if out := e.ok("rmi", sleepID[7:19]); !strings.Contains(out, "Deleted: "+sleepID) {
		t.Fatalf("rmi after the container went printed %q", out)
	}
	e.ok("system", "check")
}
