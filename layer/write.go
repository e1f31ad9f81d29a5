package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tabula-dev/tabula/errdefs"
)

// CleanPath returns p as a layer path: slash-separated, relative, without
// "." or ".." elements. A path that climbs above the root is an error.
func CleanPath(p string) (string, error) {
	c := path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	if strings.Contains(p, "..") && !insideRoot(p) {
		return "", fmt.Errorf("path %q climbs out of the root: %w", p, errdefs.ErrInvalidArgument)
	}
	return strings.TrimPrefix(c, "/"), nil
}

// insideRoot reports whether the relative path p never climbs above its root
// while its elements are walked in order.
func insideRoot(p string) bool {
	depth := 0
	for _, e := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch e {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

// sorted returns files with clean paths, the last of duplicate paths kept,
// missing parent directories added, in byte order of path (so every
// directory precedes its contents).
func sorted(files []File) ([]File, error) {
	byPath := make(map[string]int, len(files))
	out := make([]File, 0, len(files))
	var latest time.Time
	for _, f := range files {
		p, err := CleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if p == "" {
			continue // the root itself is never an entry
		}
		f.Path = p
		if f.ModTime.After(latest) {
			latest = f.ModTime
		}
		if i, ok := byPath[p]; ok {
			out[i] = f
			continue
		}
		byPath[p] = len(out)
		out = append(out, f)
	}
	for _, f := range out {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; ok {
				break
			}
			byPath[dir] = len(out)
			out = append(out, File{Path: dir, Mode: fs.ModeDir | 0o755, ModTime: latest})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, linksAfterTargets(out)
}

// linksAfterTargets makes every hard link follow the entry it links to, as
// extraction needs: of a file and its links, the first path in order holds
// the content and the others link to it.
func linksAfterTargets(files []File) error {
	index := make(map[string]int, len(files))
	for i, f := range files {
		index[f.Path] = i
	}
	first := map[string]int{} // target path → index of the group's first entry
	for i := range files {
		f := &files[i]
		if !f.Hardlink {
			continue
		}
		target, err := CleanPath(f.Linkname)
		if err != nil {
			return fmt.Errorf("hard link %s: %w", f.Path, err)
		}
		t, ok := index[target]
		if !ok || files[t].Hardlink {
			return fmt.Errorf("hard link %s: its target %s is not a file of the layer: %w", f.Path, f.Linkname, errdefs.ErrInvalidArgument)
		}
		if g, ok := first[target]; ok {
			f.Linkname = files[g].Path
			continue
		}
		if t < i {
			first[target] = t
			f.Linkname = target
			continue
		}
		// The link sorts before its target: it takes the content, and the
		// target becomes the link.
		path := f.Path
		*f, files[t] = files[t], File{Path: target, Hardlink: true, Linkname: path, ModTime: files[t].ModTime}
		f.Path = path
		first[target] = i
	}
	return nil
}

// header is f's tar header, normalised: no user or group names, times in
// whole seconds, no access or change times.
func header(f File, opts Options) (*tar.Header, error) {
	mt := f.ModTime
	if !opts.Timestamp.IsZero() && mt.After(opts.Timestamp) {
		mt = opts.Timestamp
	}
	if mt.IsZero() {
		mt = time.Unix(0, 0)
	}
	h := &tar.Header{
		Name:    f.Path,
		Mode:    tarMode(f.Mode),
		Uid:     f.UID,
		Gid:     f.GID,
		ModTime: mt.UTC().Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	for k, v := range f.Xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+k] = v
	}
	switch {
	case f.Hardlink:
		target, err := CleanPath(f.Linkname)
		if err != nil {
			return nil, fmt.Errorf("hard link %s: %w", f.Path, err)
		}
		h.Typeflag, h.Linkname = tar.TypeLink, target
	case f.Mode.IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, f.Size
	case f.Mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, f.Path+"/"
	case f.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Linkname
	case f.Mode&fs.ModeCharDevice != 0:
		h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, f.Devmajor, f.Devminor
	case f.Mode&fs.ModeDevice != 0:
		h.Typeflag, h.Devmajor, h.Devminor = tar.TypeBlock, f.Devmajor, f.Devminor
	case f.Mode&fs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("%s: file type %v cannot be put in a layer: %w", f.Path, f.Mode.Type(), errdefs.ErrInvalidArgument)
	}
	if len(h.PAXRecords) == 0 && len(h.Name) <= 100 && len(h.Linkname) <= 100 {
		h.Format = tar.FormatUSTAR // the plainest encoding, when it can hold the entry
	}
	return h, nil
}

// tarMode is the tar header mode of m: permissions plus setuid, setgid, sticky.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// WriteTar writes files as an uncompressed tar stream: entries sorted by path,
// each missing parent directory added (0755, root-owned, at the latest ModTime
// given), names, owners and PAX records normalised so the same files always
// give the same bytes.
func WriteTar(ctx context.Context, w io.Writer, files []File, opts Options) error {
	entries, err := sorted(files)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, f := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := header(f, opts)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		if h.Typeflag == tar.TypeReg && f.Size > 0 {
			if err := copyContent(tw, f); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// copyContent copies exactly f.Size bytes of f's content to w.
func copyContent(w io.Writer, f File) error {
	if f.Open == nil {
		return fmt.Errorf("%s: no content to read: %w", f.Path, errdefs.ErrInvalidArgument)
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	defer r.Close()
	n, err := io.Copy(w, io.LimitReader(r, f.Size))
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	if n != f.Size {
		return fmt.Errorf("read %s: the file changed while it was read (%d bytes, expected %d)", f.Path, n, f.Size)
	}
	return nil
}

// New returns a layer of files, compressed as opts says. The blob is written
// once, to an unlinked temporary file that the layer reads back from, so
// Digest, DiffID and Size are known at once and nothing is left on disk when
// the process ends.
func New(ctx context.Context, files []File, opts Options) (v1.Layer, error) {
	return Compress(ctx, func(w io.Writer) error { return WriteTar(ctx, w, files, opts) }, opts)
}

// Compress runs write, which produces an uncompressed tar stream, and returns
// the layer it makes, compressed as opts says.
func Compress(ctx context.Context, write func(io.Writer) error, opts Options) (v1.Layer, error) {
	f, err := os.CreateTemp(opts.TempDir, ".layer-*")
	if err != nil {
		return nil, fmt.Errorf("create layer: %w", err)
	}
	os.Remove(f.Name()) // the open file is all the layer needs
	l := &fileLayer{f: f, compression: opts.Compression}
	runtime.AddCleanup(l, func(f *os.File) { f.Close() }, f)

	// The compressors write a few hundred bytes at a time: buffer them into
	// large writes.
	bw := bufio.NewWriterSize(f, 256<<10)
	blob := &countingHash{h: sha256.New(), w: bw}
	diff := &countingHash{h: sha256.New()}
	var zw io.WriteCloser
	switch opts.Compression {
	case Gzip, "":
		l.compression = Gzip
		level := opts.GzipLevel
		if level == 0 {
			level = gzip.DefaultCompression
		}
		zw, err = gzip.NewWriterLevel(blob, level)
	case Zstd:
		zw, err = zstd.NewWriter(blob, zstd.WithEncoderConcurrency(1))
	case None:
		zw = nopWriteCloser{blob}
	default:
		err = fmt.Errorf("compression %q: want gzip, zstd or none: %w", opts.Compression, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, err
	}
	if err := write(io.MultiWriter(zw, diff)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", blob.h.Sum(nil))}
	l.diffID = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", diff.h.Sum(nil))}
	l.size = blob.n
	return l, nil
}

// countingHash hashes and counts what passes through it to w (if any).
type countingHash struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	if c.w != nil {
		if _, err := c.w.Write(p); err != nil {
			return 0, err
		}
	}
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// fileLayer is a layer whose blob sits in an unlinked temporary file.
type fileLayer struct {
	f              *os.File
	compression    Compression
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)     { return l.size, nil }

func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.f, 0, l.size)), nil
}

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	rc, _ := l.Compressed()
	return Decompress(rc)
}

func (l *fileLayer) MediaType() (types.MediaType, error) {
	switch l.compression {
	case Zstd:
		return types.OCILayerZStd, nil
	case None:
		return types.OCIUncompressedLayer, nil
	}
	return types.OCILayer, nil
}
