package container

import (
	"os"
	"path/filepath"
	"testing"
)

// removeDir removes what Create, Run and a volatile overlay leave in a
// container's directory, and anything else found there.
func TestRemoveDir(t *testing.T) {
	for name, extra := range map[string][]string{
		"as made":                  nil,
		"a filled upper directory": {"upper/etc/conf", "upper/var/lib/x/y"},
		"unknown entries":          {"work/work/other/file", ".tmp-state.json-1", "logs/old"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			for _, f := range append([]string{"config.json", "hostname", "hosts", "resolv.conf", "state.json", "work/work/incompat/volatile/dirty"}, extra...) {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{"rootfs", "upper"} {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
			}
			if err := removeDir(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(dir); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", dir, err)
			}
			if err := removeDir(dir); err != nil {
				t.Errorf("removing it again: %v; want nil", err)
			}
		})
	}
}
