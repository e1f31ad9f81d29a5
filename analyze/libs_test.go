package analyze

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tabula-dev/tabula/internal/testenv"
)

func hostFS(t testing.TB) fs.ReadLinkFS {
	t.Helper()
	fsys, ok := os.DirFS("/").(fs.ReadLinkFS)
	if !ok {
		t.Fatal("os.DirFS does not implement fs.ReadLinkFS")
	}
	return fsys
}

var lddLine = regexp.MustCompile(`^\s*(\S+) => (\S+) \(0x`)

// TestLoaderMatchesLdd resolves host programs' libraries and compares them
// with what ldd (the real loader) says.
func TestLoaderMatchesLdd(t *testing.T) {
	testenv.RequireCommand(t, "ldd")
	progs := []string{cProg(t), "/usr/bin/ls", "/usr/bin/tar", "/usr/bin/file", "/usr/bin/gcc", "/usr/bin/skopeo", "/usr/bin/runc"}
	loader := NewLoader(hostFS(t), nil)
	checked := 0
	for _, p := range progs {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		b := readFile(t, p)
		if b.Linking != Dynamic {
			continue
		}
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", p, err)
		}
		want := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if m := lddLine.FindStringSubmatch(l); m != nil {
				real, _ := filepath.EvalSymlinks(m[2])
				want[m[1]] = real
			}
		}
		res := loader.Resolve(p, b)
		if res.InterpMissing || len(res.Missing) > 0 {
			t.Errorf("%s: loader missing %v, libraries missing %+v", p, res.InterpMissing, res.Missing)
		}
		got := map[string]string{}
		for _, l := range res.Libraries {
			real, _ := filepath.EvalSymlinks(l.Path)
			got[l.Name] = real
		}
		for name, path := range want {
			if got[name] != path {
				t.Errorf("%s: %s resolves to %q, ldd says %q", p, name, got[name], path)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok && !strings.HasPrefix(name, "ld-linux") {
				t.Errorf("%s: resolved %s, which ldd does not list", p, name)
			}
		}
		checked++
	}
	if checked < 2 {
		t.Fatalf("only %d dynamic programs checked", checked)
	}
}

