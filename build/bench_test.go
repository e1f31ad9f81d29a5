package build

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

func benchContext(b *testing.B, size int) string {
	dir := b.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "app"), data, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkBuildHello is FROM scratch + COPY of a 1.6 MB file, no cache.
func BenchmarkBuildHello(b *testing.B) {
	dir := benchContext(b, 1600<<10)
	opts := Options{ContextDir: dir, Dockerfile: []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), TempDir: b.TempDir()}
	b.SetBytes(1600 << 10)
	for b.Loop() {
		if _, err := Build(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildHelloCached is the same build with the step cache warm.
func BenchmarkBuildHelloCached(b *testing.B) {
	dir := benchContext(b, 1600<<10)
	opts := Options{ContextDir: dir, Dockerfile: []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), TempDir: b.TempDir(), CacheDir: b.TempDir()}
	if _, err := Build(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := Build(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.Image.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}
