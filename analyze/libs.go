package analyze

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// triplets are the Debian/Ubuntu multiarch directory names of each arch.
var triplets = map[string]string{
	"amd64":   "x86_64-linux-gnu",
	"386":     "i386-linux-gnu",
	"arm64":   "aarch64-linux-gnu",
	"arm":     "arm-linux-gnueabihf",
	"riscv64": "riscv64-linux-gnu",
	"ppc64le": "powerpc64le-linux-gnu",
	"s390x":   "s390x-linux-gnu",
	"mips":    "mips-linux-gnu",
	"mipsle":  "mipsel-linux-gnu",
	"loong64": "loongarch64-linux-gnu",
}

// muslArch names the arch in musl's loader and path file names.
var muslArch = map[string]string{
	"amd64": "x86_64", "386": "i386", "arm64": "aarch64", "arm": "armhf",
	"riscv64": "riscv64", "ppc64le": "powerpc64le", "s390x": "s390x", "loong64": "loongarch64",
}

// Library is a shared library the loader finds.
type Library struct {
	// Name is the soname asked for (DT_NEEDED).
	Name string `json:"name"`
	// Path is where the loader finds it, in the searched tree.
	Path string `json:"path"`
	// By is the object that needs it.
	By string `json:"by"`
}

// MissingLibrary is a DT_NEEDED entry the loader would not find.
type MissingLibrary struct {
	Name string `json:"name"`
	By   string `json:"by"`
	// Searched are the directories looked in.
	Searched []string `json:"searched,omitempty"`
	// Hint explains a near miss (a library of another arch, a directory
	// only ld.so.cache would make the loader search).
	Hint string `json:"hint,omitempty"`
}

// Resolution is what the loader would do with one dynamic executable.
type Resolution struct {
	// Interp is the loader's path; InterpMissing says it is absent (or not
	// a loader for the binary's machine, InterpProblem then says why).
	Interp        string           `json:"interp,omitempty"`
	InterpMissing bool             `json:"interpMissing,omitempty"`
	InterpProblem string           `json:"interpProblem,omitempty"`
	Libraries     []Library        `json:"libraries,omitempty"`
	Missing       []MissingLibrary `json:"missing,omitempty"`
}

// Loader resolves shared libraries inside one tree (an image, or the host
// with os.DirFS("/")) the way the dynamic loader would there.
type Loader struct {
	fsys fs.ReadLinkFS
	// libraryPath is LD_LIBRARY_PATH from the environment the program gets.
	libraryPath []string
	conf        []string // ld.so.conf directories, read once
	confRead    bool
	hasCache    bool
	binaries    map[string]*Binary
}

// NewLoader returns a loader over fsys; env is the program's environment
// (for LD_LIBRARY_PATH).
func NewLoader(fsys fs.ReadLinkFS, env []string) *Loader {
	l := &Loader{fsys: fsys, binaries: map[string]*Binary{}}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LD_LIBRARY_PATH="); ok {
			l.libraryPath = splitPaths([]string{v})
		}
	}
	return l
}

// rel turns an absolute image path into an fs.FS name.
func rel(p string) string {
	p = cleanName(p)
	if p == "" {
		return "."
	}
	return p
}

