package analyze

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/layer"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ImageTree is an image's layers flattened into one Tree. The content of
// its regular files is kept in unlinked temporary files, one per layer, so
// each layer is decompressed once (layers in parallel) and files are read
// lazily afterwards. Close releases them.
type ImageTree struct {
	*Tree
	spills []*os.File
}

// Close releases the temporary files that hold the content.
func (t *ImageTree) Close() error {
	var first error
	for _, f := range t.spills {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// spillSection reads one file's content out of a spill file.
type spillSection struct{ *io.SectionReader }

func (spillSection) Close() error { return nil }

// record is one tar entry of a layer, its content in the layer's spill file.
type record struct {
	h   *tar.Header
	off int64
}

// spilledLayer is one layer read: its entries in order and its content.
type spilledLayer struct {
	records []record
	spill   *os.File
	err     error
}

// OpenImage flattens img's layers, honouring whiteouts, into an ImageTree.
// tempDir is where the content is kept ("" for os.TempDir()).
func OpenImage(ctx context.Context, img v1.Image, tempDir string) (*ImageTree, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read the image's layers: %w", err)
	}
	read := make([]spilledLayer, len(layers))
	// Decompression is the cost: read the layers in parallel, then apply
	// them in order.
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			read[i] = spillLayer(ctx, l, i, tempDir)
		}()
	}
	wg.Wait()
	it := &ImageTree{Tree: NewTree()}
	for _, r := range read {
		if r.spill != nil {
			it.spills = append(it.spills, r.spill)
		}
	}
	for i, r := range read {
		if r.err != nil {
			it.Close()
			return nil, r.err
		}
		if err := it.apply(r, i, layers[i]); err != nil {
			it.Close()
			return nil, err
		}
	}
	return it, nil
}

// layerStream opens a layer's uncompressed tar stream, decompressing the
// blob with the layer package's fast decoders when it is compressed.
func layerStream(l v1.Layer) (io.ReadCloser, error) {
	if rc, err := l.Compressed(); err == nil {
		d, err := layer.Decompress(rc)
		if err != nil {
			rc.Close()
		}
		return d, err
	}
	return l.Uncompressed()
}

// spillLayer reads one layer's entries and copies their content to a
// temporary file.
func spillLayer(ctx context.Context, l v1.Layer, index int, tempDir string) (out spilledLayer) {
	d, _ := l.Digest()
	spill, err := os.CreateTemp(tempDir, ".tabula-doctor-*")
	if err != nil {
		out.err = fmt.Errorf("create a temporary file for layer %d: %w", index+1, err)
		return out
	}
	os.Remove(spill.Name())
	out.spill = spill
	rc, err := layerStream(l)
	if err != nil {
		out.err = fmt.Errorf("open layer %d (%s): %w", index+1, d, err)
		return out
	}
	defer rc.Close()
	w := bufio.NewWriterSize(spill, 1<<20)
	var off int64
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			out.err = err
			return out
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.err = fmt.Errorf("read layer %d (%s): %w", index+1, d, err)
			return out
		}
		rec := record{h: h, off: off}
		if h.Typeflag == tar.TypeReg {
			n, err := io.Copy(w, tr)
			if err != nil {
				out.err = fmt.Errorf("read %s in layer %d (%s): %w", h.Name, index+1, d, err)
				return out
			}
			h.Size = n
			off += n
		}
		out.records = append(out.records, rec)
	}
	// Read past the end marker: the store checks a blob's digest at its end.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		out.err = fmt.Errorf("read layer %d (%s): %w", index+1, d, err)
		return out
	}
	if err := w.Flush(); err != nil {
		out.err = fmt.Errorf("write layer %d's content to a temporary file: %w", index+1, err)
	}
	return out
}

// apply adds one read layer's entries to the tree.
func (it *ImageTree) apply(r spilledLayer, index int, l v1.Layer) error {
	// seen holds the paths this layer wrote, which its own opaque
	// whiteouts must not remove.
	seen := map[string]bool{}
	for _, rec := range r.records {
		h := rec.h
		name := cleanName(h.Name)
		if name == "" {
			continue
		}
		base := path.Base(name)
		dir := parentName(name)
		switch {
		case base == whiteoutOpaque:
			prefix := dir + "/"
			for k := range it.entries {
				if (dir == "" || strings.HasPrefix(k, prefix)) && k != "" && !seen[k] {
					delete(it.entries, k)
				}
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			it.Remove(joinName(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		seen[name] = true
		it.addParents(name)
		e := &treeEntry{name: name, mode: h.FileInfo().Mode(), modTime: h.ModTime, uid: h.Uid, gid: h.Gid}
		switch h.Typeflag {
		case tar.TypeReg:
			e.size = h.Size
			f, off, size := r.spill, rec.off, h.Size
			e.content = func() (ReadAtCloser, error) {
				return spillSection{io.NewSectionReader(f, off, size)}, nil
			}
		case tar.TypeLink:
			target, ok := it.entries[cleanName(h.Linkname)]
			if !ok || !target.mode.IsRegular() {
				d, _ := l.Digest()
				return fmt.Errorf("layer %d (%s): hard link %s points at %s, which is not an earlier file", index+1, d, h.Name, h.Linkname)
			}
			c := *target
			c.name = name
			e = &c
		case tar.TypeSymlink:
			e.link = h.Linkname
		}
		if old, ok := it.entries[name]; ok && old.mode.IsDir() {
			if e.mode.IsDir() {
				old.mode, old.uid, old.gid, old.modTime = e.mode, e.uid, e.gid, e.modTime
				continue
			}
			it.removeChildren(name)
		}
		it.entries[name] = e
	}
	return nil
}

var _ fs.ReadLinkFS = (*Tree)(nil)
