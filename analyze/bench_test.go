package analyze

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/layer"
)

// hostImage makes an image of about limit bytes of this machine's programs
// and libraries, each directory one layer, as tabula pack --add would.
func hostImage(b *testing.B, limit int64) v1.Image {
	b.Helper()
	var layers []v1.Layer
	var total int64
	for _, dir := range []string{"/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var files []layer.File
		share := limit * 6 / 10
		if dir != "/usr/bin" {
			share = limit - total
		}
		var sum int64
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > 20<<20 || sum+fi.Size() > share {
				continue
			}
			sum += fi.Size()
			files = append(files, layer.File{Path: p, Mode: fi.Mode().Perm(), Size: fi.Size(),
				Open: func() (io.ReadCloser, error) { return os.Open(p) }})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		if len(files) == 0 {
			continue
		}
		l, err := layer.New(context.Background(), files, layer.Options{GzipLevel: 2})
		if err != nil {
			b.Fatal(err)
		}
		layers = append(layers, l)
		total += sum
		if total >= limit*95/100 {
			break
		}
	}
	b.Logf("image of %d MB in %d layers", total>>20, len(layers))
	return newImage(b, v1.Config{Entrypoint: []string{"/usr/bin/ls"}}, layers...)
}

// BenchmarkCheckImage100MB is the doctor on a ~100 MB image (target ≤ 1 s).
func BenchmarkCheckImage100MB(b *testing.B) {
	img := hostImage(b, 100<<20)
	b.ResetTimer()
	for b.Loop() {
		r, err := CheckImage(context.Background(), "bench", img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Binaries) == 0 {
			b.Fatal("no binaries checked")
		}
	}
}

func BenchmarkReadBinary(b *testing.B) {
	for name, p := range map[string]string{"go-stripped": goProg(b, "tls", nil, "-ldflags=-s -w"), "c-dynamic": cProg(b)} {
		b.Run(name, func(b *testing.B) {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			for b.Loop() {
				if _, err := ReadBinary(f, fi.Size(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ fs.FS = (*Tree)(nil)

// BenchmarkCheckImageHello is the doctor on the seeds' hello image, as
// tabula build runs it after every build.
func BenchmarkCheckImageHello(b *testing.B) {
	hello := goProg(b, "hello", nil, "-ldflags=-s -w")
	img := newImage(b, v1.Config{Entrypoint: []string{"/app"}}, newLayer(b, hostExe(b, "app", hello)))
	for b.Loop() {
		if _, err := CheckImage(context.Background(), "hello", img, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
