package runtime

import (
	"context"
	"fmt"
	"testing"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// BenchmarkCgroup measures a container's cgroup from creation to removal
// with the default device rules and no limits, as tabula run makes it:
// create, move a thread in and out (the fork of the init), look for
// processes left, remove.
func BenchmarkCgroup(b *testing.B) {
	testenv.RequireRoot(b)
	spec := DefaultSpec()
	i := 0
	for b.Loop() {
		path := fmt.Sprintf("/tabula-bench/%d", i)
		i++
		cg, err := newCgroup(path, spec.Linux.Resources)
		if err != nil {
			b.Fatal(err)
		}
		err = onThrowawayThread(func() error {
			leave, err := cg.enterThread()
			if err == nil {
				leave()
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		dirs, err := cgroupDirs(path)
		if err != nil {
			b.Fatal(err)
		}
		killCgroup(context.Background(), dirs)
		if err := cg.delete(); err != nil {
			b.Fatal(err)
		}
	}
	removeCgroup("/tabula-bench")
}
