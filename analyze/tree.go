package analyze

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Tree is a read-only file tree held as an index of entries whose content is
// read on demand: the flattened layers of an image, or the files a pack
// would write. It implements fs.ReadLinkFS (so fs.StatFS and
// fs.ReadDirFS too); Open and Stat follow symlinks inside the tree, an
// absolute target meaning the tree's root, as inside a container.
type Tree struct {
	entries map[string]*treeEntry
}

type treeEntry struct {
	name    string // clean, relative, "" for the root
	mode    fs.FileMode
	size    int64
	link    string
	modTime time.Time
	uid     int
	gid     int
	// content opens a regular file's bytes.
	content func() (ReadAtCloser, error)
}

// ReadAtCloser is a file's content with random access.
type ReadAtCloser interface {
	io.ReaderAt
	io.Closer
}

// NewTree returns an empty tree (a root directory only).
func NewTree() *Tree {
	t := &Tree{entries: map[string]*treeEntry{}}
	t.entries[""] = &treeEntry{mode: fs.ModeDir | 0o755}
	return t
}

// cleanName turns an image path ("/usr/bin/x", "./etc") into the tree's key.
func cleanName(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// addParents creates missing parent directories of name.
func (t *Tree) addParents(name string) {
	for d := path.Dir(name); d != "." && d != ""; d = path.Dir(d) {
		if _, ok := t.entries[d]; ok {
			return
		}
		t.entries[d] = &treeEntry{name: d, mode: fs.ModeDir | 0o755}
	}
}

// AddFile adds a regular file of size bytes at p whose content open returns.
func (t *Tree) AddFile(p string, mode fs.FileMode, size int64, open func() (ReadAtCloser, error)) {
	n := cleanName(p)
	t.addParents(n)
	t.entries[n] = &treeEntry{name: n, mode: mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), size: size, content: open}
}

// AddHostFile adds the host file src at p, read when the tree is read.
func (t *Tree) AddHostFile(p, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", src)
	}
	t.AddFile(p, fi.Mode(), fi.Size(), func() (ReadAtCloser, error) { return os.Open(src) })
	return nil
}

// AddDir adds a directory at p.
func (t *Tree) AddDir(p string, mode fs.FileMode) {
	n := cleanName(p)
	t.addParents(n)
	if e, ok := t.entries[n]; ok && e.mode.IsDir() {
		e.mode = fs.ModeDir | mode.Perm()
		return
	}
	t.entries[n] = &treeEntry{name: n, mode: fs.ModeDir | mode.Perm()}
}

// AddSymlink adds a symlink at p pointing at target.
func (t *Tree) AddSymlink(p, target string) {
	n := cleanName(p)
	t.addParents(n)
	t.entries[n] = &treeEntry{name: n, mode: fs.ModeSymlink | 0o777, link: target}
}

// Remove deletes p and everything under it.
func (t *Tree) Remove(p string) {
	n := cleanName(p)
	if n == "" {
		t.removeChildren("")
		return
	}
	delete(t.entries, n)
	t.removeChildren(n)
}

func (t *Tree) removeChildren(dir string) {
	prefix := dir + "/"
	for k := range t.entries {
		if dir == "" && k != "" || strings.HasPrefix(k, prefix) {
			delete(t.entries, k)
		}
	}
}

// Walk calls fn for every entry, in path order, with its image path
// ("/usr/bin/x") and Lstat information.
func (t *Tree) Walk(fn func(p string, fi fs.FileInfo) error) error {
	names := make([]string, 0, len(t.entries))
	for k := range t.entries {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := fn("/"+n, fileInfo{t.entries[n]}); err != nil {
			return err
		}
	}
	return nil
}

// maxLinks bounds the symlinks followed in one lookup, as the kernel does.
const maxLinks = 40

// errLoop is a lookup through too many symlinks.
var errLoop = errors.New("too many levels of symbolic links")

// lookup resolves name inside the tree; follow says whether the last element
// is followed when it is a symlink.
func (t *Tree) lookup(name string, follow bool) (*treeEntry, error) {
	cur, err := resolveLinks(name, follow, func(n string) (fs.FileMode, string, error) {
		e, ok := t.entries[n]
		if !ok {
			return 0, "", fs.ErrNotExist
		}
		return e.mode, e.link, nil
	})
	if err != nil {
		return nil, err
	}
	return t.entries[cur], nil
}

