package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/sysfile"
	"github.com/tabula-dev/tabula/layer"
)

// maxMountData is the kernel's limit on a mount's option string: one page.
const maxMountData = 4096

// Snapshots is a small snapshotter in containerd's vocabulary: every image
// layer unpacked once under <root>/layers/sha256/<hex> and shared read-only
// by all containers (View), and per container an overlay upper and work dir
// on top of them (Prepare, removeDir).
type Snapshots struct {
	Root string // tabula's root directory
}

func (s *Snapshots) layersDir() string { return filepath.Join(s.Root, "layers") }

// Unpack returns the directory holding l's content, unpacking it first when
// no earlier run did. The layer is extracted into a temporary directory and
// renamed into place, so concurrent runs never see half a layer and a crash
// leaves only a temporary directory behind (removed by the next Unpack).
func (s *Snapshots) Unpack(ctx context.Context, l v1.Layer) (string, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return "", fmt.Errorf("read a layer's diff ID: %w", err)
	}
	dir := filepath.Join(s.layersDir(), diffID.Algorithm, diffID.Hex)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.layersDir(), ".tmp-"+diffID.Hex[:12]+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone already after a successful rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return "", fmt.Errorf("open layer %s: %w", diffID, err)
	}
	err = layer.Extract(ctx, rc, tmp, layer.ExtractOptions{Whiteouts: layer.OverlayWhiteouts})
	if cerr := rc.Close(); err == nil {
		err = cerr // a digest mismatch shows at Close
	}
	if err != nil {
		return "", fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another run unpacked it first
		}
		return "", fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	return dir, nil
}

