package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
	"github.com/tabula-dev/tabula/store"
)

// Load reads a docker-archive or OCI archive (possibly gzip-compressed) from r,
// writes its images into the store and returns the names it loaded (an image
// without a name is returned as its ID, "sha256:…"). An archive that names
// paths outside itself or blobs it does not hold is refused and no name is
// changed.
func Load(ctx context.Context, r io.Reader, into *store.Store) ([]string, error) {
	// Spool on the store's file system, not in a /tmp that may be memory.
	tmp, release, err := into.TempDir()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer release()
	a, err := unpack(ctx, r, tmp)
	if err != nil {
		return nil, err
	}
	var imgs []loaded
	switch {
	case a.has("index.json"):
		// An OCI layout, perhaps with Docker's manifest.json beside it:
		// the index keeps the manifests' digests.
		imgs, err = a.oci()
	case a.has("manifest.json"):
		imgs, err = a.docker(ctx, tmp)
	default:
		return nil, fmt.Errorf("load: the input is neither a docker-archive (no manifest.json) nor an OCI archive (no index.json): %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("load: the archive holds no image: %w", errdefs.ErrInvalidArgument)
	}
	// Every image was checked complete above; only now does any name move.
	var names []string
	for _, img := range imgs {
		if _, err := into.Write(ctx, img.image, img.names...); err != nil {
			return names, fmt.Errorf("load: %w", err)
		}
		if len(img.names) == 0 {
			id, _ := img.image.ConfigName()
			names = append(names, id.String())
		}
		for _, n := range img.names {
			nn, _ := store.NormalizeName(n)
			names = append(names, nn)
		}
	}
	return names, nil
}

// loaded is one image of an archive and the names it carries.
type loaded struct {
	image v1.Image
	names []string
}

// unpacked is an archive's files spooled to a temporary directory: each
// regular file under a number, each symbolic link kept as its target.
type unpacked struct {
	dir   string
	files map[string]string // cleaned archive path → spooled file
	links map[string]string // cleaned archive path → link target
}

func (a *unpacked) has(p string) bool {
	_, err := a.resolve(p)
	return err == nil
}

// cleanArchivePath makes p a path relative to the archive's root, refusing
// absolute paths and paths that climb out with "..".
func cleanArchivePath(p string) (string, error) {
	if p == "" || path.IsAbs(p) || strings.HasPrefix(p, "\\") {
		return "", fmt.Errorf("path %q is absolute or empty; archive paths must be relative: %w", p, errdefs.ErrInvalidArgument)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leads outside the archive: %w", p, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// resolve follows symbolic links inside the archive to a spooled file.
func (a *unpacked) resolve(p string) (string, error) {
	c, err := cleanArchivePath(p)
	if err != nil {
		return "", err
	}
	for hops := 0; hops < 16; hops++ {
		if f, ok := a.files[c]; ok {
			return f, nil
		}
		target, ok := a.links[c]
		if !ok {
			return "", fmt.Errorf("%q is not in the archive: %w", p, errdefs.ErrInvalidArgument)
		}
		if path.IsAbs(target) {
			return "", fmt.Errorf("%q links to the absolute path %q: %w", p, target, errdefs.ErrInvalidArgument)
		}
		if c, err = cleanArchivePath(path.Join(path.Dir(c), target)); err != nil {
			return "", fmt.Errorf("%q links outside the archive: %w", p, err)
		}
	}
	return "", fmt.Errorf("%q: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
}

func (a *unpacked) read(p string, max int64) ([]byte, error) {
	f, err := a.resolve(p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%q is %d bytes, more than the %d a metadata file may have: %w", p, fi.Size(), max, errdefs.ErrInvalidArgument)
	}
	return os.ReadFile(f)
}

const maxMetadata = 16 << 20

func unpack(ctx context.Context, r io.Reader, dir string) (*unpacked, error) {
	dr, err := layer.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer dr.Close()
	a := &unpacked{dir: dir, files: map[string]string{}, links: map[string]string{}}
	tr := tar.NewReader(dr)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			if i == 0 {
				return nil, fmt.Errorf("load: the input is empty; give an archive written by `tabula save` or `docker save`: %w", errdefs.ErrInvalidArgument)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load: the input is not a tar archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
		case tar.TypeGNUSparse:
			return nil, fmt.Errorf("load: entry %q is a sparse file, which no image archive holds: %w", h.Name, errdefs.ErrInvalidArgument)
		default:
			continue
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return nil, fmt.Errorf("load: entry %q is a sparse file, which no image archive holds: %w", h.Name, errdefs.ErrInvalidArgument)
			}
		}
		name, err := cleanArchivePath(h.Name)
		if err != nil {
			return nil, fmt.Errorf("load: entry %w", err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			a.links[name] = h.Linkname
		case tar.TypeLink:
			target, err := cleanArchivePath(h.Linkname)
			if err != nil {
				return nil, fmt.Errorf("load: hard link %q: %w", h.Name, err)
			}
			a.links[name] = relativeTo(name, target)
		default:
			f := filepath.Join(dir, fmt.Sprint(i))
			if err := spool(f, tr); err != nil {
				return nil, fmt.Errorf("load: entry %q: %w", h.Name, err)
			}
			a.files[name] = f
			delete(a.links, name)
		}
	}
	return a, nil
}

// relativeTo expresses target (relative to the archive root) as a link
// target relative to name's directory.
func relativeTo(name, target string) string {
	up := strings.Count(path.Dir(name), "/")
	if path.Dir(name) != "." {
		up++
	}
	return strings.Repeat("../", up) + target
}

func spool(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// docker reads a docker-archive's manifest.json.
func (a *unpacked) docker(ctx context.Context, tmp string) ([]loaded, error) {
	b, err := a.read("manifest.json", maxMetadata)
	if err != nil {
		return nil, err
	}
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var out []loaded
	for i, m := range ms {
		img, err := a.dockerImage(ctx, m, tmp)
		if err != nil {
			return nil, fmt.Errorf("manifest.json image %d: %w", i+1, err)
		}
		for _, t := range m.RepoTags {
			if _, err := store.NormalizeName(t); err != nil {
				return nil, fmt.Errorf("manifest.json image %d: %w", i+1, err)
			}
		}
		out = append(out, loaded{image: img, names: m.RepoTags})
	}
	return out, nil
}

func (a *unpacked) dockerImage(ctx context.Context, m dockerManifest, tmp string) (v1.Image, error) {
	rawCfg, err := a.read(m.Config, maxMetadata)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, fmt.Errorf("config %s: %v: %w", m.Config, err, errdefs.ErrInvalidArgument)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("config %s lists %d layers, the manifest %d: %w", m.Config, len(cfg.RootFS.DiffIDs), len(m.Layers), errdefs.ErrInvalidArgument)
	}
	img := &spooledImage{rawConfig: rawCfg, blobs: map[v1.Hash]partial.CompressedLayer{}}
	cfgDigest := sha256Hash(rawCfg)
	manifest := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawCfg)), Digest: cfgDigest},
		Layers:        []v1.Descriptor{},
	}
	for i, lp := range m.Layers {
		f, err := a.resolve(lp)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		d, diffID, err := describeLayer(f)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i+1, lp, err)
		}
		if diffID != cfg.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %d (%s) has content %s, the config says %s: %w", i+1, lp, diffID, cfg.RootFS.DiffIDs[i], errdefs.ErrInvalidArgument)
		}
		var blob partial.CompressedLayer = spooledBlob{desc: d, file: f}
		if d.MediaType == types.OCIUncompressedLayer {
			// docker-archive layers are plain tars: store them gzipped,
			// as every registry and tool expects.
			l, err := layer.Compress(ctx, func(w io.Writer) error {
				rc, err := os.Open(f)
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = io.Copy(w, rc)
				return err
			}, layer.Options{Compression: layer.Gzip, TempDir: tmp})
			if err != nil {
				return nil, fmt.Errorf("layer %d (%s): %w", i+1, lp, err)
			}
			pd, err := partial.Descriptor(l)
			if err != nil {
				return nil, err
			}
			d = v1.Descriptor{MediaType: pd.MediaType, Size: pd.Size, Digest: pd.Digest}
			blob = l
		}
		manifest.Layers = append(manifest.Layers, d)
		img.blobs[d.Digest] = blob
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	img.rawManifest = raw
	img.manifest = &manifest
	return partial.CompressedToImage(img)
}