// ReadBinaryAt reads the ELF file at the image path p (following symlinks).
func ReadBinaryAt(fsys fs.FS, p string) (*Binary, error) {
	f, err := fsys.Open(rel(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not an executable: %w", p, ErrNotELF)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return nil, fmt.Errorf("%s: the file system gives no random access to its content", p)
	}
	return ReadBinary(ra, fi.Size(), p)
}

// binary reads and caches the ELF file at p; nil when it is not one.
func (l *Loader) binary(p string) *Binary {
	if b, ok := l.binaries[p]; ok {
		return b
	}
	b, err := ReadBinaryAt(l.fsys, p)
	if err != nil {
		b = nil
	}
	l.binaries[p] = b
	return b
}

// readConf reads /etc/ld.so.conf and its includes once.
func (l *Loader) readConf() {
	if l.confRead {
		return
	}
	l.confRead = true
	_, err := fs.Stat(l.fsys, "etc/ld.so.cache")
	l.hasCache = err == nil
	seen := map[string]bool{}
	l.conf = l.confFile("/etc/ld.so.conf", seen, 0)
}

func (l *Loader) confFile(p string, seen map[string]bool, depth int) []string {
	if seen[p] || depth > 8 {
		return nil
	}
	seen[p] = true
	f, err := l.fsys.Open(rel(p))
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' || r == ',' })
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "include":
			for _, pattern := range fields[1:] {
				if !strings.HasPrefix(pattern, "/") {
					pattern = path.Join(path.Dir(p), pattern)
				}
				matches, _ := fs.Glob(l.fsys, rel(pattern))
				for _, m := range matches {
					dirs = append(dirs, l.confFile("/"+m, seen, depth+1)...)
				}
			}
		case "hwcap":
		default:
			for _, d := range fields {
				if strings.HasPrefix(d, "/") {
					dirs = append(dirs, path.Clean(d))
				}
			}
		}
	}
	return dirs
}

// defaultDirs are the directories the loader always searches last.
func defaultDirs(b *Binary, libc Libc) []string {
	if libc == Musl {
		return []string{"/lib", "/usr/local/lib", "/usr/lib"}
	}
	var dirs []string
	if t, ok := triplets[b.Arch]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	if b.Class == "ELF64" {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	} else {
		dirs = append(dirs, "/lib32", "/usr/lib32")
	}
	return append(dirs, "/lib", "/usr/lib")
}

// expandOrigin replaces $ORIGIN and ${ORIGIN} with origin; other dynamic
// string tokens are left, which makes the directory unusable, as they are
// for tabula's purpose.
func expandOrigin(dir, origin string) string {
	dir = strings.ReplaceAll(dir, "${ORIGIN}", origin)
	return strings.ReplaceAll(dir, "$ORIGIN", origin)
}

// compatible reports whether the library at p is an ELF object the loader
// of exe would accept (same class and machine).
func (l *Loader) compatible(p string, exe *Binary) (*Binary, bool) {
	fi, err := fs.Stat(l.fsys, rel(p))
	if err != nil || fi.IsDir() {
		return nil, false
	}
	b := l.binary(p)
	if b == nil {
		return nil, false
	}
	return b, b.Class == exe.Class && b.Machine == exe.Machine
}

// realPath resolves the symlinks of the absolute path p inside fsys, as
// the kernel does for the program it executes; p itself when it cannot.
func realPath(fsys fs.ReadLinkFS, p string) string {
	cur, err := resolveLinks(p, true, func(n string) (fs.FileMode, string, error) {
		fi, err := fs.Lstat(fsys, n)
		if err != nil {
			return 0, "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return fi.Mode(), "", nil
		}
		target, err := fsys.ReadLink(n)
		return fi.Mode(), target, err
	})
	if err != nil {
		return p
	}
	return "/" + cur
}

type object struct {
	path string
	// origin is $ORIGIN: the directory of the program's real path, of a
	// library's path as found.
	origin string
	bin    *Binary
}

