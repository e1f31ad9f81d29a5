package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
)

const (
	// refNameAnnotation holds a tag on index.json's manifest descriptors.
	refNameAnnotation = "org.opencontainers.image.ref.name"
	// sizeAnnotation caches an image's content size (sum of the layers'
	// file sizes) on its descriptors, so listing reads no layer.
	sizeAnnotation = "dev.tabula.image.size"

	indexLock = "index.lock"
	// gcLock is held shared by writers from the first blob they ingest to
	// their index update, and exclusively by GC, so GC never sees a blob
	// that is committed but not yet referenced.
	gcLock = "gc.lock"
)

func (s *Store) lock(name string, exclusive bool) (*flock, error) {
	return lockFile(filepath.Join(s.dir, name), exclusive)
}

// readIndex parses index.json. It is replaced atomically, so it needs no lock.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	p := filepath.Join(s.dir, "index.json")
	b, err := sysfile.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read the store's index: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s is not an OCI index: %v: %w", p, err, errdefs.ErrCorrupt)
	}
	return &idx, nil
}

// writeIndex replaces index.json with idx through a temporary file and a
// rename; the caller holds the index lock.
func (s *Store) writeIndex(idx *v1.IndexManifest) error {
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dir, "index.json"), append(b, '\n'))
}

func writeFileAtomic(p string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// updateIndex runs change on index.json under the exclusive index lock and
// writes the result when change reports a modification.
func (s *Store) updateIndex(change func(idx *v1.IndexManifest) (bool, error)) error {
	l, err := s.lock(indexLock, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	changed, err := change(idx)
	if err != nil || !changed {
		return err
	}
	return s.writeIndex(idx)
}

func emptyIndex() *v1.IndexManifest {
	return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
}

func refName(d v1.Descriptor) string { return d.Annotations[refNameAnnotation] }

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
