package store

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tabula-dev/tabula/errdefs"
)

// storedImage is the least a layout provides: the manifest, the config and
// the compressed blobs by digest; partial derives the rest of v1.Image.
type storedImage struct {
	s        *Store
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest

	configOnce sync.Once
	config     []byte // the config blob, read and verified once
	configErr  error

	diffIDsOnce sync.Once
	diffIDs     []v1.Hash // from the config; nil when unreadable
}

func (i *storedImage) configDiffIDs() []v1.Hash {
	i.diffIDsOnce.Do(func() {
		raw, err := i.RawConfigFile()
		if err != nil {
			return
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err == nil && len(cfg.RootFS.DiffIDs) == len(i.manifest.Layers) {
			i.diffIDs = cfg.RootFS.DiffIDs
		}
	})
	return i.diffIDs
}

func (s *Store) imageOf(desc v1.Descriptor) (v1.Image, error) {
	m, raw, err := s.rawManifest(desc)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&storedImage{s: s, desc: withoutName(desc), raw: raw, manifest: m})
}

func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType != "" {
		return i.manifest.MediaType, nil
	}
	return i.desc.MediaType, nil
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

// RawConfigFile reads the config blob once: partial asks for it for the
// config, its name and every layer's diff ID.
func (i *storedImage) RawConfigFile() ([]byte, error) {
	i.configOnce.Do(func() {
		i.config, i.configErr = i.s.readBlob(i.manifest.Config.Digest, i.manifest.Config.Size)
	})
	return i.config, i.configErr
}

func (i *storedImage) Descriptor() (*v1.Descriptor, error) {
	d := i.desc
	d.Annotations = nil
	return &d, nil
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &storedBlob{s: i.s, desc: i.manifest.Config}, nil
	}
	for n, l := range i.manifest.Layers {
		if l.Digest == h {
			b := &storedBlob{s: i.s, desc: l}
			// The config names each layer's diff ID: no need to decompress
			// the layer to learn it.
			if ids := i.configDiffIDs(); ids != nil {
				return &storedLayer{storedBlob: b, diffID: ids[n]}, nil
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer %s: %w", i.desc.Digest, h, errdefs.ErrNotFound)
}

// storedLayer is a layer blob whose diff ID the image config gives.
type storedLayer struct {
	*storedBlob
	diffID v1.Hash
}

func (l *storedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// storedBlob is one layer (or the config) as a compressed blob whose reads
// are verified against its descriptor.
type storedBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storedBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storedBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storedBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storedBlob) Descriptor() (*v1.Descriptor, error) { d := b.desc; return &d, nil }
func (b *storedBlob) Compressed() (io.ReadCloser, error) {
	return b.s.openBlob(b.desc.Digest, b.desc.Size)
}
