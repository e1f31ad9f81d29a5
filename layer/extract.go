package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/tabula-dev/tabula/errdefs"
)

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

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ExtractOptions shape Extract.
type ExtractOptions struct {
	Whiteouts Whiteouts
	// NoChown leaves files owned by the caller instead of the tar's uid/gid
	// (a non-root caller cannot chown).
	NoChown bool
	// Chown, when non-nil, rewrites owners (for --chown on ADD).
	Chown func(uid, gid int) (int, int)
}

// Extract unpacks the uncompressed tar stream r into dir, which must exist.
// Entry names that are absolute or climb out with ".." are refused with an
// error naming the entry. Parent directories are resolved inside dir
// (filepath-securejoin), as if dir were the root, so a symlink in the tar,
// whatever it points at, never leads a later entry outside dir; hard links
// must name entries inside dir.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	x := &extractor{root: root, opts: opts, written: map[string]bool{}}
	err = Walk(ctx, r, func(h *tar.Header, content io.Reader) error {
		if err := x.entry(h, content); err != nil {
			return fmt.Errorf("extract %q: %w", h.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directory times last: creating their contents changed them.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := lutimes(x.dirs[i].path, x.dirs[i].mtime); err != nil {
			return fmt.Errorf("set time of %s: %w", x.dirs[i].path, err)
		}
	}
	return nil
}

type dirTime struct {
	path  string
	mtime time.Time
}

type extractor struct {
	root    string
	opts    ExtractOptions
	written map[string]bool // entries of this archive, by clean path
	dirs    []dirTime
	buf     []byte // writeFile's, made for the first file that needs it
}

// entryPath checks a tar name and returns it clean and relative.
func entryPath(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path in archive: %w", errdefs.ErrInvalidArgument)
	}
	if !insideRoot(name) {
		return "", fmt.Errorf("path climbs out of the archive root with \"..\": %w", errdefs.ErrInvalidArgument)
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// resolve returns the host path of the layer path p: its parent resolved
// inside the root, its last element not followed.
func (x *extractor) resolve(p string) (string, error) {
	parent, err := securejoin.SecureJoin(x.root, path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(p)), nil
}

func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	p, err := entryPath(h.Name)
	if err != nil {
		return err
	}
	if p == "" {
		return nil // the root directory itself
	}
	base := path.Base(p)
	if strings.HasPrefix(base, whiteoutPrefix) && x.opts.Whiteouts != KeepWhiteouts {
		return x.whiteout(p)
	}
	target, err := x.resolve(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := x.clear(target, h.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	mode := h.FileInfo().Mode()
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case tar.TypeReg:
		if err := x.writeFile(target, r, h.Size); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(h.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		lp, err := entryPath(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		src, err := x.resolve(lp)
		if err != nil {
			return err
		}
		if err := os.Link(src, target); err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if err := mknod(target, h.Typeflag, h.Devmajor, h.Devminor); err != nil {
			return err
		}
	default:
		return nil // global headers and the like carry no file
	}
	x.written[p] = true
	if h.Typeflag == tar.TypeLink {
		return nil // the inode's owner, mode and times are its first entry's
	}
	if err := x.chown(target, h); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeSymlink {
		if err := os.Chmod(target, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := setXattr(target, name, v); err != nil {
				return fmt.Errorf("set xattr %s: %w", name, err)
			}
		}
	}
	if h.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{target, h.ModTime})
		return nil
	}
	return lutimes(target, h.ModTime)
}

// clear removes what stands at target unless both it and the new entry are
// directories (a directory entry then only updates the existing one).
func (x *extractor) clear(target string, dir bool) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if dir && fi.IsDir() {
		return nil
	}
	return os.RemoveAll(target)
}

func (x *extractor) chown(target string, h *tar.Header) error {
	if x.opts.NoChown {
		return nil
	}
	uid, gid := h.Uid, h.Gid
	if x.opts.Chown != nil {
		uid, gid = x.opts.Chown(uid, gid)
	}
	return os.Lchown(target, uid, gid)
}

// whiteout handles the whiteout entry p.
func (x *extractor) whiteout(p string) error {
	parent, err := securejoin.SecureJoin(x.root, path.Dir(p))
	if err != nil {
		return err
	}
	base := path.Base(p)
	if base == whiteoutOpaque {
		if x.opts.Whiteouts == OverlayWhiteouts {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return err
			}
			return setXattr(parent, "trusted.overlay.opaque", "y")
		}
		// Hide what lower layers put in the directory, keep this layer's own.
		entries, err := os.ReadDir(parent)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		dirPath := path.Dir(p)
		for _, e := range entries {
			if !x.written[path.Join(dirPath, e.Name())] {
				if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("whiteout of %q: %w", name, errdefs.ErrInvalidArgument)
	}
	target := filepath.Join(parent, name)
	if x.opts.Whiteouts == OverlayWhiteouts {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := x.clear(target, false); err != nil {
			return err
		}
		return mknod(target, tar.TypeChar, 0, 0)
	}
	return os.RemoveAll(target)
}

// writeSize is the most writeFile writes at once. The page cache keeps a
// file in folios as large as the writes that filled it (ext4 too, from
// Linux 6.16), and the kernel maps, and at exit unmaps, a folio at a time:
// a 1.6 MB program written in 1 MiB writes starts 0.1 ms sooner than one
// written as io.Copy goes, by the 32 KiB or less that each read of a
// decompressed layer returns.
const writeSize = 1 << 20

// writeFile creates target, which must not exist, with r's content, size
// bytes as the tar header says, in writes of up to writeSize.
func (x *extractor) writeFile(target string, r io.Reader, size int64) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if len(x.buf) < int(min(size, writeSize)) {
		x.buf = make([]byte, min(max(size, 64<<10), writeSize))
	}
	for size > 0 {
		n, err := io.ReadFull(r, x.buf[:min(size, int64(len(x.buf)))])
		if err == nil {
			_, err = f.Write(x.buf[:n])
		}
		if err != nil {
			f.Close()
			return err
		}
		size -= int64(n)
	}
	return f.Close()
}