// resolveLinks resolves the symlinks along name, as the kernel does, and
// returns the clean path it leads to, without a leading slash. lstat tells
// the mode of an element (and its target when it is a symlink); follow says
// whether the last element is followed when it is a symlink.
func resolveLinks(name string, follow bool, lstat func(name string) (fs.FileMode, string, error)) (string, error) {
	rest := strings.Split(cleanName(name), "/")
	cur := ""
	links := 0
	for len(rest) > 0 {
		el := rest[0]
		rest = rest[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			cur = parentName(cur)
			continue
		}
		next := joinName(cur, el)
		mode, link, err := lstat(next)
		if err != nil {
			return "", err
		}
		if mode&fs.ModeSymlink != 0 && (len(rest) > 0 || follow) {
			links++
			if links > maxLinks {
				return "", errLoop
			}
			if strings.HasPrefix(link, "/") {
				cur = ""
			}
			rest = append(strings.Split(link, "/"), rest...)
			continue
		}
		if len(rest) > 0 && !mode.IsDir() {
			return "", fmt.Errorf("%s: not a directory", next)
		}
		cur = next
	}
	return cur, nil
}

func parentName(n string) string {
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		return n[:i]
	}
	return ""
}

func joinName(dir, el string) string {
	if dir == "" {
		return el
	}
	return dir + "/" + el
}

func (t *Tree) fsName(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "", nil
	}
	return name, nil
}

// Open opens name, following symlinks inside the tree.
func (t *Tree) Open(name string) (fs.File, error) {
	n, err := t.fsName("open", name)
	if err != nil {
		return nil, err
	}
	e, err := t.lookup(n, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := &treeFile{t: t, e: e}
	if e.mode.IsRegular() {
		if e.content == nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("content not available")}
		}
		r, err := e.content()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		f.r = r
		f.sr = io.NewSectionReader(r, 0, e.size)
	}
	return f, nil
}

// Stat is Lstat that follows a final symlink.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	n, err := t.fsName("stat", name)
	if err != nil {
		return nil, err
	}
	e, err := t.lookup(n, true)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileInfo{e}, nil
}

// Lstat describes name without following a final symlink.
func (t *Tree) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.fsName("lstat", name)
	if err != nil {
		return nil, err
	}
	e, err := t.lookup(n, false)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return fileInfo{e}, nil
}

// ReadLink returns a symlink's target.
func (t *Tree) ReadLink(name string) (string, error) {
	n, err := t.fsName("readlink", name)
	if err != nil {
		return "", err
	}
	e, err := t.lookup(n, false)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if e.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.link, nil
}

// ReadDir lists a directory, sorted by name.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.fsName("readdir", name)
	if err != nil {
		return nil, err
	}
	e, err := t.lookup(n, true)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !e.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.children(e.name), nil
}

func (t *Tree) children(dir string) []fs.DirEntry {
	var out []fs.DirEntry
	for k, c := range t.entries {
		if k != "" && parentName(k) == dir {
			out = append(out, fs.FileInfoToDirEntry(fileInfo{c}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

type fileInfo struct{ e *treeEntry }

func (fi fileInfo) Name() string {
	if fi.e.name == "" {
		return "/"
	}
	return path.Base(fi.e.name)
}
func (fi fileInfo) Size() int64        { return fi.e.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.e.mode }
func (fi fileInfo) ModTime() time.Time { return fi.e.modTime }
func (fi fileInfo) IsDir() bool        { return fi.e.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// treeFile is an open entry; regular files read through a SectionReader.
type treeFile struct {
	t    *Tree
	e    *treeEntry
	r    ReadAtCloser
	sr   *io.SectionReader
	dirs []fs.DirEntry
	read bool
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return fileInfo{f.e}, nil }

func (f *treeFile) Read(p []byte) (int, error) {
	if f.sr == nil {
		return 0, fmt.Errorf("read %s: is a directory", f.e.name)
	}
	return f.sr.Read(p)
}

func (f *treeFile) ReadAt(p []byte, off int64) (int, error) {
	if f.sr == nil {
		return 0, fmt.Errorf("read %s: is a directory", f.e.name)
	}
	return f.sr.ReadAt(p, off)
}

func (f *treeFile) Seek(off int64, whence int) (int64, error) {
	if f.sr == nil {
		return 0, fmt.Errorf("seek %s: is a directory", f.e.name)
	}
	return f.sr.Seek(off, whence)
}

func (f *treeFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.e.mode.IsDir() {
		return nil, fmt.Errorf("readdir %s: not a directory", f.e.name)
	}
	if !f.read {
		f.dirs, f.read = f.t.children(f.e.name), true
	}
	if n <= 0 {
		out := f.dirs
		f.dirs = nil
		return out, nil
	}
	if len(f.dirs) == 0 {
		return nil, io.EOF
	}
	if n > len(f.dirs) {
		n = len(f.dirs)
	}
	out := f.dirs[:n]
	f.dirs = f.dirs[n:]
	return out, nil
}

func (f *treeFile) Close() error {
	if f.r != nil {
		return f.r.Close()
	}
	return nil
}
