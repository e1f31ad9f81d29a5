package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
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
