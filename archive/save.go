package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
	"github.com/tabula-dev/tabula/store"
)

const (
	refNameAnnotation        = "org.opencontainers.image.ref.name"
	containerdNameAnnotation = "io.containerd.image.name"
)

// Save writes images to w as one archive of the given format.
func Save(ctx context.Context, w io.Writer, format Format, images []Named) error {
	if len(images) == 0 {
		return fmt.Errorf("save: no image given: %w", errdefs.ErrInvalidArgument)
	}
	named := make([]Named, len(images))
	for i, n := range images {
		named[i] = n
		if n.Name == "" {
			continue
		}
		nn, err := store.NormalizeName(n.Name)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		named[i].Name = nn
	}
	tw := &tarWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	var err error
	switch format {
	case Docker:
		err = saveDocker(ctx, tw, named)
	case OCI:
		err = saveOCI(ctx, tw, named)
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return err
	}
	return tw.tw.Close()
}

// tarWriter writes each path once, with normalised metadata.
type tarWriter struct {
	tw      *tar.Writer
	written map[string]bool
}

func (t *tarWriter) dir(p string) error {
	if t.written[p] {
		return nil
	}
	t.written[p] = true
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
}

func (t *tarWriter) bytes(p string, b []byte) error {
	if t.written[p] {
		return nil
	}
	t.written[p] = true
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := t.tw.Write(b)
	return err
}

// stream writes size bytes from open() at p.
func (t *tarWriter) stream(ctx context.Context, p string, size int64, open func() (io.ReadCloser, error)) error {
	if t.written[p] {
		return nil
	}
	t.written[p] = true
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(t.tw, ctxReader{ctx, rc})
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: read %d bytes, want %d: %w", p, n, size, errdefs.ErrCorrupt)
	}
	// Read to EOF so that verifying readers check the digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return nil
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func saveDocker(ctx context.Context, tw *tarWriter, images []Named) error {
	var manifest []dockerManifest
	byConfig := map[v1.Hash]int{}
	repositories := map[string]map[string]string{}
	for _, n := range images {
		cfgName, err := n.Image.ConfigName()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		if i, ok := byConfig[cfgName]; ok {
			// The same image under another name: one more RepoTag.
			if n.Name != "" {
				manifest[i].RepoTags = appendUnique(manifest[i].RepoTags, n.Name)
			}
			continue
		}
		rawCfg, err := n.Image.RawConfigFile()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		cfgPath := cfgName.Hex + ".json"
		if err := tw.bytes(cfgPath, rawCfg); err != nil {
			return err
		}
		layers, err := n.Image.Layers()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		m := dockerManifest{Config: cfgPath, Layers: []string{}}
		for _, l := range layers {
			diffID, err := l.DiffID()
			if err != nil {
				return fmt.Errorf("save %s: %w", n.Name, err)
			}
			p := diffID.Hex + "/layer.tar"
			m.Layers = append(m.Layers, p)
			if tw.written[p] {
				continue
			}
			size, err := uncompressedSize(ctx, l)
			if err != nil {
				return fmt.Errorf("save %s: layer %s: %w", n.Name, diffID, err)
			}
			if err := tw.dir(diffID.Hex); err != nil {
				return err
			}
			if err := tw.stream(ctx, p, size, func() (io.ReadCloser, error) { return uncompressed(l) }); err != nil {
				return fmt.Errorf("save %s: layer %s: %w", n.Name, diffID, err)
			}
		}
		if n.Name != "" {
			m.RepoTags = []string{n.Name}
			if len(layers) > 0 {
				repo, tag := store.SplitName(n.Name)
				if repositories[repo] == nil {
					repositories[repo] = map[string]string{}
				}
				last, _ := layers[len(layers)-1].DiffID()
				repositories[repo][tag] = last.Hex
			}
		}
		byConfig[cfgName] = len(manifest)
		manifest = append(manifest, m)
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := tw.bytes("manifest.json", b); err != nil {
		return err
	}
	if len(repositories) > 0 {
		b, err := json.Marshal(repositories)
		if err != nil {
			return err
		}
		if err := tw.bytes("repositories", b); err != nil {
			return err
		}
	}
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// uncompressed opens a layer's tar stream, decompressing its blob with the
// layer package (faster than the standard library's gzip).
func uncompressed(l v1.Layer) (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	dr, err := layer.Decompress(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return dr, nil
}

func uncompressedSize(ctx context.Context, l v1.Layer) (int64, error) {
	rc, err := uncompressed(l)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, ctxReader{ctx, rc})
}

func saveOCI(ctx context.Context, tw *tarWriter, images []Named) error {
	if err := tw.bytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, d := range []string{"blobs", "blobs/sha256"} {
		if err := tw.dir(d); err != nil {
			return err
		}
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	// manifest.json as well, pointing into blobs/, so that `docker load`
	// (which wants it) reads the OCI archive too.
	var dm []dockerManifest
	byConfig := map[v1.Hash]int{}
	for _, n := range images {
		raw, err := n.Image.RawManifest()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		m, err := n.Image.Manifest()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		mt, err := n.Image.MediaType()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		digest, err := n.Image.Digest()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		rawCfg, err := n.Image.RawConfigFile()
		if err != nil {
			return fmt.Errorf("save %s: %w", n.Name, err)
		}
		if err := tw.bytes(blobPath(m.Config.Digest), rawCfg); err != nil {
			return err
		}
		for _, ld := range m.Layers {
			l, err := n.Image.LayerByDigest(ld.Digest)
			if err != nil {
				return fmt.Errorf("save %s: %w", n.Name, err)
			}
			if err := tw.stream(ctx, blobPath(ld.Digest), ld.Size, l.Compressed); err != nil {
				return fmt.Errorf("save %s: layer %s: %w", n.Name, ld.Digest, err)
			}
		}
		if err := tw.bytes(blobPath(digest), raw); err != nil {
			return err
		}
		d := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: digest}
		if n.Name != "" {
			d.Annotations = map[string]string{refNameAnnotation: n.Name}
			if t, err := name.NewTag(n.Name); err == nil {
				d.Annotations[containerdNameAnnotation] = t.Name()
			}
		}
		idx.Manifests = append(idx.Manifests, d)
		if i, ok := byConfig[m.Config.Digest]; ok {
			if n.Name != "" {
				dm[i].RepoTags = appendUnique(dm[i].RepoTags, n.Name)
			}
			continue
		}
		entry := dockerManifest{Config: blobPath(m.Config.Digest), Layers: []string{}}
		if n.Name != "" {
			entry.RepoTags = []string{n.Name}
		}
		for _, ld := range m.Layers {
			entry.Layers = append(entry.Layers, blobPath(ld.Digest))
		}
		byConfig[m.Config.Digest] = len(dm)
		dm = append(dm, entry)
	}
	if b, err := json.Marshal(dm); err != nil {
		return err
	} else if err := tw.bytes("manifest.json", b); err != nil {
		return err
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return tw.bytes("index.json", b)
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
