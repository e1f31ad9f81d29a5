package container

import (
	"context"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BenchmarkCreate measures what tabula run does before the runtime takes
// over: the spec, the /etc files, the writable layer and the record.
func BenchmarkCreate(b *testing.B) {
	c := &Containers{Root: b.TempDir()}
	lower := b.TempDir()
	src := &Source{Ref: "bench", ID: "sha256:bench", Lowers: []string{lower}, Config: v1.Config{Entrypoint: []string{"/app"}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rec, err := c.Create(ctx, src, &Options{StopTimeout: -1, Remove: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := rec.completeSpec(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(c.Dir(rec.ID))
		c.releaseName(trimSlash(rec.Name), rec.ID)
		b.StartTimer()
	}
}
