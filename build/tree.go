package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/layer"
)

// entry is one file of a stage's filesystem: its layer metadata and, for a
// regular file, the SHA-256 of its content (hex).
type entry struct {
	layer.File
	digest string
}

// tree is the merged filesystem of a stage: every path (clean, relative, no
// leading slash) and what is there. Entries are never modified once added,
// so trees share them freely.
type tree struct {
	files    map[string]*entry
	symlinks int
}

func newTree() *tree { return &tree{files: map[string]*entry{}} }

// clone returns a tree that can change without changing t.
func (t *tree) clone() *tree {
	c := &tree{files: make(map[string]*entry, len(t.files)), symlinks: t.symlinks}
	for k, v := range t.files {
		c.files[k] = v
	}
	return c
}

func (t *tree) get(p string) *entry { return t.files[p] }

// put adds or replaces e. A directory replaced by a non-directory loses its
// contents, as when a layer's file covers a lower directory.
func (t *tree) put(e *entry) {
	if old, ok := t.files[e.Path]; ok {
		if old.Mode&fs.ModeSymlink != 0 {
			t.symlinks--
		}
		if old.Mode.IsDir() && !e.Mode.IsDir() {
			t.removeChildren(e.Path)
		}
	}
	if e.Mode&fs.ModeSymlink != 0 {
		t.symlinks++
	}
	t.files[e.Path] = e
}

func (t *tree) remove(p string) {
	if old, ok := t.files[p]; ok {
		if old.Mode&fs.ModeSymlink != 0 {
			t.symlinks--
		}
		delete(t.files, p)
	}
	t.removeChildren(p)
}

func (t *tree) removeChildren(dir string) {
	prefix := dir + "/"
	for k, e := range t.files {
		if strings.HasPrefix(k, prefix) {
			if e.Mode&fs.ModeSymlink != 0 {
				t.symlinks--
			}
			delete(t.files, k)
		}
	}
}

