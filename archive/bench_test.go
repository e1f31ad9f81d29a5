package archive

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tabula-dev/tabula/store"
)

// BenchmarkSave writes a 3-layer, 3 MB image as each format.
func BenchmarkSave(b *testing.B) {
	img, err := random.Image(1<<20, 3)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []Format{Docker, OCI} {
		b.Run(string(f), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := Save(context.Background(), io.Discard, f, []Named{{"bench:1", img}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad loads a 3-layer, 3 MB image from each format into a store.
func BenchmarkLoad(b *testing.B) {
	img, err := random.Image(1<<20, 3)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []Format{Docker, OCI} {
		b.Run(string(f), func(b *testing.B) {
			var buf bytes.Buffer
			if err := Save(context.Background(), &buf, f, []Named{{"bench:1", img}}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			for i := 0; i < b.N; i++ {
				s, err := store.Open(filepath.Join(b.TempDir(), strconv.Itoa(i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Load(context.Background(), bytes.NewReader(buf.Bytes()), s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
