package layer

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns the uncompressed stream of a possibly compressed tar
// (gzip, bzip2, xz, zstd, or none), detected from its first bytes. Closing
// the result closes r when r is an io.Closer.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read archive header: %w", err)
	}
	closer := func() error {
		if c, ok := r.(io.Closer); ok {
			return c.Close()
		}
		return nil
	}
	var out io.Reader
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readCloser{zr, func() error { zr.Close(); return closer() }}, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return readCloser{zr, func() error { zr.Close(); return closer() }}, nil
	case bytes.HasPrefix(head, magicXz):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		out = xr
	case bytes.HasPrefix(head, magicBzip2):
		out = bzip2.NewReader(br)
	default:
		out = br
	}
	return readCloser{out, closer}, nil
}

// IsCompressed reports whether head, the first bytes of a stream, starts
// with a compression format Decompress knows.
func IsCompressed(head []byte) bool {
	for _, m := range [][]byte{magicGzip, magicZstd, magicXz, magicBzip2} {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
