package layer

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand"
	"runtime"
	"testing"
)

// blockGzipBytes compresses data with blockGzip, written in chunks of step.
func blockGzipBytes(t testing.TB, data []byte, level, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	z, err := newBlockGzip(&out, level)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(step, len(p))
		if _, err := z.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestBlockGzip: what blockGzip writes is one gzip member that the standard
// library reads back, and its bytes do not depend on the number of CPUs or
// on how the input was split into writes.
func TestBlockGzip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	text := bytes.Repeat([]byte("a layer of a scratch image, compressible. "), 30000)
	for _, size := range []int{0, 1, gzipBlock - 1, gzipBlock, gzipBlock + 1, 3*gzipBlock + 7, len(text)} {
		data := text[:min(size, len(text))]
		if size > len(text) {
			t.Fatal("size")
		}
		noise := make([]byte, size)
		rng.Read(noise)
		for _, in := range [][]byte{data, noise} {
			want := blockGzipBytes(t, in, 2, 1<<20)
			zr, err := gzip.NewReader(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("size %d: read back %d bytes, %v", size, len(got), err)
			}
			prev := runtime.GOMAXPROCS(1)
			one := blockGzipBytes(t, in, 2, 4093)
			runtime.GOMAXPROCS(prev)
			if !bytes.Equal(one, want) {
				t.Fatalf("size %d: the bytes depend on GOMAXPROCS or on the writes", size)
			}
		}
	}
	// Compressible input compresses: the dictionary carries over blocks.
	if n := len(blockGzipBytes(t, text, 2, 1<<20)); n > len(text)/50 {
		t.Errorf("%d bytes of repeated text compress to %d", len(text), n)
	}
}

func BenchmarkBlockGzip(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 80000)
	rand.New(rand.NewSource(2)).Read(data[:len(data)/3])
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		z, _ := newBlockGzip(io.Discard, 2)
		z.Write(data)
		z.Close()
	}
}
