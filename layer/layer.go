package layer

import (
	"io"
	"io/fs"
	"time"
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
	// GzipLevel is the gzip compression level (1 fastest … 9 smallest); the
	// zero value means the library's default (6).
	GzipLevel int
	// Timestamp, when not zero, replaces every entry's ModTime that is after it
	// (SOURCE_DATE_EPOCH semantics); the zero value keeps ModTime as given.
	Timestamp time.Time
	// TempDir is where New keeps the blob, in a file unlinked at once
	// (os.TempDir() when empty).
	TempDir string
}
