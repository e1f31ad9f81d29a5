package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
	"github.com/tabula-dev/tabula/layer"
)

// Store is the OCI image layout at one directory (normally <root>/images).
// Its methods are safe for concurrent use by many processes.
type Store struct {
	dir string
}

// Open opens the layout at dir, creating oci-layout and an empty index.json
// when the directory is new.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{dir, filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "ingest")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	layoutPath := filepath.Join(dir, "oci-layout")
	if b, err := sysfile.ReadFile(layoutPath); err == nil {
		var l struct {
			Version string `json:"imageLayoutVersion"`
		}
		if err := json.Unmarshal(b, &l); err != nil || l.Version == "" {
			return nil, fmt.Errorf("%s is not an OCI layout marker; move the directory away or repair it: %w", layoutPath, errdefs.ErrCorrupt)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(layoutPath, []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n")); err != nil {
			return nil, err
		}
	} else {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		err := s.updateIndexCreate()
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// updateIndexCreate writes an empty index.json unless another process did.
func (s *Store) updateIndexCreate() error {
	l, err := s.lock(indexLock, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if _, err := os.Stat(filepath.Join(s.dir, "index.json")); err == nil {
		return nil
	}
	return s.writeIndex(emptyIndex())
}

// Dir is the layout's directory.
func (s *Store) Dir() string { return s.dir }

// TempDir makes a private directory on the store's file system for a
// writer's temporary files (a spooled archive, say). It stays locked until
// release, which removes it; GC removes those of writers that died.
func (s *Store) TempDir() (dir string, release func(), err error) {
	dir, err = os.MkdirTemp(filepath.Join(s.dir, "ingest"), "tmp-")
	if err != nil {
		return "", nil, fmt.Errorf("make a temporary directory in the image store: %w", err)
	}
	l, err := lockFile(filepath.Join(dir, tempDirLock), true)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() {
		os.RemoveAll(dir)
		l.unlock()
	}, nil
}

// tempDirLock is held in each TempDir while its writer lives.
const tempDirLock = ".lock"

// Entry is one image of the store as `tabula images` lists it.
type Entry struct {
	// Names are the tags pointing at the image, in the familiar form Docker
	// prints ("hello:latest", "ghcr.io/org/app:v1"); empty for a dangling image.
	Names []string
	// Manifest is the manifest's descriptor in index.json.
	Manifest v1.Descriptor
	// ID is the config digest, as Docker's IMAGE ID.
	ID      v1.Hash
	Created time.Time
	// Size is the sum of the sizes of the regular files in the layers, as
	// Docker's SIZE (see contentSize).
	Size int64
}

// Write stores img (every blob verified, written atomically) and points each
// name at it, moving the name away from any image that had it. With no
// names the image is stored untagged. It returns the manifest descriptor.
func (s *Store) Write(ctx context.Context, img v1.Image, names ...string) (v1.Descriptor, error) {
	norm := make([]string, 0, len(names))
	for _, n := range names {
		nn, err := NormalizeName(n)
		if err != nil {
			return v1.Descriptor{}, err
		}
		norm = append(norm, nn)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("store image: read its manifest: %w", err)
	}
	manifest, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("store image: parse its manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("store image: %w", err)
	}

	gl, err := s.lock(gcLock, false)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer gl.unlock()

	mdigest, err := s.ingestBytes(ctx, rawManifest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(rawManifest)), Digest: mdigest}

	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size := int64(-1)
	for _, d := range idx.Manifests {
		if d.Digest == mdigest {
			if n, err := strconv.ParseInt(d.Annotations[sizeAnnotation], 10, 64); err == nil {
				size = n
			}
		}
	}
	if size < 0 {
		// Not stored yet (or stored by another tool): ingest the config
		// and every layer, then count the content.
		rawConfig, err := img.RawConfigFile()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("store image: read its config: %w", err)
		}
		if err := s.ingest(ctx, manifest.Config.Digest, manifest.Config.Size, bytes.NewReader(rawConfig)); err != nil {
			return v1.Descriptor{}, fmt.Errorf("store image config: %w", err)
		}
		for i, ld := range manifest.Layers {
			if s.hasBlob(ld.Digest, ld.Size) {
				continue
			}
			if err := s.ingestLayer(ctx, img, ld); err != nil {
				return v1.Descriptor{}, fmt.Errorf("store layer %d of %d: %w", i+1, len(manifest.Layers), err)
			}
		}
		size, err = s.contentSize(ctx, manifest)
		if err != nil {
			return v1.Descriptor{}, err
		}
	}
	desc.Annotations = map[string]string{sizeAnnotation: strconv.FormatInt(size, 10)}

	err = s.updateIndex(func(idx *v1.IndexManifest) (bool, error) {
		return setNames(idx, desc, norm), nil
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("store image: %w", err)
	}
	return desc, nil
}

func (s *Store) ingestLayer(ctx context.Context, img v1.Image, ld v1.Descriptor) error {
	l, err := img.LayerByDigest(ld.Digest)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.ingest(ctx, ld.Digest, ld.Size, rc)
}

// contentSize is what Docker shows as an image's SIZE: the sum of the
// sizes of the files in its layers.
func (s *Store) contentSize(ctx context.Context, m *v1.Manifest) (int64, error) {
	var total int64
	for _, ld := range m.Layers {
		n, err := s.layerContentSize(ctx, ld)
		if err != nil {
			return 0, fmt.Errorf("count the content of layer %s: %w", ld.Digest, err)
		}
		total += n
	}
	return total, nil
}

func (s *Store) layerContentSize(ctx context.Context, ld v1.Descriptor) (int64, error) {
	rc, err := s.openBlob(ld.Digest, ld.Size)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	r, err := layer.Decompress(rc)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := layer.ContentSize(ctx, ctxReader{ctx, r})
	if err != nil {
		return 0, err
	}
	// Drain, so that the blob's digest is verified.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return 0, err
	}
	return n, nil
}

// setNames points names at desc in idx: each name leaves the descriptor
// that had it (an image left with no name stays as a dangling image), and
// desc appears once per name, or once untagged when names is empty and the
// image is not in the index yet. It reports whether idx changed.
func setNames(idx *v1.IndexManifest, desc v1.Descriptor, names []string) bool {
	before := append([]v1.Descriptor(nil), idx.Manifests...)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []v1.Descriptor
	present := false
	for _, d := range idx.Manifests {
		n := refName(d)
		if d.Digest == desc.Digest {
			present = true
			if n == "" && len(names) > 0 {
				continue // the untagged entry gives way to named ones
			}
			if want[n] {
				delete(want, n)
			}
			out = append(out, d)
			continue
		}
		if n != "" && want[n] {
			// The name moves; keep the image it leaves as dangling unless
			// it still has another name.
			if !hasOtherEntry(idx.Manifests, d.Digest, n) {
				out = append(out, withoutName(d))
			}
			continue
		}
		out = append(out, d)
	}
	for _, n := range names {
		if want[n] {
			d := desc
			d.Annotations = copyAnnotations(desc.Annotations)
			d.Annotations[refNameAnnotation] = n
			out = append(out, d)
			delete(want, n)
		}
	}
	if !present && len(names) == 0 {
		out = append(out, desc)
	}
	idx.Manifests = dedupeUntagged(out)
	return !jsonEqual(before, idx.Manifests)
}

func hasOtherEntry(ds []v1.Descriptor, digest v1.Hash, except string) bool {
	for _, d := range ds {
		if d.Digest == digest && refName(d) != except {
			return true
		}
	}
	return false
}

func withoutName(d v1.Descriptor) v1.Descriptor {
	d.Annotations = copyAnnotations(d.Annotations)
	delete(d.Annotations, refNameAnnotation)
	return d
}

func copyAnnotations(a map[string]string) map[string]string {
	m := make(map[string]string, len(a)+1)
	for k, v := range a {
		m[k] = v
	}
	return m
}

// dedupeUntagged drops untagged descriptors of images that have a named
// descriptor or an earlier untagged one.
func dedupeUntagged(ds []v1.Descriptor) []v1.Descriptor {
	named := map[v1.Hash]bool{}
	for _, d := range ds {
		if refName(d) != "" {
			named[d.Digest] = true
		}
	}
	seen := map[v1.Hash]bool{}
	out := ds[:0]
	for _, d := range ds {
		if refName(d) == "" {
			if named[d.Digest] || seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
		}
		out = append(out, d)
	}
	return out
}

// group is one image of the index with all its names.
type group struct {
	desc  v1.Descriptor
	names []string
}

func groups(idx *v1.IndexManifest) []*group {
	var gs []*group
	by := map[v1.Hash]*group{}
	for _, d := range idx.Manifests {
		g, ok := by[d.Digest]
		if !ok {
			g = &group{desc: withoutName(d)}
			by[d.Digest] = g
			gs = append(gs, g)
		}
		if n := refName(d); n != "" {
			g.names = append(g.names, n)
		}
	}
	return gs
}

// entry reads the manifest (and config when needed) of one image.
func (s *Store) entry(ctx context.Context, g *group) (Entry, *v1.Manifest, error) {
	e := Entry{Names: append([]string(nil), g.names...), Manifest: g.desc}
	m, err := s.manifest(g.desc)
	if err != nil {
		return e, nil, err
	}
	e.ID = m.Config.Digest
	cfg, err := s.config(m)
	if err != nil {
		return e, m, err
	}
	e.Created = cfg.Created.Time
	if n, err := strconv.ParseInt(g.desc.Annotations[sizeAnnotation], 10, 64); err == nil {
		e.Size = n
	} else if e.Size, err = s.contentSize(ctx, m); err != nil {
		return e, m, err
	}
	return e, m, nil
}

func (s *Store) manifest(d v1.Descriptor) (*v1.Manifest, error) {
	m, _, err := s.rawManifest(d)
	return m, err
}

// rawManifest reads and parses the manifest d describes, and also returns
// its bytes.
func (s *Store) rawManifest(d v1.Descriptor) (*v1.Manifest, []byte, error) {
	b, err := s.readBlob(d.Digest, d.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %v: %w", d.Digest, err, errdefs.ErrCorrupt)
	}
	return m, b, nil
}

func (s *Store) config(m *v1.Manifest) (*v1.ConfigFile, error) {
	b, err := s.readBlob(m.Config.Digest, m.Config.Size)
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("image config %s: %v: %w", m.Config.Digest, err, errdefs.ErrCorrupt)
	}
	return cfg, nil
}

