package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Walk calls fn for each entry of the uncompressed tar stream r, with the
// reader of the entry's content, until the end of the archive, an error of
// fn, or the end of ctx. After the archive's end marker it reads r to its
// end, so that a reader verifying a digest at the end (the store's blobs)
// sees the whole stream and a corrupted tail is an error.
func Walk(ctx context.Context, r io.Reader, fn func(h *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return fmt.Errorf("read tar: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// ContentSize sums the sizes of the regular files of the uncompressed tar
// stream r, as Docker counts an image's SIZE.
func ContentSize(ctx context.Context, r io.Reader) (int64, error) {
	var n int64
	err := Walk(ctx, r, func(h *tar.Header, _ io.Reader) error {
		if h.Typeflag == tar.TypeReg {
			n += h.Size
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// DiskUsage sums the sizes of the regular files under dir, as Docker counts
// an image's or a layer's size; a missing dir holds nothing.
func DiskUsage(ctx context.Context, dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}
