package container

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/testenv"
	"github.com/tabula-dev/tabula/layer"
)

// TestUnpackConcurrent: runs of the same image at once unpack each layer
// into one directory, none sees half a layer, no temporary stays.
func TestUnpackConcurrent(t *testing.T) {
	testenv.RequireRoot(t)
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshots{Root: t.TempDir()}
	var wg sync.WaitGroup
	results := make([][]string, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.View(context.Background(), img)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if strings.Join(results[i], ":") != strings.Join(results[0], ":") || len(results[i]) != 3 {
			t.Fatalf("run %d got layers %v, run 0 %v", i, results[i], results[0])
		}
	}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.DiffID()
		if want := filepath.Join(s.Root, "layers", "sha256", d.Hex); results[0][i] != want {
			t.Errorf("layer %d at %s, want %s (bottom first)", i, results[0][i], want)
		}
		if ents, err := os.ReadDir(results[0][i]); err != nil || len(ents) == 0 {
			t.Errorf("layer %d is empty: %v", i, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root, "layers"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

func TestViewEmptyImage(t *testing.T) {
	s := &Snapshots{Root: t.TempDir()}
	dirs, err := s.View(context.Background(), empty.Image)
	if err != nil || len(dirs) != 0 {
		t.Fatalf("View(empty) = %v, %v", dirs, err)
	}
	// Its container's only lower layer is the base layer.
	m, err := s.Prepare(t.TempDir(), dirs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "lowerdir=" + filepath.Join(s.Root, "layers", baseLayer); m[0].Options[0] != want {
		t.Errorf("overlay options %v, want %s first", m[0].Options, want)
	}
}

// TestBaseLayer: the base layer holds the mount points and /etc files of
// every container, made once, under the image's layers.
func TestBaseLayer(t *testing.T) {
	s := &Snapshots{Root: t.TempDir()}
	image := t.TempDir()
	m, err := s.Prepare(t.TempDir(), []string{image})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(s.Root, "layers", baseLayer)
	if want := "lowerdir=" + image + ":" + base; m[0].Options[0] != want {
		t.Errorf("overlay options %v, want %s first", m[0].Options, want)
	}
	var got []string
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if rel, _ := filepath.Rel(base, p); rel != "." {
			got = append(got, fmt.Sprintf("%s %v", rel, d.Type()))
		}
		return nil
	})
	want := "dev d--------- etc d--------- etc/hostname ---------- etc/hosts ---------- etc/mtab L--------- etc/resolv.conf ---------- proc d--------- sys d---------"
	if strings.Join(got, " ") != want {
		t.Errorf("base layer:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if l, err := os.Readlink(filepath.Join(base, "etc", "mtab")); err != nil || l != "/proc/mounts" {
		t.Errorf("etc/mtab -> %q, %v", l, err)
	}
	// Made once: a second container finds it.
	if _, err := s.Prepare(t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root, "layers")); len(ents) != 1 {
		t.Errorf("layers dir holds %v, want only the base layer", ents)
	}
}

// TestUnpackCorrupt: a layer whose content does not match its digest leaves
// no layer directory.
func TestUnpackCorrupt(t *testing.T) {
	img, _ := random.Image(1024, 1)
	layers, _ := img.Layers()
	bad := corruptLayer{layers[0]}
	img2, err := mutate.AppendLayers(empty.Image, bad)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshots{Root: t.TempDir()}
	if _, err := s.View(context.Background(), img2); err == nil {
		t.Fatal("a corrupt layer unpacked")
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root, "layers", "sha256"))
	all, _ := os.ReadDir(filepath.Join(s.Root, "layers"))
	if len(ents) != 0 || len(all) != 1 {
		t.Errorf("left behind: %v %v", ents, all)
	}
}

func TestPrepareOrderAndLongPaths(t *testing.T) {
	root := t.TempDir()
	s := &Snapshots{Root: root}
	dir := filepath.Join(root, "containers", "c")
	m, err := s.Prepare(dir, []string{"/l/bottom", "/l/middle", "/l/top"})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, "layers", baseLayer)
	if m[0].Type != "overlay" || m[0].Options[0] != "lowerdir=/l/top:/l/middle:/l/bottom:"+base {
		t.Errorf("overlay options %v: want the top layer first, the base layer last", m[0].Options)
	}
	// Sixty layers with long paths do not fit a page: short links do.
	var lowers []string
	for i := 0; i < 60; i++ {
		d := filepath.Join(root, "layers", "sha256", fmt.Sprintf("%x", sha256.Sum256([]byte{byte(i)})))
		os.MkdirAll(d, 0o755)
		lowers = append(lowers, d)
	}
	m, err = s.Prepare(dir, lowers)
	if err != nil {
		t.Fatal(err)
	}
	opts := strings.Join(m[0].Options, ",")
	if len(opts) >= maxMountData {
		t.Fatalf("options are %d bytes", len(opts))
	}
	short := strings.Split(strings.TrimPrefix(m[0].Options[0], "lowerdir="), ":")
	if len(short) != 61 {
		t.Fatalf("%d lower dirs, want 60 and the base layer", len(short))
	}
	want := append([]string{base}, lowers...)
	for i, l := range short {
		if target, err := os.Readlink(l); err != nil || target != want[60-i] {
			t.Errorf("short link %s -> %s (%v), want %s", l, target, err, want[60-i])
		}
	}
}