// Resolve finds the image that ref names: NAME[:TAG], a full or short image
// ID (config digest, with or without "sha256:"), or a manifest digest.
// An unknown ref is errdefs.ErrNotFound; an ambiguous ID prefix is
// errdefs.ErrInvalidArgument.
func (s *Store) Resolve(ctx context.Context, ref string) (Entry, error) {
	e, _, err := s.resolve(ctx, ref)
	return e, err
}

// resolve also reports whether ref matched by name.
func (s *Store) resolve(ctx context.Context, ref string) (Entry, bool, error) {
	idx, err := s.readIndex()
	if err != nil {
		return Entry{}, false, err
	}
	gs := groups(idx)
	if n, err := NormalizeName(ref); err == nil {
		for _, g := range gs {
			for _, gn := range g.names {
				if gn == n {
					e, _, err := s.entry(ctx, g)
					return e, true, err
				}
			}
		}
	}
	if !isHex(strings.TrimPrefix(ref, "sha256:"), 1, 64) {
		if _, err := NormalizeName(ref); err != nil {
			return Entry{}, false, err
		}
		return Entry{}, false, fmt.Errorf("image %q: no such image in %s: %w", ref, s.dir, errdefs.ErrNotFound)
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	var found []Entry
	var firstErr error
	for _, g := range gs {
		if g.desc.Digest.Hex == prefix {
			e, _, err := s.entry(ctx, g)
			return e, false, err
		}
		m, err := s.manifest(g.desc)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if strings.HasPrefix(m.Config.Digest.Hex, prefix) {
			e, _, err := s.entry(ctx, g)
			if err != nil {
				return e, false, err
			}
			found = append(found, e)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], false, nil
	case len(found) > 1:
		ids := map[v1.Hash]bool{}
		for _, e := range found {
			ids[e.ID] = true
		}
		if len(ids) > 1 {
			return Entry{}, false, fmt.Errorf("image ID %q is ambiguous: %d images start with it; give more digits: %w", ref, len(ids), errdefs.ErrInvalidArgument)
		}
		return found[0], false, nil
	case firstErr != nil:
		return Entry{}, false, fmt.Errorf("image %q: not found, and %w", ref, firstErr)
	}
	return Entry{}, false, fmt.Errorf("image %q: no such image in %s: %w", ref, s.dir, errdefs.ErrNotFound)
}

// Image returns the image that ref names (see Resolve); its blobs are read
// lazily and verified against their digests as they are read.
func (s *Store) Image(ctx context.Context, ref string) (v1.Image, error) {
	// By name, the manifest's descriptor is all it takes, not the entry
	// Resolve makes (which reads and parses the manifest and the config).
	if n, err := NormalizeName(ref); err == nil {
		idx, err := s.readIndex()
		if err != nil {
			return nil, err
		}
		for _, g := range groups(idx) {
			if slices.Contains(g.names, n) {
				return s.imageOf(g.desc)
			}
		}
	}
	_, img, err := s.ResolveImage(ctx, ref)
	return img, err
}

// ResolveImage returns both the entry (see Resolve) and the image (see
// Image) that ref names, from one reading of the index.
func (s *Store) ResolveImage(ctx context.Context, ref string) (Entry, v1.Image, error) {
	e, err := s.Resolve(ctx, ref)
	if err != nil {
		return Entry{}, nil, err
	}
	img, err := s.imageOf(e.Manifest)
	if err != nil {
		return Entry{}, nil, err
	}
	return e, img, nil
}

// BrokenImage is an image of the index that cannot be read: a manifest or
// config blob is missing, truncated or does not match its digest.
type BrokenImage struct {
	// Names are its tags; empty for a dangling image.
	Names []string
	// Manifest is its descriptor in index.json.
	Manifest v1.Descriptor
	Err      error
}

// ListError is the error List returns beside the images it could read: it
// names every image it left out. It wraps errdefs.ErrCorrupt.
type ListError struct {
	Broken []BrokenImage
}

func (e *ListError) Error() string {
	var b strings.Builder
	for i, bi := range e.Broken {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(bi.String())
	}
	return b.String()
}

func (e *ListError) Unwrap() error { return errdefs.ErrCorrupt }

// String names the image and says what is wrong with it.
func (b BrokenImage) String() string {
	what := "the dangling image " + b.Manifest.Digest.String()
	if len(b.Names) > 0 {
		what = "image " + strings.Join(b.Names, ", ") + " (" + b.Manifest.Digest.String() + ")"
	}
	return fmt.Sprintf("%s cannot be read: %v; `tabula system check` lists every problem, `tabula rmi` removes the image", what, b.Err)
}

// List returns every image of the store, newest first. An image that
// cannot be read does not stop it: List returns the others and a *ListError
// naming the broken ones.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Entry
	var broken []BrokenImage
	for _, g := range groups(idx) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if g.desc.MediaType.IsIndex() {
			continue // a multi-platform index another tool put here
		}
		e, _, err := s.entry(ctx, g)
		if err != nil {
			// Removed (and collected) since the index was read?
			if errors.Is(err, errdefs.ErrNotFound) {
				if now, rerr := s.readIndex(); rerr == nil && !hasDigest(now, g.desc.Digest) {
					continue
				}
			}
			broken = append(broken, BrokenImage{Names: g.names, Manifest: g.desc, Err: err})
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if len(broken) > 0 {
		return out, &ListError{Broken: broken}
	}
	return out, nil
}

// Tag points name at the image ref names.
func (s *Store) Tag(ctx context.Context, ref, name string) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	e, err := s.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	return s.updateIndex(func(idx *v1.IndexManifest) (bool, error) {
		if !hasDigest(idx, e.Manifest.Digest) {
			return false, fmt.Errorf("image %q was removed meanwhile: %w", ref, errdefs.ErrNotFound)
		}
		return setNames(idx, e.Manifest, []string{n}), nil
	})
}

