package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/testenv"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveUser(t *testing.T) {
	base := t.TempDir()
	lower := filepath.Join(base, "lower")
	top := filepath.Join(base, "top")
	writeTree(t, lower, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nold:x:3000:3000::/old:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nwheel:x:10:app\n",
	})
	// The top layer replaces /etc/passwd: "old" is gone, "new" appears.
	writeTree(t, top, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnew:x:4000:4001::/new:/bin/sh\n",
	})
	read := layersReader([]string{lower, top})
	for _, tt := range []struct {
		spec       string
		uid, gid   uint32
		extra      string
		home       string
		errSays    string
		errInvalid bool
	}{
		{spec: "", uid: 0, gid: 0, extra: "[]", home: "/root"},
		{spec: "app", uid: 1000, gid: 1000, extra: "[2000 10]", home: "/home/app"},
		{spec: "app:extra", uid: 1000, gid: 2000, extra: "[10]", home: "/home/app"},
		{spec: "1000", uid: 1000, gid: 1000, extra: "[2000 10]", home: "/home/app"},
		{spec: "65532:65532", uid: 65532, gid: 65532, extra: "[]", home: "/"},
		{spec: "65532", uid: 65532, gid: 0, extra: "[]", home: "/"},
		{spec: "new", uid: 4000, gid: 4001, extra: "[]", home: "/new"},
		{spec: "old", errSays: `user "old": no such user`, errInvalid: true},
		{spec: "app:nogroup", errSays: `group "nogroup": no such group`, errInvalid: true},
	} {
		u, home, err := resolveUser(tt.spec, read)
		if tt.errSays != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errSays) || errors.Is(err, errdefs.ErrInvalidArgument) != tt.errInvalid {
				t.Errorf("resolveUser(%q): %v, want an error saying %s", tt.spec, err, tt.errSays)
			}
			continue
		}
		if err != nil {
			t.Errorf("resolveUser(%q): %v", tt.spec, err)
			continue
		}
		extra := fmt.Sprint(u.AdditionalGids)
		if u.UID != tt.uid || u.GID != tt.gid || extra != tt.extra || home != tt.home {
			t.Errorf("resolveUser(%q) = %d:%d %s home %s, want %d:%d %s home %s", tt.spec, u.UID, u.GID, extra, home, tt.uid, tt.gid, tt.extra, tt.home)
		}
	}
}

func TestResolveUserWithoutPasswd(t *testing.T) {
	read := layersReader([]string{t.TempDir()})
	if u, _, err := resolveUser("65532:65532", read); err != nil || u.UID != 65532 || u.GID != 65532 {
		t.Errorf("numeric user without /etc/passwd: %+v %v", u, err)
	}
	_, _, err := resolveUser("app", read)
	if err == nil || !strings.Contains(err.Error(), "has no /etc/passwd") || !strings.Contains(err.Error(), "-u 65532:65532") {
		t.Errorf("named user without /etc/passwd: %v", err)
	}
	if _, _, err := resolveUser("0:staff", read); err == nil || !strings.Contains(err.Error(), "no /etc/group") {
		t.Errorf("named group without /etc/group: %v", err)
	}
}

// TestResolveUserStaysInside: an image whose /etc/passwd (or /etc) is a
// symlink out of its layer must not read the host's files.
func TestResolveUserStaysInside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "host")
	writeTree(t, outside, map[string]string{"passwd": "evil:x:0:0::/:/bin/sh\n"})
	for name, tree := range map[string]map[string]string{
		"absolute file link": {"etc/passwd": "->" + filepath.Join(outside, "passwd")},
		"relative file link": {"etc/passwd": "->../../../../../../../../" + filepath.Join(outside, "passwd")},
		"absolute dir link":  {"etc": "->" + outside},
	} {
		layer := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
		writeTree(t, layer, tree)
		if u, _, err := resolveUser("evil", layersReader([]string{layer})); err == nil {
			t.Errorf("%s: user evil resolved to %+v from outside the layer", name, u)
		}
	}
}

func TestLayersReaderWhiteout(t *testing.T) {
	testenv.RequireRoot(t)
	lower, top := t.TempDir(), t.TempDir()
	writeTree(t, lower, map[string]string{"etc/passwd": "app:x:1:1::/:/bin/sh\n"})
	os.MkdirAll(filepath.Join(top, "etc"), 0o755)
	if err := mknodWhiteout(filepath.Join(top, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolveUser("app", layersReader([]string{lower, top})); err == nil || !strings.Contains(err.Error(), "has no /etc/passwd") {
		t.Errorf("a whited-out /etc/passwd was read: %v", err)
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/sh\n", "root:x:0:a,b\n")
	f.Add("::::::\n#x\n", ":::\n")
	f.Fuzz(func(t *testing.T, passwd, group string) {
		read := func(name string) ([]byte, error) {
			if name == "/etc/passwd" {
				return []byte(passwd), nil
			}
			return []byte(group), nil
		}
		for _, e := range parsePasswd([]byte(passwd)) {
			u, _, err := resolveUser(e.name, read)
			if err == nil && e.name != "" && !strings.Contains(e.name, ":") && u.UID != e.uid && !isNumber(e.name) {
				t.Errorf("user %q resolved to uid %d, its entry says %d", e.name, u.UID, e.uid)
			}
		}
		parseGroup([]byte(group))
	})
}

func isNumber(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
