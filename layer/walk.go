package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
)

// Walk calls fn for each entry of the uncompressed tar stream r, with the
// reader of the entry's content, until the end of the archive, an error of
// fn, or the end of ctx. It stops at the archive's end marker and does not
// read what follows it.
func Walk(ctx context.Context, r io.Reader, fn func(h *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
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
// stream r, as Docker counts an image's SIZE. It reads r to its end, so that
// a reader that verifies a digest at the end sees the whole stream.
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
	if _, err := io.Copy(io.Discard, r); err != nil {
		return 0, err
	}
	return n, nil
}