// describeLayer hashes a layer file as stored and as uncompressed.
func describeLayer(f string) (v1.Descriptor, v1.Hash, error) {
	file, err := os.Open(f)
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	defer file.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(file, head)
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	blobHash := sha256.New()
	counter := &countWriter{}
	dr, err := layer.Decompress(io.TeeReader(file, io.MultiWriter(blobHash, counter)))
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	diffHash := sha256.New()
	if _, err := io.Copy(diffHash, dr); err != nil {
		dr.Close()
		return v1.Descriptor{}, v1.Hash{}, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	dr.Close()
	// Hash whatever the decompressor left unread.
	if _, err := io.Copy(io.MultiWriter(blobHash, counter), file); err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	mt := types.OCIUncompressedLayer
	if layer.IsCompressed(head[:n]) {
		mt = types.OCILayer
		if n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd {
			mt = types.OCILayerZStd
		}
	}
	d := v1.Descriptor{MediaType: mt, Size: counter.n, Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(blobHash.Sum(nil))}}
	return d, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffHash.Sum(nil))}, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// oci reads an OCI layout's index.json.
func (a *unpacked) oci() ([]loaded, error) {
	idx, err := a.index("index.json")
	if err != nil {
		return nil, err
	}
	var out []loaded
	for i, d := range idx.Manifests {
		img, err := a.ociImage(d, 0)
		if err != nil {
			return nil, fmt.Errorf("index.json manifest %d: %w", i+1, err)
		}
		var names []string
		if n := ociName(d.Annotations); n != "" {
			nn, err := store.NormalizeName(n)
			if err != nil {
				return nil, fmt.Errorf("index.json manifest %d: %w", i+1, err)
			}
			names = append(names, nn)
		}
		out = append(out, loaded{image: img, names: names})
	}
	return out, nil
}

