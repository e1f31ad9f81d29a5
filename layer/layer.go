package layer

import (
	"context"
	"io"
	"io/fs"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
)

// A File is one entry of a layer being written.
type File struct {
	// Path is slash-separated and relative to the image root ("usr/bin/app");
	// a leading "/" or "./" is dropped, ".." is refused.
	Path string
	// Mode carries the type bits (fs.ModeDir, fs.ModeSymlink, …) and the
	// permissions, including setuid, setgid and sticky.
	Mode     fs.FileMode
	UID, GID int
	// Size of a regular file's content.
	Size int64
	// Linkname is a symlink's target, or for a hard link (Hardlink true) the
	// path of the earlier entry it links to.
	Linkname string
	Hardlink bool
	// Devmajor and Devminor of a character or block device.
	Devmajor, Devminor int64
	// ModTime is written as is; callers normalise it (see Options.Timestamp).
	ModTime time.Time
	// Xattrs are written as PAX SCHILY.xattr records.
	Xattrs map[string]string
	// Open returns a regular file's content; it must yield exactly Size bytes.
	Open func() (io.ReadCloser, error)
}

// Compression names a layer's blob encoding.
type Compression string

const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// Options shape a written layer.
type Options struct {
	// Compression of the blob; the zero value means Gzip.
	Compression Compression
	// Timestamp, when not zero, replaces every entry's ModTime that is after it
	// (SOURCE_DATE_EPOCH semantics); the zero value keeps ModTime as given.
	Timestamp time.Time
}

// WriteTar writes files as an uncompressed tar stream: entries sorted by path,
// each missing parent directory added (0755, root-owned, at the latest ModTime
// given), names, owners and PAX records normalised so the same files always
// give the same bytes.
func WriteTar(ctx context.Context, w io.Writer, files []File, opts Options) error {
	return errdefs.ErrNotImplemented
}

// New returns a layer of files, compressed as opts says. The tar is produced
// once, into a temporary file, so Digest, DiffID and Size are known without
// re-reading the sources.
func New(ctx context.Context, files []File, opts Options) (v1.Layer, error) {
	return nil, errdefs.ErrNotImplemented
}

// Whiteouts says what Extract does with OCI whiteout entries (".wh.NAME" and
// ".wh..wh..opq").
type Whiteouts int

const (
	// ApplyWhiteouts deletes the whited-out paths from dir: for flattening
	// stacked layers into one tree.
	ApplyWhiteouts Whiteouts = iota
	// OverlayWhiteouts converts them to overlayfs form (0/0 character devices,
	// trusted.overlay.opaque="y"): for a layer unpacked as an overlay lower dir.
	OverlayWhiteouts
	// KeepWhiteouts writes them as plain files (for an ADD of a tarball).
	KeepWhiteouts
)

// ExtractOptions shape Extract.
type ExtractOptions struct {
	Whiteouts Whiteouts
	// NoChown leaves files owned by the caller instead of the tar's uid/gid
	// (a non-root caller cannot chown).
	NoChown bool
	// UIDMap, when non-nil, rewrites owners (for --chown on ADD).
	Chown func(uid, gid int) (int, int)
}

// Extract unpacks the uncompressed tar stream r into dir. Every name and
// every link target is resolved inside dir (filepath-securejoin): an entry
// that would land outside, directly or through a symlink written earlier,
// is an error naming the entry, and nothing is written outside dir.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) error {
	return errdefs.ErrNotImplemented
}

// Decompress returns the uncompressed stream of a possibly compressed tar
// (gzip, bzip2, xz, zstd, or none), detected from its first bytes.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	return nil, errdefs.ErrNotImplemented
}