func hasDigest(idx *v1.IndexManifest, h v1.Hash) bool {
	for _, d := range idx.Manifests {
		if d.Digest == h {
			return true
		}
	}
	return false
}

// ContainerUse is a container that uses an image, as RemoveOptions.InUse
// reports it.
type ContainerUse struct {
	// ID is the container's ID.
	ID string
	// Running says whether its process runs.
	Running bool
}

// RemoveOptions shape RemoveWith.
type RemoveOptions struct {
	// Force removes an image with several names by ID, removes the last
	// name of an image that containers use, and deletes an image that only
	// stopped containers use.
	Force bool
	// InUse returns the containers that use the image with ID id (its
	// config digest); nil means no container uses any image.
	InUse func(id v1.Hash) ([]ContainerUse, error)
}

// Remove is RemoveWith without containers.
func (s *Store) Remove(ctx context.Context, ref string, force bool) ([]string, error) {
	return s.RemoveWith(ctx, ref, RemoveOptions{Force: force})
}

// RemoveWith untags ref when it is a name; when the image is left with no
// names, or ref is an ID, the image is deleted (an ID with several names
// needs force) and blobs no image uses any more are collected. It returns
// Docker's "Untagged: …" and "Deleted: …" lines.
//
// Containers protect their image as Docker's do: the last name of an image
// that a container uses is removed only with force (a running container then
// keeps the image, untagged); by ID, an image that a running container uses
// is never deleted, and one that a stopped container uses only with force.
// Such refusals wrap errdefs.ErrFailedPrecondition.
func (s *Store) RemoveWith(ctx context.Context, ref string, o RemoveOptions) ([]string, error) {
	e, byName, err := s.resolve(ctx, ref)
	if err != nil && !(byName && e.Manifest.Digest.Hex != "") {
		return nil, err
	}
	// A name whose image cannot be read can still be removed: the index
	// says which manifest it names, and that is all removal needs.
	var users []ContainerUse
	if o.InUse != nil {
		if users, err = o.InUse(e.ID); err != nil && !o.Force {
			return nil, fmt.Errorf("image %s: cannot tell which containers use it (use -f to remove it anyway): %w", ref, err)
		}
	}
	var running, stopped string
	for _, u := range users {
		if u.Running && running == "" {
			running = shortContainerID(u.ID)
		}
		if !u.Running && stopped == "" {
			stopped = shortContainerID(u.ID)
		}
	}
	var lines []string
	deleted := false
	err = s.updateIndex(func(idx *v1.IndexManifest) (bool, error) {
		lines, deleted = nil, false
		var names []string
		for _, d := range idx.Manifests {
			if d.Digest == e.Manifest.Digest && refName(d) != "" {
				names = append(names, refName(d))
			}
		}
		var untag map[string]bool
		if byName {
			n, _ := NormalizeName(ref)
			if len(names) == 1 && len(users) > 0 && !o.Force {
				user := running
				if user == "" {
					user = stopped
				}
				return false, fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s; remove the container first, or use -f to untag it: %w",
					ref, user, ShortID(e.ID), errdefs.ErrFailedPrecondition)
			}
			untag = map[string]bool{n: true}
		} else {
			if running != "" {
				return false, fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s; stop and remove the container first: %w",
					ShortID(e.ID), running, errdefs.ErrFailedPrecondition)
			}
			if stopped != "" && !o.Force {
				return false, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s; remove the container first, or use -f: %w",
					ShortID(e.ID), stopped, errdefs.ErrFailedPrecondition)
			}
			if len(names) > 1 && !o.Force {
				return false, fmt.Errorf("image %s is tagged %s; remove the tags, or use -f to remove it with all of them: %w",
					ShortID(e.ID), strings.Join(names, ", "), errdefs.ErrFailedPrecondition)
			}
			untag = map[string]bool{}
			for _, n := range names {
				untag[n] = true
			}
		}
		var out []v1.Descriptor
		remaining := 0
		var last v1.Descriptor
		for _, d := range idx.Manifests {
			if d.Digest != e.Manifest.Digest {
				out = append(out, d)
				continue
			}
			last = d
			if n := refName(d); n != "" && untag[n] {
				lines = append(lines, "Untagged: "+n)
				continue
			}
			if refName(d) == "" && !byName {
				continue
			}
			if refName(d) != "" {
				remaining++
			}
			out = append(out, d)
		}
		if remaining == 0 {
			// Drop a dangling entry too: the image goes.
			kept := out[:0]
			for _, d := range out {
				if d.Digest != e.Manifest.Digest {
					kept = append(kept, d)
				}
			}
			out = kept
			if running != "" {
				// Untagged by force while a running container uses it:
				// the image stays, dangling, as Docker keeps it.
				out = append(out, withoutName(last))
			} else {
				deleted = true
				if e.ID.Hex != "" {
					lines = append(lines, "Deleted: "+e.ID.String())
				} else {
					lines = append(lines, "Deleted: "+e.Manifest.Digest.String())
				}
			}
		}
		idx.Manifests = out
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if deleted {
		// Another manifest with the same config is still the image Docker
		// would call by that ID: name the manifest that went instead.
		if idx, err := s.readIndex(); err == nil {
			for _, g := range groups(idx) {
				if m, err := s.manifest(g.desc); err == nil && e.ID.Hex != "" && m.Config.Digest == e.ID {
					lines[len(lines)-1] = "Deleted: " + e.Manifest.Digest.String()
					break
				}
			}
		}
		if _, err := s.GC(ctx); err != nil {
			return lines, fmt.Errorf("image removed, but collecting its blobs failed: %w", err)
		}
	}
	return lines, nil
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ShortID is an image ID as Docker prints it: the first 12 hex digits.
func ShortID(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.Hex
	}
	return h.Hex[:12]
}
