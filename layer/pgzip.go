package layer

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"

	"github.com/klauspost/compress/flate"
)

// gzipBlock is how much uncompressed data each goroutine of blockGzip
// deflates at a time.
const gzipBlock = 256 << 10

// blockGzip writes one gzip member whose deflate stream is made of
// fixed-size blocks compressed on several goroutines: each block is deflated
// with the last 32 KiB of the block before as its dictionary and ends with a
// sync flush, the last with the final bit. The bytes depend only on the input
// and the level, never on the number of CPUs or on scheduling, so layers stay
// reproducible; any gzip reader reads them.
type blockGzip struct {
	w       io.Writer
	level   int
	buf     []byte
	dict    []byte
	crc     uint32
	size    uint32
	started bool
	pending []*gzipPart
	// free holds one slot per goroutine that may deflate at once, each
	// with the writer it last used (nil at first): writers are reused,
	// since each holds a megabyte of tables.
	free chan *flate.Writer
	err  error
}

// gzipPart is one block being deflated.
type gzipPart struct {
	out  bytes.Buffer
	err  error
	done chan struct{}
}

func newBlockGzip(w io.Writer, level int) (*blockGzip, error) {
	// Check the level once, as gzip.NewWriterLevel would.
	if _, err := flate.NewWriter(io.Discard, level); err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	free := make(chan *flate.Writer, n)
	for range n {
		free <- nil
	}
	return &blockGzip{w: w, level: level, free: free, buf: make([]byte, 0, gzipBlock)}, nil
}

func (z *blockGzip) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p))
	for len(p) > 0 {
		c := copy(z.buf[len(z.buf):cap(z.buf)], p)
		z.buf = z.buf[:len(z.buf)+c]
		p = p[c:]
		if len(z.buf) == cap(z.buf) {
			if err := z.dispatch(false); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// dispatch hands the filled buffer to a goroutine and writes out the blocks
// that are done, in order.
func (z *blockGzip) dispatch(final bool) error {
	in := z.buf
	dict := z.dict
	if len(in) >= 32<<10 {
		z.dict = in[len(in)-32<<10:]
	} else {
		z.dict = append(append([]byte(nil), dict...), in...)
		if len(z.dict) > 32<<10 {
			z.dict = z.dict[len(z.dict)-32<<10:]
		}
	}
	z.buf = make([]byte, 0, gzipBlock) // in stays the next block's dictionary
	part := &gzipPart{done: make(chan struct{})}
	z.pending = append(z.pending, part)
	fw := <-z.free
	go func() {
		defer close(part.done)
		part.out.Grow(len(in)/2 + 1024)
		var err error
		if fw == nil {
			fw, err = flate.NewWriterDict(&part.out, z.level, dict)
		} else {
			fw.ResetDict(&part.out, dict)
		}
		if err == nil {
			_, err = fw.Write(in)
		}
		if err == nil {
			if final {
				err = fw.Close()
			} else {
				err = fw.Flush()
			}
		}
		part.err = err
		if err != nil {
			fw = nil
		}
		z.free <- fw
	}()
	// Write out the blocks that are done, in order; wait for the oldest
	// when too many are in flight, and for all at the end.
	for len(z.pending) > 0 {
		head := z.pending[0]
		if !final && len(z.pending) <= cap(z.free) {
			select {
			case <-head.done:
			default:
				return nil
			}
		} else {
			<-head.done
		}
		if head.err != nil {
			z.err = head.err
			return z.err
		}
		if err := z.header(); err != nil {
			return err
		}
		if _, err := z.w.Write(head.out.Bytes()); err != nil {
			z.err = err
			return err
		}
		z.pending = z.pending[1:]
	}
	return nil
}

// header writes the gzip header once: no name, no time, unknown OS, as
// Go's gzip writer writes it.
func (z *blockGzip) header() error {
	if z.started {
		return nil
	}
	z.started = true
	if _, err := z.w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}); err != nil {
		z.err = err
		return err
	}
	return nil
}

// Close deflates the rest, waits for every block and writes the trailer.
func (z *blockGzip) Close() error {
	if z.err != nil {
		return z.err
	}
	if err := z.dispatch(true); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	if _, err := z.w.Write(trailer[:]); err != nil {
		z.err = err
		return err
	}
	z.err = io.ErrClosedPipe
	return nil
}
