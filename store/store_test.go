package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/tabula-dev/tabula/errdefs"
)

func openT(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomImage(t testing.TB, layers int64, created time.Time) v1.Image {
	t.Helper()
	return randomImageSized(t, 256, layers, created)
}

func randomImageSized(t testing.TB, size, layers int64, created time.Time) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func configDigest(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello:latest"},
		{"hello:v1", "hello:v1"},
		{"docker.io/library/hello", "hello:latest"},
		{"docker.io/org/app:1.0", "org/app:1.0"},
		{"index.docker.io/org/app", "org/app:latest"},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"Hello", ""},
		{"hello:", ""},
		{"hello@sha256:" + strings.Repeat("a", 64), ""},
		{"", ""},
		{"a b", ""},
		{strings.Repeat("ab", 32), ""},
		{strings.Repeat("ab", 32) + ":v1", ""},
		{strings.Repeat("ab", 31), strings.Repeat("ab", 31) + ":latest"},
		{"scratch", ""},
		{"scratch:v1", ""},
		{"docker.io/library/scratch", ""},
		{"org/scratch", "org/scratch:latest"},
		{"localhost:5000/scratch", "localhost:5000/scratch:latest"},
	} {
		got, err := NormalizeName(tc.in)
		if tc.want == "" {
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Errorf("NormalizeName(%q) = %q, %v; want an invalid-argument error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestWriteReadValidate(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	img := randomImage(t, 3, time.Unix(1700000000, 0))
	desc, err := s.Write(ctx, img, "hello", "docker.io/library/hello:v1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if desc.Digest != want {
		t.Fatalf("Write returned digest %s, want %s", desc.Digest, want)
	}
	for _, ref := range []string{"hello", "hello:latest", "hello:v1", configDigest(t, img).String(),
		configDigest(t, img).Hex[:12], configDigest(t, img).Hex, want.String()} {
		got, err := s.Image(ctx, ref)
		if err != nil {
			t.Fatalf("Image(%q): %v", ref, err)
		}
		if err := validate.Image(got); err != nil {
			t.Fatalf("Image(%q) does not validate: %v", ref, err)
		}
		d, _ := got.Digest()
		if d != want {
			t.Fatalf("Image(%q) digest %s, want %s", ref, d, want)
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || strings.Join(list[0].Names, ",") != "hello:latest,hello:v1" {
		t.Fatalf("List = %+v", list)
	}
	if !list[0].Created.Equal(time.Unix(1700000000, 0)) || list[0].ID != configDigest(t, img) {
		t.Fatalf("List entry = %+v", list[0])
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// The layout is what the OCI image-layout spec says.
	b, err := os.ReadFile(filepath.Join(s.Dir(), "index.json"))
	if err != nil || !strings.Contains(string(b), `"org.opencontainers.image.ref.name": "hello:v1"`) {
		t.Fatalf("index.json lacks the tag annotation: %s %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "oci-layout")); err != nil {
		t.Fatal(err)
	}
}

func TestSizeCountsFileContent(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	img := randomImage(t, 2, time.Unix(0, 0))
	if _, err := s.Write(ctx, img, "r"); err != nil {
		t.Fatal(err)
	}
	e, err := s.Resolve(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	// random.Image makes layers of one regular file of 256 bytes each.
	if e.Size != 2*256 {
		t.Fatalf("Size = %d, want 512", e.Size)
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	if _, err := s.Resolve(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown name: %v, want not found", err)
	}
	if _, err := s.Resolve(ctx, "Bad Name"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad name: %v, want invalid argument", err)
	}
	// Find two images whose IDs share a first hex digit, to make an
	// ambiguous prefix.
	seen := map[byte]string{}
	var prefix string
	for i := 0; prefix == ""; i++ {
		img := randomImage(t, 1, time.Unix(int64(i), 0))
		id := configDigest(t, img).Hex
		if _, err := s.Write(ctx, img, fmt.Sprintf("img%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, ok := seen[id[0]]; ok {
			prefix = id[:1]
		}
		seen[id[0]] = id
	}
	if _, err := s.Resolve(ctx, prefix); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("ambiguous prefix %q: %v", prefix, err)
	}
	if _, err := s.Resolve(ctx, seen[prefix[0]][:20]); err != nil {
		t.Fatalf("longer prefix: %v", err)
	}
}

func TestTagMovesAndRemove(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	a := randomImage(t, 2, time.Unix(1, 0))
	b := randomImage(t, 2, time.Unix(2, 0))
	if _, err := s.Write(ctx, a, "app:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, b, "app:v1"); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(ctx)
	if len(list) != 2 || len(list[0].Names) != 1 || list[0].ID != configDigest(t, b) || len(list[1].Names) != 0 {
		t.Fatalf("after moving the tag, List = %+v; want b tagged and a dangling", list)
	}
	if err := s.Tag(ctx, "app:v1", "other"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "nope", "x"); !errdefs.IsNotFound(err) {
		t.Fatalf("Tag of unknown image: %v", err)
	}
	if err := s.Tag(ctx, "app:v1", "UPPER"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Tag with bad name: %v", err)
	}
	idB := configDigest(t, b)
	if _, err := s.Remove(ctx, idB.Hex[:8], false); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("Remove by ID of an image with two names without force: %v", err)
	}
	lines, err := s.Remove(ctx, "other", false)
	if err != nil || strings.Join(lines, "|") != "Untagged: other:latest" {
		t.Fatalf("Remove(other) = %q, %v", lines, err)
	}
	lines, err = s.Remove(ctx, "app:v1", false)
	if err != nil || strings.Join(lines, "|") != "Untagged: app:v1|Deleted: "+idB.String() {
		t.Fatalf("Remove(app:v1) = %q, %v", lines, err)
	}
	idA := configDigest(t, a)
	lines, err = s.Remove(ctx, idA.Hex[:12], false)
	if err != nil || strings.Join(lines, "|") != "Deleted: "+idA.String() {
		t.Fatalf("Remove(dangling by ID) = %q, %v", lines, err)
	}
	list, _ = s.List(ctx)
	if len(list) != 0 {
		t.Fatalf("List after removing everything = %+v", list)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Fatalf("%d blobs left after removing every image", len(blobs))
	}
}

func TestRemoveKeepsSharedBlobs(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	a := randomImage(t, 2, time.Unix(1, 0))
	cf, _ := a.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"X=1"}
	b, err := mutate.ConfigFile(a, cf) // same layers, other config
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, b, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "a", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	if len(blobs) != 4 { // manifest, config, two layers
		t.Fatalf("%d blobs, want 4", len(blobs))
	}
}

func TestCorruptBlob(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	img := randomImage(t, 2, time.Unix(1, 0))
	if _, err := s.Write(ctx, img, "c"); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	p := filepath.Join(s.Dir(), "blobs", "sha256", ld.Hex)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Check(ctx)
	if !errors.Is(err, errdefs.ErrCorrupt) || !strings.Contains(err.Error(), ld.String()) {
		t.Fatalf("Check = %v; want it to name %s", err, ld)
	}
	got, err := s.Image(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := got.LayerByDigest(ld)
	rc, err := gl.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("reading a corrupt layer: %v, want a digest error", err)
	}
	rc, _ = s.Blob(ctx, ld)
	if _, err := io.ReadAll(rc); !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("Blob read: %v", err)
	}
	os.Remove(p)
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Check with a missing blob: %v", err)
	}
}

func TestIngestRejectsWrongContent(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	h, _ := v1.NewHash("sha256:" + strings.Repeat("0", 64))
	err := s.ingest(ctx, h, 3, strings.NewReader("abc"))
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("ingest with a wrong digest: %v", err)
	}
	err = s.ingest(ctx, h, 5, strings.NewReader("abc"))
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("ingest with a wrong size: %v", err)
	}
	for _, dir := range []string{"blobs/sha256", "ingest"} {
		des, _ := os.ReadDir(filepath.Join(s.Dir(), dir))
		if len(des) != 0 {
			t.Fatalf("%s holds %d files after failed ingests", dir, len(des))
		}
	}
}

func TestGCKeepsYoungTempFiles(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	young := filepath.Join(s.Dir(), "ingest", "young")
	old := filepath.Join(s.Dir(), "ingest", "old")
	stray := filepath.Join(s.Dir(), "blobs", "sha256", strings.Repeat("1", 64))
	oldIndex := filepath.Join(s.Dir(), ".index.json-123")
	spool, _, err := s.TempDir() // never released: its writer "died"
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(spool, tempDirLock))
	oldSpooled := filepath.Join(spool, "0")
	live, release, err := s.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	os.WriteFile(filepath.Join(live, "0"), []byte("live"), 0o644)
	for _, p := range []string{young, old, stray, oldIndex, oldSpooled} {
		if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	os.Chtimes(oldIndex, past, past)
	os.Chtimes(spool, past, past)
	os.Chtimes(live, past, past)
	freed, err := s.GC(ctx)
	if err != nil || freed != 20 {
		t.Fatalf("GC = %d, %v; want 20 bytes freed", freed, err)
	}
	for _, p := range []string{old, stray, oldIndex, spool} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("GC left %s", p)
		}
	}
	for _, p := range []string{filepath.Join(s.Dir(), "index.json"), filepath.Join(s.Dir(), "oci-layout"), filepath.Join(live, "0")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("GC removed %s", p)
		}
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("GC removed a young temporary file: %v", err)
	}
}