// libTree returns a tree with the host's loader at /lib64 and a copy of the
// given host file set.
func libTree(t *testing.T, files map[string]string) *Tree {
	t.Helper()
	tree := NewTree()
	for dst, src := range files {
		if err := tree.AddHostFile(dst, src); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestLoaderInTree(t *testing.T) {
	testenv.Require(t, HostArch() == "amd64", "the table names x86-64 directories")
	exePath := cProg(t)
	exe := readFile(t, exePath)
	host := NewLoader(hostFS(t), nil).Resolve(exePath, exe)
	var libc string
	for _, l := range host.Libraries {
		if l.Name == "libc.so.6" {
			libc = l.Path
		}
	}
	if libc == "" || host.InterpMissing {
		t.Fatalf("host resolution: %+v", host)
	}
	arm := goProg(t, "hello", []string{"GOARCH=arm64"})
	interp := exe.Interp
	withFoo := *exe
	withFoo.Needed = []string{"libfoo.so.1", "libc.so.6"}
	// Rust programs name the loader among their libraries.
	needsLoader := *exe
	needsLoader.Needed = []string{"libgcc_s.so.1", "libc.so.6", path.Base(interp)}
	withRunpath := withFoo
	withRunpath.RunPath = []string{"$ORIGIN/../lib"}

	tests := []struct {
		name     string
		bin      *Binary
		files    map[string]string
		extra    func(*Tree)
		env      []string
		found    map[string]string // soname → path
		missing  []string
		hint     string
		noInterp bool
	}{
		{name: "default dirs", bin: exe,
			files: map[string]string{interp: interp, "/lib/x86_64-linux-gnu/libc.so.6": libc},
			found: map[string]string{"libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}},
		{name: "lib64", bin: exe,
			files: map[string]string{interp: interp, "/usr/lib64/libc.so.6": libc},
			found: map[string]string{"libc.so.6": "/usr/lib64/libc.so.6"}},
		{name: "nothing", bin: exe, noInterp: true, missing: []string{"libc.so.6"}},
		{name: "runpath origin", bin: &withRunpath,
			files: map[string]string{interp: interp, "/usr/lib/libc.so.6": libc, "/app/lib/libfoo.so.1": libc},
			found: map[string]string{"libfoo.so.1": "/app/lib/libfoo.so.1", "libc.so.6": "/usr/lib/libc.so.6"}},
		{name: "ld.so.conf with cache", bin: &withFoo,
			files: map[string]string{interp: interp, "/usr/lib/libc.so.6": libc, "/opt/lib/libfoo.so.1": libc},
			extra: func(tr *Tree) {
				addText(tr, "/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
				addText(tr, "/etc/ld.so.conf.d/opt.conf", "# opt\n/opt/lib\n")
				addText(tr, "/etc/ld.so.cache", "cache")
			},
			found: map[string]string{"libfoo.so.1": "/opt/lib/libfoo.so.1"}},
		{name: "ld.so.conf without cache", bin: &withFoo,
			files:   map[string]string{interp: interp, "/usr/lib/libc.so.6": libc, "/opt/lib/libfoo.so.1": libc},
			extra:   func(tr *Tree) { addText(tr, "/etc/ld.so.conf", "/opt/lib\n") },
			missing: []string{"libfoo.so.1"}, hint: "ld.so.cache"},
		{name: "LD_LIBRARY_PATH", bin: &withFoo, env: []string{"LD_LIBRARY_PATH=/x:/opt/lib"},
			files: map[string]string{interp: interp, "/usr/lib/libc.so.6": libc, "/opt/lib/libfoo.so.1": libc},
			found: map[string]string{"libfoo.so.1": "/opt/lib/libfoo.so.1"}},
		{name: "wrong arch skipped", bin: exe,
			files: map[string]string{interp: interp, "/lib/x86_64-linux-gnu/libc.so.6": arm, "/usr/lib/libc.so.6": libc},
			found: map[string]string{"libc.so.6": "/usr/lib/libc.so.6"}},
		{name: "wrong arch only", bin: exe,
			files:   map[string]string{interp: interp, "/lib/x86_64-linux-gnu/libc.so.6": arm},
			missing: []string{"libc.so.6"}, hint: "EM_AARCH64"},
		{name: "loader of another arch", bin: exe, noInterp: true,
			files: map[string]string{interp: arm, "/usr/lib/libc.so.6": libc},
			found: map[string]string{"libc.so.6": "/usr/lib/libc.so.6"}},
		{name: "loader needed by name, missing", bin: &needsLoader, noInterp: true,
			files:   map[string]string{"/usr/lib/libgcc_s.so.1": libc},
			missing: []string{"libc.so.6"}},
		{name: "loader needed by name", bin: &needsLoader,
			files: map[string]string{interp: interp, "/usr/lib/libgcc_s.so.1": libc, "/usr/lib/libc.so.6": libc},
			found: map[string]string{"libgcc_s.so.1": "/usr/lib/libgcc_s.so.1", "libc.so.6": "/usr/lib/libc.so.6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := libTree(t, tt.files)
			if tt.extra != nil {
				tt.extra(tree)
			}
			res := NewLoader(tree, tt.env).Resolve("/app/bin/x", tt.bin)
			if res.InterpMissing != tt.noInterp {
				t.Errorf("interp missing %v (%s), want %v", res.InterpMissing, res.InterpProblem, tt.noInterp)
			}
			got := map[string]string{}
			for _, l := range res.Libraries {
				got[l.Name] = l.Path
			}
			for name, p := range tt.found {
				if got[name] != p {
					t.Errorf("%s found at %q, want %q", name, got[name], p)
				}
			}
			var missing []string
			hints := ""
			for _, m := range res.Missing {
				missing = append(missing, m.Name)
				hints += m.Hint
			}
			if strings.Join(missing, ",") != strings.Join(tt.missing, ",") {
				t.Errorf("missing %v, want %v", missing, tt.missing)
			}
			if !strings.Contains(hints, tt.hint) {
				t.Errorf("hints %q, want one mentioning %q", hints, tt.hint)
			}
		})
	}
}

func TestLoaderMusl(t *testing.T) {
	testenv.Require(t, HostArch() == "amd64", "the test names x86-64 files")
	exe := readFile(t, cProg(t))
	libc := NewLoader(hostFS(t), nil).Resolve(cProg(t), exe).Libraries[0].Path
	m := *exe
	m.Libc = Musl
	m.Interp = "/lib/ld-musl-x86_64.so.1"
	m.Needed = []string{"libz.so.1"}
	tree := libTree(t, map[string]string{m.Interp: exe.Interp, "/custom/libz.so.1": libc, "/usr/lib/libz.so.1": libc})
	if res := NewLoader(tree, nil).Resolve("/x", &m); len(res.Missing) != 0 || res.Libraries[0].Path != "/usr/lib/libz.so.1" {
		t.Errorf("musl default dirs: %+v", res)
	}
	addText(tree, "/etc/ld-musl-x86_64.path", "/custom\n")
	if res := NewLoader(tree, nil).Resolve("/x", &m); len(res.Missing) != 0 || res.Libraries[0].Path != "/custom/libz.so.1" {
		t.Errorf("musl path file: %+v", res)
	}
}

func addText(t *Tree, p, s string) {
	t.AddFile(p, 0o644, int64(len(s)), func() (ReadAtCloser, error) { return bytesAt(s), nil })
}

// TestLoaderOriginOfLinkedProgram: $ORIGIN of a program started through a
// symlink is the directory of the file the link leads to, as for
// /usr/bin/java → /usr/lib/jvm/…/bin/java with RUNPATH $ORIGIN/../lib.
func TestLoaderOriginOfLinkedProgram(t *testing.T) {
	testenv.Require(t, HostArch() == "amd64", "the test names x86-64 files")
	exePath := cProg(t)
	exe := readFile(t, exePath)
	libc := NewLoader(hostFS(t), nil).Resolve(exePath, exe).Libraries[0].Path
	app := *exe
	app.Needed = []string{"libjli.so", "libc.so.6"}
	app.RunPath = []string{"$ORIGIN/../lib"}
	tree := libTree(t, map[string]string{exe.Interp: exe.Interp, "/usr/lib/libc.so.6": libc,
		"/opt/jdk/bin/java": exePath, "/opt/jdk/lib/libjli.so": libc})
	tree.AddSymlink("/etc/alternatives/java", "/opt/jdk/bin/java")
	tree.AddSymlink("/usr/bin/java", "../../etc/alternatives/java")
	res := NewLoader(tree, nil).Resolve("/usr/bin/java", &app)
	if len(res.Missing) != 0 || len(res.Libraries) != 2 || res.Libraries[0].Path != "/opt/jdk/lib/libjli.so" || res.Libraries[0].By != "/usr/bin/java" {
		t.Errorf("through the symlink: %+v", res)
	}
	if got := realPath(tree, "/usr/bin/java"); got != "/opt/jdk/bin/java" {
		t.Errorf("realPath %q", got)
	}
	for _, p := range []string{"/no/such", "/usr/bin/../bin/java/x"} {
		if got := realPath(tree, p); got != p {
			t.Errorf("realPath(%s) = %q, want it unchanged", p, got)
		}
	}
}
