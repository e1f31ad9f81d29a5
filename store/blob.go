package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
)

// blobPath is where the blob with digest h lives.
func (s *Store) blobPath(h v1.Hash) (string, error) {
	if err := validHash(h); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex), nil
}

func validHash(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return fmt.Errorf("digest %q: want sha256 with 64 hex digits: %w", h.String(), errdefs.ErrInvalidArgument)
	}
	if _, err := hex.DecodeString(h.Hex); err != nil {
		return fmt.Errorf("digest %q: not hexadecimal: %w", h.String(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// hasBlob reports whether the blob is committed with the given size.
func (s *Store) hasBlob(h v1.Hash, size int64) bool {
	p, err := s.blobPath(h)
	if err != nil {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// ingest writes r to a temporary file under <dir>/ingest, checks that it
// has exactly size bytes (size < 0: any) and the digest want, flushes it to
// disk and renames it into blobs/. Readers never see a partial blob; a crash
// leaves only a temporary file that GC removes.
func (s *Store) ingest(ctx context.Context, want v1.Hash, size int64, r io.Reader) error {
	dst, err := s.blobPath(want)
	if err != nil {
		return err
	}
	if size >= 0 && s.hasBlob(want, size) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "ingest"), want.Hex+"-*")
	if err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("store blob %s: got %d bytes, the descriptor says %d: %w", want, n, size, errdefs.ErrCorrupt)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("store blob %s: content has digest sha256:%s: %w", want, got, errdefs.ErrCorrupt)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("store blob %s: %w", want, err)
	}
	committed = true
	return nil
}

// ingestBytes stores b as a blob and returns its digest.
func (s *Store) ingestBytes(ctx context.Context, b []byte) (v1.Hash, error) {
	sum := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	return h, s.ingest(ctx, h, int64(len(b)), bytes.NewReader(b))
}

// openBlob opens a committed blob whose reads are verified against digest
// and, when size >= 0, size.
func (s *Store) openBlob(digest v1.Hash, size int64) (io.ReadCloser, error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return nil, err
	}
	f, err := sysfile.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s is missing from %s: %w", digest, s.dir, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", digest, err)
	}
	return &verifiedReader{f: f, path: p, want: digest, size: size, h: sha256.New()}, nil
}

// readBlob reads a whole (small) blob, verified.
func (s *Store) readBlob(digest v1.Hash, size int64) ([]byte, error) {
	rc, err := s.openBlob(digest, size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Blob opens a blob by digest; the reader fails at EOF when the content
// does not match the digest.
func (s *Store) Blob(ctx context.Context, digest v1.Hash) (io.ReadCloser, error) {
	return s.openBlob(digest, -1)
}

// verifiedReader hashes what it reads and, at EOF, turns a digest or size
// mismatch into an error wrapping errdefs.ErrCorrupt instead of io.EOF.
type verifiedReader struct {
	f    *os.File
	path string
	want v1.Hash
	size int64
	n    int64
	h    hash.Hash
	err  error
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = fmt.Errorf("blob %s (%s) is longer than %d bytes: %w", v.want, v.path, v.size, errdefs.ErrCorrupt)
		return n, v.err
	}
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			v.err = fmt.Errorf("blob %s (%s) has %d bytes, want %d: %w", v.want, v.path, v.n, v.size, errdefs.ErrCorrupt)
			return n, v.err
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			v.err = fmt.Errorf("blob %s (%s) has digest sha256:%s: the store is corrupt; run `tabula system check`: %w", v.want, v.path, got, errdefs.ErrCorrupt)
			return n, v.err
		}
		v.err = io.EOF
	}
	return n, err
}

func (v *verifiedReader) Close() error { return v.f.Close() }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