// ociName is the image name a descriptor carries: containerd's full name
// when present, else a ref.name that is a whole reference (not a bare tag).
func ociName(ann map[string]string) string {
	if n := ann[containerdNameAnnotation]; n != "" {
		return n
	}
	n := ann[refNameAnnotation]
	if n == "" {
		return ""
	}
	if !strings.ContainsAny(n, ":/") {
		// A bare tag such as "latest" names no repository.
		return ""
	}
	return n
}

func (a *unpacked) index(p string) (*v1.IndexManifest, error) {
	b, err := a.read(p, maxMetadata)
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", p, err, errdefs.ErrInvalidArgument)
	}
	return &idx, nil
}

// blob finds a descriptor's blob and checks its size and digest.
func (a *unpacked) blob(d v1.Descriptor) (string, error) {
	if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
		return "", fmt.Errorf("digest %q: want sha256: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	if _, err := hex.DecodeString(d.Digest.Hex); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	f, err := a.resolve(blobPath(d.Digest))
	if err != nil {
		return "", fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	fh, err := os.Open(f)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", err
	}
	if n != d.Size {
		return "", fmt.Errorf("blob %s has %d bytes, the descriptor says %d: %w", d.Digest, n, d.Size, errdefs.ErrInvalidArgument)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex {
		return "", fmt.Errorf("blob %s has digest sha256:%s: %w", d.Digest, got, errdefs.ErrInvalidArgument)
	}
	return f, nil
}

func (a *unpacked) ociImage(d v1.Descriptor, depth int) (v1.Image, error) {
	if depth > 4 {
		return nil, fmt.Errorf("indexes nested too deep: %w", errdefs.ErrInvalidArgument)
	}
	f, err := a.blob(d)
	if err != nil {
		return nil, err
	}
	if d.Size > maxMetadata {
		return nil, fmt.Errorf("manifest %s is too large: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	raw, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
		}
		pick, err := pickPlatform(idx.Manifests)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		return a.ociImage(pick, depth+1)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	cf, err := a.blob(m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	rawCfg, err := os.ReadFile(cf)
	if err != nil {
		return nil, err
	}
	img := &spooledImage{rawManifest: raw, manifest: m, rawConfig: rawCfg, mediaType: d.MediaType, blobs: map[v1.Hash]partial.CompressedLayer{}}
	for i, ld := range m.Layers {
		lf, err := a.blob(ld)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		img.blobs[ld.Digest] = spooledBlob{desc: ld, file: lf}
	}
	return partial.CompressedToImage(img)
}

// pickPlatform chooses the image of a multi-platform index for this machine.
func pickPlatform(ds []v1.Descriptor) (v1.Descriptor, error) {
	var images []v1.Descriptor
	for _, d := range ds {
		if d.MediaType.IsImage() {
			images = append(images, d)
		}
	}
	if len(images) == 1 {
		return images[0], nil
	}
	for _, d := range images {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image for linux/%s among %d: %w", runtime.GOARCH, len(images), errdefs.ErrNotFound)
}

// spooledImage is an image whose blobs are files of an unpacked archive.
type spooledImage struct {
	rawManifest []byte
	manifest    *v1.Manifest
	mediaType   types.MediaType
	rawConfig   []byte
	blobs       map[v1.Hash]partial.CompressedLayer
}

func (i *spooledImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType != "" {
		return i.manifest.MediaType, nil
	}
	if i.mediaType != "" {
		return i.mediaType, nil
	}
	return types.OCIManifestSchema1, nil
}
func (i *spooledImage) RawManifest() ([]byte, error)   { return i.rawManifest, nil }
func (i *spooledImage) RawConfigFile() ([]byte, error) { return i.rawConfig, nil }
func (i *spooledImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := i.blobs[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("layer %s is not in the archive: %w", h, errdefs.ErrNotFound)
}

type spooledBlob struct {
	desc v1.Descriptor
	file string
}

func (b spooledBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b spooledBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b spooledBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b spooledBlob) Compressed() (io.ReadCloser, error)  { return os.Open(b.file) }