// under returns the entries strictly below dir ("" for the root), sorted.
func (t *tree) under(dir string) []*entry {
	var out []*entry
	prefix := dir + "/"
	for k, e := range t.files {
		if dir == "" || strings.HasPrefix(k, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// resolve follows symlinks in p (absolute or relative to the root) the way
// the kernel would inside the image, never above its root, and returns the
// clean relative path it lands on (which may not exist).
func (t *tree) resolve(p string) (string, error) {
	if t.symlinks == 0 {
		c, err := layer.CleanPath(path.Clean("/" + p))
		return c, err
	}
	r, err := securejoin.SecureJoinVFS("/", p, treeVFS{t})
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(path.Clean(r), "/"), nil
}

// resolveParent resolves the directory part of p and keeps its last element
// as is, so a symlink at p itself is not followed.
func (t *tree) resolveParent(p string) (string, error) {
	c, err := layer.CleanPath(path.Clean("/" + p))
	if err != nil || c == "" || t.symlinks == 0 {
		return c, err
	}
	dir, base := path.Split(c)
	d, err := t.resolve(dir)
	if err != nil {
		return "", err
	}
	return path.Join(d, base), nil
}

// readFile reads the file at p (symlinks followed), at most limit bytes.
func (t *tree) readFile(p string, limit int64) ([]byte, error) {
	r, err := t.resolve(p)
	if err != nil {
		return nil, err
	}
	e := t.get(r)
	if e == nil || !e.Mode.IsRegular() {
		return nil, fs.ErrNotExist
	}
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// treeVFS lets securejoin walk a tree as if it were a directory at "/".
type treeVFS struct{ t *tree }

func (v treeVFS) Lstat(name string) (os.FileInfo, error) {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	e := v.t.get(p)
	if e == nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return fileInfo{e}, nil
}

func (v treeVFS) Readlink(name string) (string, error) {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	e := v.t.get(p)
	if e == nil || e.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.Linkname, nil
}

type fileInfo struct{ e *entry }

func (f fileInfo) Name() string       { return path.Base(f.e.Path) }
func (f fileInfo) Size() int64        { return f.e.Size }
func (f fileInfo) Mode() fs.FileMode  { return f.e.Mode }
func (f fileInfo) ModTime() time.Time { return f.e.ModTime }
func (f fileInfo) IsDir() bool        { return f.e.Mode.IsDir() }
func (f fileInfo) Sys() any           { return nil }

// spool keeps the content of files read from tar streams in one unlinked
// temporary file, so that trees of images need no memory for contents.
// The file is created when first needed, in dir (os.TempDir() when empty).
type spool struct {
	dir string
	f   *os.File
	off int64
}

func (s *spool) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// add copies r to the spool and returns an opener for it, its size and digest.
func (s *spool) add(r io.Reader) (func() (io.ReadCloser, error), int64, string, error) {
	if s.f == nil {
		if s.dir != "" {
			if err := os.MkdirAll(s.dir, 0o700); err != nil {
				return nil, 0, "", err
			}
		}
		f, err := os.CreateTemp(s.dir, ".spool-*")
		if err != nil {
			return nil, 0, "", fmt.Errorf("create a temporary file: %w", err)
		}
		os.Remove(f.Name()) // the open file is all the spool needs
		s.f = f
	}
	h := sha256.New()
	if _, err := s.f.Seek(s.off, io.SeekStart); err != nil {
		return nil, 0, "", err
	}
	n, err := io.Copy(io.MultiWriter(s.f, h), r)
	if err != nil {
		return nil, 0, "", err
	}
	off, f := s.off, s.f
	s.off += n
	open := func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(f, off, n)), nil }
	return open, n, hex.EncodeToString(h.Sum(nil)), nil
}

// imageTree flattens the layers of img into a tree, applying whiteouts;
// file contents go to sp.
func imageTree(ctx context.Context, img v1.Image, sp *spool) (*tree, error) {
	t := newTree()
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for i, l := range layers {
		if err := applyLayer(ctx, t, l, sp); err != nil {
			return nil, fmt.Errorf("read layer %d of the image: %w", i+1, err)
		}
	}
	return t, nil
}

func applyLayer(ctx context.Context, t *tree, l v1.Layer, sp *spool) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	opaque := map[string]bool{}
	return layer.Walk(ctx, rc, func(h *tar.Header, content io.Reader) error {
		p, err := layer.CleanPath(h.Name)
		if err != nil || p == "" {
			return nil
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			if !opaque[dir] {
				t.removeChildren(dir)
				opaque[dir] = true
			}
			return nil
		}
		if strings.HasPrefix(base, ".wh.") {
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			return nil
		}
		e := &entry{File: layer.File{
			Path: p, Mode: tarFileMode(h), UID: h.Uid, GID: h.Gid, ModTime: h.ModTime,
			Linkname: h.Linkname, Devmajor: h.Devmajor, Devminor: h.Devminor,
		}}
		switch h.Typeflag {
		case tar.TypeReg:
			e.Open, e.Size, e.digest, err = sp.add(content)
			if err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := layer.CleanPath(h.Linkname)
			if err != nil {
				return nil
			}
			te := t.get(target)
			if te == nil || !te.Mode.IsRegular() {
				return nil
			}
			// A hard link reads as the file it links to.
			c := *te
			c.Path, c.Mode, c.UID, c.GID = p, te.Mode, h.Uid, h.Gid
			e = &c
		case tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return nil
		}
		if old := t.get(p); old != nil && old.Mode.IsDir() && e.Mode.IsDir() {
			// a directory entry over a directory keeps what is below it
			t.files[p] = e
			return nil
		}
		t.put(e)
		return nil
	})
}

// tarFileMode is the fs.FileMode of a tar header: type and permission bits.
func tarFileMode(h *tar.Header) fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch h.Typeflag {
	case tar.TypeDir:
		m |= fs.ModeDir
	case tar.TypeSymlink:
		m |= fs.ModeSymlink
	case tar.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		m |= fs.ModeDevice
	case tar.TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}