// corruptLayer serves a layer whose uncompressed content is truncated.
type v1Layer = v1.Layer

type corruptLayer struct{ v1Layer }

func (c corruptLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := c.v1Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	return io.NopCloser(bytes.NewReader(b[:len(b)/2])), nil
}

func TestShortLinksClash(t *testing.T) {
	s := &Snapshots{Root: t.TempDir()}
	a := "/layers/" + strings.Repeat("a", 12) + "1" + strings.Repeat("0", 51)
	b := "/layers/" + strings.Repeat("a", 12) + "2" + strings.Repeat("0", 51)
	links, err := s.shortLinks([]string{a, b, a})
	if err != nil {
		t.Fatal(err)
	}
	if links[0] == links[1] || links[0] != links[2] {
		t.Errorf("links %v: want distinct links for distinct layers, one for the same", links)
	}
}

// TestPruneLayers: unpacked layers go unless keep wants them or a container
// uses them (its record names them, through a short link too); the short
// links left dangling go with them; a container being made (the shared
// lock ImageSource takes, until its record is saved) holds off a prune.
func TestPruneLayers(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	img, err := random.Image(4<<10, 4)
	if err != nil {
		t.Fatal(err)
	}
	c := &Containers{Root: t.TempDir()}
	s := &Snapshots{Root: c.Root}
	dirs, err := s.View(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	kept, linked, used, unused := dirs[0], dirs[1], dirs[2], dirs[3]
	links, err := s.shortLinks([]string{linked, unused})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecord(t, c, "user")
	r.GraphDriver = GraphDriver{Name: "overlay", Data: map[string]string{"LowerDir": used + ":" + links[0]}}
	if err := c.Save(r); err != nil {
		t.Fatal(err)
	}
	keep := func(diffID string) bool { return diffID == "sha256:"+filepath.Base(kept) }

	// A container being made: its layers stay whatever the records say.
	making, err := s.lock(ctx, unix.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.PruneLayers(canceled, keep); !errors.Is(err, context.Canceled) {
		t.Errorf("a prune while a container is made: %v, want to wait until its context ends", err)
	}
	if _, err := os.Stat(unused); err != nil {
		t.Errorf("a prune that could not lock removed a layer: %v", err)
	}
	making.Close()

	size, err := layer.DiskUsage(ctx, unused)
	if err != nil || size == 0 {
		t.Fatalf("the unused layer holds %d bytes: %v", size, err)
	}
	freed, err := c.PruneLayers(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{kept, linked, used} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("layer %s went: %v", filepath.Base(d), err)
		}
	}
	if _, err := os.Stat(unused); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unused layer is still there: %v", err)
	}
	if freed != size {
		t.Errorf("freed %d bytes, want the unused layer's %d", freed, size)
	}
	if _, err := os.Lstat(links[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the short link to the pruned layer is still there: %v", err)
	}
	if _, err := os.Lstat(links[0]); err != nil {
		t.Errorf("the short link a container uses went: %v", err)
	}
	ents, _ := os.ReadDir(s.layersDir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}
