package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tabula-dev/tabula/layer"
)

// stepCache remembers the layers that steps made, under <root>/cache:
// layers/<key>.json names a layer by digest, blobs/sha256/<hex> holds it.
// A step's key covers everything the layer is made of: every entry's path,
// type, mode, owner, time and link, the digest of every file's content,
// the compression and the timestamp; the same key always gives the same
// layer, so a hit is exact.
type stepCache struct {
	dir string
}

type cacheRecord struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
}

// stepKey is the cache key of a layer of entries.
func stepKey(entries []*entry, opts layer.Options) string {
	sorted := append([]*entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	h := sha256.New()
	fmt.Fprintf(h, "tabula-layer-v1\x00%s\x00%d\x00%d\x00", opts.Compression, opts.GzipLevel, opts.Timestamp.Unix())
	for _, e := range sorted {
		xattrs := make([]string, 0, len(e.Xattrs))
		for k, v := range e.Xattrs {
			xattrs = append(xattrs, k+"="+v)
		}
		sort.Strings(xattrs)
		fmt.Fprintf(h, "%q %o %d %d %d %q %t %d %d %d %q %s\x00", e.Path, uint32(e.Mode), e.UID, e.GID, e.Size,
			e.Linkname, e.Hardlink, e.Devmajor, e.Devminor, e.ModTime.Unix(), xattrs, e.digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns the layer cached under key, if its record and blob are there.
func (c *stepCache) get(key string) (v1.Layer, bool) {
	data, err := os.ReadFile(filepath.Join(c.dir, "layers", key+".json"))
	if err != nil {
		return nil, false
	}
	var r cacheRecord
	if json.Unmarshal(data, &r) != nil || r.Digest.Algorithm != "sha256" || len(r.Digest.Hex) != 64 {
		return nil, false
	}
	blob := filepath.Join(c.dir, "blobs", "sha256", r.Digest.Hex)
	fi, err := os.Stat(blob)
	if err != nil || fi.Size() != r.Size {
		return nil, false
	}
	return &cachedLayer{rec: r, path: blob}, true
}

// put records l under key, copying its blob into the cache.
func (c *stepCache) put(key string, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	mt, err := l.MediaType()
	if err != nil {
		return err
	}
	blobDir := filepath.Join(c.dir, "blobs", "sha256")
	blob := filepath.Join(blobDir, d.Hex)
	if fi, err := os.Stat(blob); err != nil || fi.Size() != size {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = writeAtomic(blobDir, d.Hex, func(w io.Writer) error { _, err := io.Copy(w, rc); return err })
		rc.Close()
		if err != nil {
			return err
		}
	}
	data, err := json.Marshal(cacheRecord{Digest: d, DiffID: diffID, Size: size, MediaType: mt})
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(c.dir, "layers"), key+".json", func(w io.Writer) error { _, err := w.Write(data); return err })
}

// writeAtomic writes name in dir through a temporary file and a rename, so
// readers see the whole file or none.
func writeAtomic(dir, name string, write func(io.Writer) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// cachedLayer is a layer whose blob is a file of the cache.
type cachedLayer struct {
	rec  cacheRecord
	path string
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.rec.Digest, nil }
func (l *cachedLayer) DiffID() (v1.Hash, error)            { return l.rec.DiffID, nil }
func (l *cachedLayer) Size() (int64, error)                { return l.rec.Size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.rec.MediaType, nil }

func (l *cachedLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }

func (l *cachedLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	return layer.Decompress(f)
}