// Resolve follows exe's loader and the closure of its DT_NEEDED libraries.
// exePath is the executable's path in the tree (for $ORIGIN).
func (l *Loader) Resolve(exePath string, exe *Binary) Resolution {
	var r Resolution
	if exe.Linking != Dynamic {
		return r
	}
	libc := exe.Libc
	if exe.Interp != "" {
		r.Interp = exe.Interp
		fi, err := fs.Stat(l.fsys, rel(exe.Interp))
		switch {
		case err != nil:
			r.InterpMissing = true
		case fi.IsDir():
			r.InterpMissing, r.InterpProblem = true, "it is a directory"
		default:
			ib := l.binary(exe.Interp)
			if ib == nil {
				r.InterpMissing, r.InterpProblem = true, "it is not an ELF file"
			} else if ib.Machine != exe.Machine || ib.Class != exe.Class {
				r.InterpMissing, r.InterpProblem = true, fmt.Sprintf("it is an %s %s loader, the binary is %s %s", ib.Class, ib.Machine, exe.Class, exe.Machine)
			}
		}
	}
	l.readConf()
	loaded := map[string]bool{}
	// The loader itself provides its soname. A missing loader is reported
	// once, as such, not again as a library that libc or the program
	// (Rust's links it by name) needs.
	if exe.Interp != "" {
		loaded[path.Base(exe.Interp)] = true
		if ib := l.binary(exe.Interp); ib != nil && ib.SOName != "" && !r.InterpMissing {
			loaded[ib.SOName] = true
		}
	}
	// $ORIGIN of the program is the directory of its real path: the
	// loader takes it from the kernel, after symlinks.
	exeObj := object{exePath, path.Dir(realPath(l.fsys, exePath)), exe}
	queue := []object{exeObj}
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		for _, name := range obj.bin.Needed {
			if loaded[name] {
				continue
			}
			loaded[name] = true
			found, searched, hint := l.find(name, obj, exeObj, libc)
			if found == "" {
				r.Missing = append(r.Missing, MissingLibrary{Name: name, By: obj.path, Searched: searched, Hint: hint})
				continue
			}
			r.Libraries = append(r.Libraries, Library{Name: name, Path: found, By: obj.path})
			if b := l.binary(found); b != nil {
				queue = append(queue, object{found, path.Dir(found), b})
			}
		}
	}
	return r
}

// find searches for one needed library in the loader's order.
func (l *Loader) find(name string, obj, exeObj object, libc Libc) (found string, searched []string, hint string) {
	exe := exeObj.bin
	if strings.Contains(name, "/") {
		p := name
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // relative to the working directory, "/" by default
		}
		if _, ok := l.compatible(p, exe); ok {
			return p, nil, ""
		}
		return "", []string{path.Dir(p)}, ""
	}
	origin := obj.origin
	var dirs []string
	add := func(list []string, o string) {
		for _, d := range list {
			dirs = append(dirs, expandOrigin(d, o))
		}
	}
	if libc == Musl {
		add(l.libraryPath, "")
		add(obj.bin.RPath, origin)
		add(obj.bin.RunPath, origin)
		if lines := l.muslPath(exe); lines != nil {
			dirs = append(dirs, lines...)
		} else {
			dirs = append(dirs, defaultDirs(exe, Musl)...)
		}
	} else {
		if len(obj.bin.RunPath) == 0 {
			add(obj.bin.RPath, origin)
			if obj.path != exeObj.path && len(exe.RunPath) == 0 {
				add(exe.RPath, exeObj.origin)
			}
		}
		add(l.libraryPath, "")
		add(obj.bin.RunPath, origin)
		if l.hasCache {
			dirs = append(dirs, l.conf...)
		}
		dirs = append(dirs, defaultDirs(exe, libc)...)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] || !strings.HasPrefix(d, "/") {
			continue
		}
		seen[d] = true
		searched = append(searched, d)
		p := path.Join(d, name)
		b, ok := l.compatible(p, exe)
		if ok {
			return p, searched, ""
		}
		if b != nil && hint == "" {
			hint = fmt.Sprintf("%s is %s %s, the binary is %s %s", p, b.Class, b.Machine, exe.Class, exe.Machine)
		}
	}
	if libc != Musl && !l.hasCache {
		for _, d := range l.conf {
			if _, ok := l.compatible(path.Join(d, name), exe); ok {
				return "", searched, fmt.Sprintf("%s is in %s, listed in /etc/ld.so.conf, but the image has no /etc/ld.so.cache, so the loader does not search there (run ldconfig, or set LD_LIBRARY_PATH)", name, d)
			}
		}
	}
	return "", searched, hint
}

// muslPath reads /etc/ld-musl-ARCH.path, the directories musl's loader
// searches instead of its defaults.
func (l *Loader) muslPath(exe *Binary) []string {
	a, ok := muslArch[exe.Arch]
	if !ok {
		return nil
	}
	data, err := fs.ReadFile(l.fsys, rel("/etc/ld-musl-"+a+".path"))
	if err != nil {
		return nil
	}
	return strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' || r == ':' })
}