// View unpacks the layers of img and returns their directories, bottom layer
// first (none for an image with no layers).
func (s *Snapshots) View(ctx context.Context, img v1.Image) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read the image's layers: %w", err)
	}
	var dirs []string
	for _, l := range layers {
		d, err := s.Unpack(ctx, l)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// baseLayer is the bottom layer of every container: the mount points and
// /etc files the runtime would otherwise create in each container's
// writable layer (and remove again), shared read-only by all. An image's
// own entries cover it; a name its layers lack shows through.
const baseLayer = "base-1"

// base returns the directory of the base layer, making it once: in a
// temporary directory renamed into place, like an unpacked layer.
func (s *Snapshots) base() (string, error) {
	dir := filepath.Join(s.layersDir(), baseLayer)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(s.layersDir(), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.layersDir(), ".tmp-"+baseLayer+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone already after a successful rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{"dev", "proc", "sys", "etc"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		if err := os.WriteFile(filepath.Join(tmp, "etc", f), nil, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Symlink("/proc/mounts", filepath.Join(tmp, "etc", "mtab")); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another run made it first
		}
		return "", err
	}
	return dir, nil
}

// Prepare makes the writable layer of a container in dir (dir/upper and
// dir/work) over lowers (bottom first) and the base layer under them, and
// returns the overlay mount that runtime.CreateOptions.Rootfs takes.
func (s *Snapshots) Prepare(dir string, lowers []string) ([]specs.Mount, error) {
	base, err := s.base()
	if err != nil {
		return nil, fmt.Errorf("make the base layer: %w", err)
	}
	lowers = append([]string{base}, lowers...)
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		err := os.Mkdir(d, 0o755) // dir is there already when Create calls
		if err != nil {
			err = os.MkdirAll(d, 0o755)
		}
		if err != nil {
			return nil, err
		}
	}
	// overlayfs lists the top layer first.
	top := make([]string, len(lowers))
	for i, l := range lowers {
		top[len(lowers)-1-i] = l
	}
	opts := []string{"lowerdir=" + strings.Join(top, ":"), "upperdir=" + upper, "workdir=" + work}
	if len(strings.Join(opts, ",")) >= maxMountData {
		// Too long for one page: short links under <root>/l name the layers.
		short, err := s.shortLinks(top)
		if err != nil {
			return nil, err
		}
		opts[0] = "lowerdir=" + strings.Join(short, ":")
		if len(strings.Join(opts, ",")) >= maxMountData {
			return nil, fmt.Errorf("the image has %d layers, too many for one overlay mount; squash some of them", len(lowers))
		}
	}
	return []specs.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

// shortLinks returns for each layer directory a symlink <root>/l/<12 hex>
// pointing at it.
func (s *Snapshots) shortLinks(dirs []string) ([]string, error) {
	ldir := filepath.Join(s.Root, "l")
	if err := os.MkdirAll(ldir, 0o700); err != nil {
		return nil, err
	}
	out := make([]string, len(dirs))
	for i, d := range dirs {
		name := filepath.Base(d)
		// 12 hex digits name a layer; a longer prefix settles a clash.
		for n := min(12, len(name)); out[i] == ""; n++ {
			if n > len(name) {
				return nil, fmt.Errorf("no short link for layer %s in %s", d, ldir)
			}
			link := filepath.Join(ldir, name[:n])
			err := os.Symlink(d, link)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			if t, err := os.Readlink(link); err == nil && t == d {
				out[i] = link
			}
		}
	}
	return out, nil
}

// CleanTemp removes the temporary directories that unpacks killed half way
// left behind, those older than age (an unpack still running is younger).
func (s *Snapshots) CleanTemp(age time.Duration) {
	ents, _ := os.ReadDir(s.layersDir())
	for _, e := range ents {
		fi, err := e.Info()
		if err == nil && strings.HasPrefix(e.Name(), ".tmp-") && time.Since(fi.ModTime()) > age {
			os.RemoveAll(filepath.Join(s.layersDir(), e.Name()))
		}
	}
}

// lock locks the layers directory: shared (unix.LOCK_SH) while a container
// is made from its layers, from View until the container's record names
// them (its first Containers.Save); exclusive (unix.LOCK_EX) while unused layers
// are pruned, so that none goes from under a container being made. The
// lock is the returned file's: closing it, or the process's end, releases
// it. Waiting for an exclusive lock ends with ctx.
func (s *Snapshots) lock(ctx context.Context, how int) (*os.File, error) {
	f, err := sysfile.Open(s.layersDir())
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(s.layersDir(), 0o700); err == nil {
			f, err = sysfile.Open(s.layersDir())
		}
	}
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.layersDir(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// PruneLayers removes the unpacked layers that no container uses and keep
// does not want (it is asked with a layer's diff ID, "sha256:<hex>"), with
// the short links to them, and returns the bytes of their files. tabula
// calls it once images are removed, with the layers of those left: as
// Docker, it frees an image's layers with the image, or with its last
// container when the image went first (rmi -f) and a prune follows.
func (c *Containers) PruneLayers(ctx context.Context, keep func(diffID string) bool) (int64, error) {
	snaps := &Snapshots{Root: c.Root}
	dir := filepath.Join(snaps.layersDir(), "sha256")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0, nil // nothing was ever unpacked
	}
	lock, err := snaps.lock(ctx, unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	// Containers being made have their records by now: they held the lock.
	recs, err := c.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot tell which layers containers use, so none is pruned: %w", err)
	}
	used := map[string]bool{}
	for _, r := range recs {
		for _, d := range strings.Split(r.GraphDriver.Data["LowerDir"], ":") {
			if t, err := os.Readlink(d); err == nil {
				d = t // a short link
			}
			used[filepath.Base(d)] = true
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range ents {
		if used[e.Name()] || keep("sha256:"+e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		n, err := layer.DiskUsage(ctx, p)
		if err != nil {
			return freed, err
		}
		// Renamed away first: a removal cut short leaves a temporary
		// directory (CleanTemp's), never a layer with files missing that
		// the next container would take as whole.
		gone := filepath.Join(snaps.layersDir(), ".tmp-"+e.Name()+"-pruned")
		os.RemoveAll(gone)
		if err := os.Rename(p, gone); err != nil {
			return freed, err
		}
		if err := os.RemoveAll(gone); err != nil {
			return freed, err
		}
		freed += n
	}
	snaps.removeDeadLinks()
	return freed, nil
}

// removeDeadLinks removes the short links whose layers are gone.
func (s *Snapshots) removeDeadLinks() {
	ldir := filepath.Join(s.Root, "l")
	ents, _ := os.ReadDir(ldir)
	for _, e := range ents {
		p := filepath.Join(ldir, e.Name())
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
		}
	}
}