func TestRemoveManifestSharingConfig(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	a := randomImage(t, 1, time.Unix(1, 0))
	// The same config and layers under another manifest (an annotation
	// changes the manifest's digest only).
	b := mutate.Annotations(a, map[string]string{"x": "y"}).(v1.Image)
	if _, err := s.Write(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, b, "b"); err != nil {
		t.Fatal(err)
	}
	bd, _ := b.Digest()
	lines, err := s.Remove(ctx, "b", false)
	if err != nil || strings.Join(lines, "|") != "Untagged: b:latest|Deleted: "+bd.String() {
		t.Fatalf("Remove(b) = %q, %v; want the manifest named as deleted", lines, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

// An index another tool wrote into the layout (skopeo copy --all): List
// skips it, Check verifies what it lists, GC keeps its blobs.
func TestForeignIndex(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	if _, err := s.Write(ctx, randomImage(t, 1, time.Unix(1, 0)), "mine"); err != nil {
		t.Fatal(err)
	}
	ii, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ii.IndexManifest()
	var children []v1.Hash
	for _, d := range im.Manifests {
		child, err := ii.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(ctx, child); err != nil {
			t.Fatal(err)
		}
		children = append(children, d.Digest)
	}
	raw, _ := ii.RawManifest()
	h, err := s.ingestBytes(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := ii.MediaType()
	err = s.updateIndex(func(idx *v1.IndexManifest) (bool, error) {
		var out []v1.Descriptor
		for _, d := range idx.Manifests {
			if refName(d) != "" {
				out = append(out, d) // the children leave index.json
			}
		}
		idx.Manifests = append(out, v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(raw)),
			Annotations: map[string]string{refNameAnnotation: "multi:latest"}})
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Names[0] != "mine:latest" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		p, _ := s.blobPath(c)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("GC removed %s, which the index lists", c)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// Corrupting a child's layer is found through the index.
	child, _ := ii.Image(children[0])
	ls, _ := child.Layers()
	ld, _ := ls[0].Digest()
	p, _ := s.blobPath(ld)
	os.WriteFile(p, []byte("x"), 0o644)
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), ld.String()) {
		t.Fatalf("Check with a corrupt child layer: %v", err)
	}
}

// A layer blob replaced by another valid gzip stream of the same tar still
// fails when read uncompressed: the compressed bytes are verified too.
func TestUncompressedReadIsVerified(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	img := randomImage(t, 1, time.Unix(1, 0))
	if _, err := s.Write(ctx, img, "v"); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	ld, _ := ls[0].Digest()
	rc, _ := ls[0].Uncompressed()
	tarBytes, _ := io.ReadAll(rc)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Header.Comment = "not the stored blob"
	zw.Write(tarBytes)
	zw.Close()
	p, _ := s.blobPath(ld)
	if old, _ := os.ReadFile(p); bytes.Equal(old, buf.Bytes()) {
		t.Fatal("the replacement blob is the same as the stored one")
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Image(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := got.LayerByDigest(ld)
	if err != nil {
		t.Fatal(err)
	}
	u, err := gl.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, u)
	u.Close()
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("reading a replaced layer uncompressed: %v, want a corruption error", err)
	}
}
