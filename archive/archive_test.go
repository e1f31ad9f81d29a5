package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(1024, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func save(t testing.TB, f Format, imgs ...Named) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Save(context.Background(), &buf, f, imgs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, b := randomImage(t, 2), randomImage(t, 0)
	for _, tc := range []struct {
		name     string
		format   Format
		compress bool
	}{
		{"docker", Docker, false},
		{"docker-gzip", Docker, true},
		{"oci", OCI, false},
		{"oci-gzip", OCI, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := save(t, tc.format, Named{"app:v1", a}, Named{"docker.io/library/app:v2", a}, Named{"empty", b}, Named{"", b})
			if tc.compress {
				data = gz(data)
			}
			s := openStore(t)
			names, err := Load(ctx, bytes.NewReader(data), s)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(names, ",")
			if !strings.Contains(got, "app:v1") || !strings.Contains(got, "app:v2") || !strings.Contains(got, "empty:latest") {
				t.Fatalf("Load returned %q", got)
			}
			for ref, want := range map[string]v1.Image{"app:v1": a, "app:v2": a, "empty": b} {
				img, err := s.Image(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Image(img); err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				gotID, _ := img.ConfigName()
				wantID, _ := want.ConfigName()
				if gotID != wantID {
					t.Fatalf("%s: image ID %s, want %s", ref, gotID, wantID)
				}
				if tc.format == OCI {
					gd, _ := img.Digest()
					wd, _ := want.Digest()
					if gd != wd {
						t.Fatalf("%s: OCI round trip changed the manifest digest %s → %s", ref, wd, gd)
					}
				}
			}
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A docker-archive written by another tool: go-containerregistry's tarball
// writes gzip-compressed layers.
func TestLoadForeignDockerArchive(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 2)
	tag, _ := name.NewTag("foreign:1")
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	names, err := Load(ctx, &buf, s)
	if err != nil || strings.Join(names, ",") != "foreign:1" {
		t.Fatalf("Load = %q, %v", names, err)
	}
	got, err := s.Image(ctx, "foreign:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	name, body, link string
	typ              byte
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.typ != 0 {
			h.Typeflag, h.Linkname, h.Size = e.typ, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// rewrite replaces one file of a saved archive (or adds it).
func rewrite(t testing.TB, data []byte, path, body string) []byte {
	t.Helper()
	var entries []entry
	tr := tar.NewReader(bytes.NewReader(data))
	found := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Name == path {
			found = true
			entries = append(entries, entry{name: path, body: body})
			continue
		}
		entries = append(entries, entry{name: h.Name, body: b.String()})
	}
	if !found {
		entries = append(entries, entry{name: path, body: body})
	}
	return tarOf(t, entries...)
}

func TestLoadRefusesBadArchives(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 1)
	docker := save(t, Docker, Named{"x:1", img})
	oci := save(t, OCI, Named{"x:1", img})
	var dm []dockerManifest
	tr := tar.NewReader(bytes.NewReader(docker))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "manifest.json" {
			json.NewDecoder(tr).Decode(&dm)
		}
	}
	withManifest := func(edit func(m *dockerManifest)) []byte {
		m := dm[0]
		m.Layers = append([]string(nil), m.Layers...)
		edit(&m)
		b, _ := json.Marshal([]dockerManifest{m})
		return rewrite(t, docker, "manifest.json", string(b))
	}
	ld, _ := img.Manifest()
	missingLayerIndex := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":10,"annotations":{"org.opencontainers.image.ref.name":"x:1"}}]}`
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("this is not an archive at all, not even close...................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), "not a tar"},
		{"empty", nil, "empty"},
		{"neither", tarOf(t, entry{name: "hello.txt", body: "hi"}), "neither"},
		{"entry climbs out", tarOf(t, entry{name: "../evil", body: "x"}), "outside the archive"},
		{"absolute entry", tarOf(t, entry{name: "/etc/evil", body: "x"}), "absolute"},
		{"config climbs out", withManifest(func(m *dockerManifest) { m.Config = "../../etc/passwd" }), "outside the archive"},
		{"layer climbs out", withManifest(func(m *dockerManifest) { m.Layers[0] = "../layer.tar" }), "outside the archive"},
		{"layer absent", withManifest(func(m *dockerManifest) { m.Layers[0] = "nothere/layer.tar" }), "not in the archive"},
		{"layer missing from manifest", withManifest(func(m *dockerManifest) { m.Layers = nil }), "lists 1 layers"},
		{"bad tag", withManifest(func(m *dockerManifest) { m.RepoTags = []string{"Bad Tag"} }), "image name"},
		{"layer content wrong", rewrite(t, docker, dm[0].Layers[0], "not the layer"), ""},
		{"oci blob absent", rewrite(t, oci, "index.json", missingLayerIndex), "not in the archive"},
		{"oci layer corrupt", rewrite(t, oci, "blobs/sha256/"+ld.Layers[0].Digest.Hex, "corrupt"), "bytes"},
		{"oci index garbage", rewrite(t, oci, "index.json", "{"), "index.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			names, err := Load(ctx, bytes.NewReader(tc.data), s)
			if err == nil {
				t.Fatalf("Load succeeded with %q", names)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %q does not wrap ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			list, lerr := s.List(ctx)
			if lerr != nil || len(list) != 0 {
				t.Fatalf("after a refused load the store lists %+v, %v", list, lerr)
			}
			if left, _ := os.ReadDir(filepath.Join(s.Dir(), "ingest")); len(left) != 0 {
				t.Fatalf("a refused load left %d temporary files", len(left))
			}
		})
	}
}

func TestLoadSymlinkInsideArchive(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 1)
	docker := save(t, Docker, Named{"x:1", img})
	var files []entry
	tr := tar.NewReader(bytes.NewReader(docker))
	var layerPath string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		if h.Typeflag == tar.TypeReg {
			files = append(files, entry{name: h.Name, body: b.String()})
			if strings.HasSuffix(h.Name, "layer.tar") {
				layerPath = h.Name
			}
		}
	}
	// Like older `docker save`: the manifest names a directory whose
	// layer.tar is a relative symbolic link to another layer's.
	var m []dockerManifest
	for i, f := range files {
		if f.name == "manifest.json" {
			json.Unmarshal([]byte(f.body), &m)
			m[0].Layers[0] = "other/layer.tar"
			b, _ := json.Marshal(m)
			files[i].body = string(b)
		}
	}
	for link, want := range map[string]string{"../../../etc/passwd": "outside the archive", "/etc/passwd": "absolute"} {
		bad := append(append([]entry(nil), files...), entry{name: "other/layer.tar", typ: tar.TypeSymlink, link: link})
		s := openStore(t)
		_, err := Load(ctx, bytes.NewReader(tarOf(t, bad...)), s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("layer linked to %s: %v, want %q", link, err, want)
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Fatalf("refused load left %+v", list)
		}
	}
	files = append(files, entry{name: "other/layer.tar", typ: tar.TypeSymlink, link: "../" + layerPath})
	s := openStore(t)
	if _, err := Load(ctx, bytes.NewReader(tarOf(t, files...)), s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "x:1"); err != nil {
		t.Fatal(err)
	}
}

func TestSaveErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := Save(context.Background(), &buf, OCI, nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Save of nothing: %v", err)
	}
	if err := Save(context.Background(), &buf, "zip", []Named{{"a", randomImage(t, 0)}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Save with an unknown format: %v", err)
	}
	if err := Save(context.Background(), &buf, OCI, []Named{{"A B", randomImage(t, 0)}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Save with a bad name: %v", err)
	}
}

// FuzzLoad feeds Load arbitrary bytes: it never panics, a refused archive
// leaves no image, an accepted one reads back and checks clean. Run it with
// -fuzzminimizetime 1x: minimising the many inputs with new coverage
// otherwise takes all the fuzzer's time.
func FuzzLoad(f *testing.F) {
	img, err := random.Image(64, 1)
	if err != nil {
		f.Fatal(err)
	}
	for _, format := range []Format{Docker, OCI} {
		var buf bytes.Buffer
		if err := Save(context.Background(), &buf, format, []Named{{"f:1", img}}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(gz(buf.Bytes()))
	}
	f.Add([]byte{})
	// One base directory for all inputs: a t.TempDir per input stalls the
	// fuzzer.
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		dir, err := os.MkdirTemp(base, "input-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		s, err := store.Open(filepath.Join(dir, "images"))
		if err != nil {
			t.Fatal(err)
		}
		names, err := Load(ctx, bytes.NewReader(data), s)
		if err != nil {
			if list, _ := s.List(ctx); len(list) != 0 {
				t.Fatalf("a failed load (%v) left images: %+v", err, list)
			}
			return
		}
		for _, n := range names {
			img, err := s.Image(ctx, n)
			if err != nil {
				t.Fatalf("loaded %q but cannot read it: %v", n, err)
			}
			if _, err := img.Manifest(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// go-containerregistry's own tarball reader accepts what Save writes.
func TestDockerArchiveReadByTarball(t *testing.T) {
	img := randomImage(t, 2)
	data := save(t, Docker, Named{"read:1", img})
	tag, _ := name.NewTag("read:1")
	got, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatal(err)
	}
	gotID, _ := got.ConfigName()
	wantID, _ := img.ConfigName()
	if gotID != wantID {
		t.Fatalf("tarball reads image ID %s, want %s", gotID, wantID)
	}
}
