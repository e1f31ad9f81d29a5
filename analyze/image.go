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
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/layer"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ImageTree is an image's layers flattened into one Tree. The content of
// its regular files is kept in one unlinked temporary file, so each layer is
// decompressed once and files are read lazily afterwards. Close releases it.
type ImageTree struct {
	*Tree
	spill *os.File
}

// Close releases the temporary file that holds the content.
func (t *ImageTree) Close() error { return t.spill.Close() }

// spillSection reads one file's content out of the spill file.
type spillSection struct{ *io.SectionReader }

func (spillSection) Close() error { return nil }

// OpenImage flattens img's layers, honouring whiteouts, into an ImageTree.
// tempDir is where the content is kept ("" for os.TempDir()).
func OpenImage(ctx context.Context, img v1.Image, tempDir string) (*ImageTree, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read the image's layers: %w", err)
	}
	spill, err := os.CreateTemp(tempDir, ".tabula-doctor-*")
	if err != nil {
		return nil, fmt.Errorf("create a temporary file for the image's content: %w", err)
	}
	os.Remove(spill.Name())
	it := &ImageTree{Tree: NewTree(), spill: spill}
	w := &spillWriter{f: spill, w: bufio.NewWriterSize(spill, 1<<20)}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			spill.Close()
			return nil, err
		}
		if err := it.addLayer(ctx, l, i, w); err != nil {
			spill.Close()
			return nil, err
		}
	}
	if err := w.w.Flush(); err != nil {
		spill.Close()
		return nil, fmt.Errorf("write the image's content to a temporary file: %w", err)
	}
	return it, nil
}

type spillWriter struct {
	f   *os.File
	w   *bufio.Writer
	off int64
}

// layerStream opens a layer's uncompressed tar stream, decompressing the
// blob with the layer package's fast decoders when it is compressed.
func layerStream(l v1.Layer) (io.ReadCloser, error) {
	if rc, err := l.Compressed(); err == nil {
		return layer.Decompress(rc)
	}
	return l.Uncompressed()
}

func (it *ImageTree) addLayer(ctx context.Context, l v1.Layer, index int, w *spillWriter) error {
	d, _ := l.Digest()
	rc, err := layerStream(l)
	if err != nil {
		return fmt.Errorf("open layer %d (%s): %w", index+1, d, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	// seen holds the paths this layer wrote, which its own opaque
	// whiteouts must not remove.
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer %d (%s): %w", index+1, d, err)
		}
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
		case tar.TypeReg, tar.TypeRegA:
			e.size = h.Size
			off := w.off
			n, err := io.Copy(w.w, tr)
			if err != nil {
				return fmt.Errorf("read %s in layer %d (%s): %w", h.Name, index+1, d, err)
			}
			w.off += n
			f, size := w.f, n
			e.content = func() (ReadAtCloser, error) {
				return spillSection{io.NewSectionReader(f, off, size)}, nil
			}
		case tar.TypeLink:
			target, ok := it.entries[cleanName(h.Linkname)]
			if !ok || !target.mode.IsRegular() {
				return fmt.Errorf("layer %d (%s): hard link %s points at %s, which is not an earlier file", index+1, d, h.Name, h.Linkname)
			}
			c := *target
			c.name = name
			e = &c
		case tar.TypeSymlink:
			e.link = h.Linkname
		}
		if old, ok := it.entries[name]; ok && old.mode.IsDir() && e.mode.IsDir() {
			old.mode, old.uid, old.gid, old.modTime = e.mode, e.uid, e.gid, e.modTime
			continue
		}
		if old, ok := it.entries[name]; ok && old.mode.IsDir() {
			it.removeChildren(name)
		}
		it.entries[name] = e
	}
}

var _ fs.ReadLinkFS = (*Tree)(nil)
