package build

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"

	"github.com/tabula-dev/tabula/dockerfile"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
)

// copyOp is a COPY or ADD, expanded.
type copyOp struct {
	add       bool
	srcs      []string
	contents  []instructions.SourceContent
	dest      string
	from      string
	fromStage *dockerfile.Stage
	chown     string
	chmod     string
	checksum  string
	excludes  []string
	unpack    *bool
}

func (op copyOp) verb() string {
	if op.add {
		return "ADD"
	}
	return "COPY"
}

// child is an entry below a directory or archive being copied, at rel.
type child struct {
	rel string
	e   *entry
}

// srcItem is one source of a COPY or ADD once resolved.
type srcItem struct {
	// name is a file's name in a destination directory.
	name string
	// self is the source itself: a file, symlink or device, or the
	// directory whose contents are copied.
	self *entry
	// children are a directory's contents or an archive's entries.
	children []child
	// archive says the children come from an extracted archive.
	archive bool
}

func (s srcItem) isDir() bool { return s.archive || (s.self != nil && s.self.Mode.IsDir()) }

// copyStep runs a COPY or ADD: it resolves the sources, places them at the
// destination with Docker's rules and adds the layer.
func (b *builder) copyStep(ctx context.Context, st *state, in *dockerfile.Instruction, op copyOp) error {
	st.step++
	start := time.Now()
	b.step("[%s%d/%d] %s", b.stagePrefix(st.stage), st.step, st.steps, in.Text)

	uid, gid := -1, -1
	if op.chown != "" {
		var err error
		if uid, gid, err = owner(st.tree, op.chown); err != nil {
			return fmt.Errorf("%s %w", op.verb(), err)
		}
	}
	var chmod fs.FileMode
	hasChmod := op.chmod != ""
	if hasChmod {
		m, err := strconv.ParseUint(op.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: want an octal mode such as 0755", op.verb(), op.chmod)
		}
		chmod = fs.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			chmod |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			chmod |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			chmod |= fs.ModeSticky
		}
	}
	var exclude *patternmatcher.PatternMatcher
	if len(op.excludes) > 0 {
		var err error
		if exclude, err = patternmatcher.New(op.excludes); err != nil {
			return fmt.Errorf("%s --exclude: %v", op.verb(), err)
		}
	}
	if op.checksum != "" {
		for _, s := range op.srcs {
			if !isURL(s) {
				return fmt.Errorf("ADD --checksum works only with http(s) URLs, and %s is not one", s)
			}
		}
	}

	items, err := b.sources(ctx, st, op, exclude)
	if err != nil {
		return err
	}

	// Where things go.
	dest := op.dest
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || dest == ".." || strings.HasSuffix(dest, "/.") || strings.HasSuffix(dest, "/..")
	if !path.IsAbs(dest) {
		dest = path.Join("/", st.cfg.Config.WorkingDir, dest)
	}
	if len(op.srcs)+len(op.contents) > 1 && !destIsDir {
		return fmt.Errorf("%s with more than one source needs a destination directory ending in /, not %s", op.verb(), op.dest)
	}
	if len(items) > 1 && !destIsDir {
		// A glob that matched several sources: Docker refuses too.
		return fmt.Errorf("%s %s matches %d sources; with more than one source the destination must be a directory ending in /, not %s",
			op.verb(), strings.Join(op.srcs, " "), len(items), op.dest)
	}
	destRel, err := st.tree.resolve(dest)
	if err != nil {
		return fmt.Errorf("%s destination %s: %v", op.verb(), op.dest, err)
	}
	existing := st.tree.get(destRel)
	if existing != nil && existing.Mode.IsDir() {
		destIsDir = true
	}
	for _, it := range items {
		if it.isDir() {
			destIsDir = true
		}
	}
	if destIsDir && existing != nil && !existing.Mode.IsDir() {
		return fmt.Errorf("%s destination %s exists in the image and is not a directory", op.verb(), op.dest)
	}
	if !destIsDir {
		if destRel, err = st.tree.resolveParent(dest); err != nil {
			return fmt.Errorf("%s destination %s: %v", op.verb(), op.dest, err)
		}
		if destRel == "" {
			return fmt.Errorf("%s destination %s is the root directory; end it with /", op.verb(), op.dest)
		}
	}

	place := func(e *entry, target string) *entry {
		c := *e
		c.Path = target
		c.ModTime = b.ts
		if uid >= 0 {
			c.UID, c.GID = uid, gid
		}
		if hasChmod && c.Mode&fs.ModeSymlink == 0 {
			c.Mode = c.Mode.Type() | chmod
		}
		return &c
	}
	var placed []*entry
	for _, it := range items {
		if !it.isDir() {
			target := destRel
			if destIsDir {
				target = path.Join(destRel, it.name)
			}
			placed = append(placed, place(it.self, target))
			continue
		}
		if destRel != "" && st.tree.get(destRel) == nil {
			self := it.self
			if self == nil || it.archive {
				self = &entry{File: layer.File{Mode: fs.ModeDir | 0o755}}
			}
			placed = append(placed, place(self, destRel))
		}
		for _, c := range it.children {
			e := place(c.e, path.Join(destRel, c.rel))
			if e.Hardlink {
				e.Linkname = path.Join(destRel, c.e.Linkname)
			}
			placed = append(placed, e)
		}
	}
	owner := [2]int{0, 0}
	if uid >= 0 {
		owner = [2]int{uid, gid}
	}
	entries, err := b.withParents(st, placed, &owner)
	if err != nil {
		return fmt.Errorf("%s: %w", op.verb(), err)
	}
	return b.addLayer(ctx, st, in, entries, start)
}

// withParents returns entries with every parent directory they need: the
// stage's own (as they are, with the build's time) or new ones (0755,
// owned by newOwner or root). A parent that is a file or a symlink is an
// error: nothing is written through a symlink.
func (b *builder) withParents(st *state, entries []*entry, newOwner *[2]int) ([]*entry, error) {
	byPath := make(map[string]*entry, len(entries))
	for _, e := range entries {
		byPath[e.Path] = e
	}
	out := append([]*entry(nil), entries...)
	for _, e := range entries {
		for dir := path.Dir(e.Path); dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
			if p, ok := byPath[dir]; ok {
				if !p.Mode.IsDir() {
					return nil, fmt.Errorf("%s cannot be written: %s is not a directory", e.Path, dir)
				}
				break
			}
			var d *entry
			if old := st.tree.get(dir); old != nil {
				if old.Mode&fs.ModeSymlink != 0 {
					return nil, fmt.Errorf("%s would be written through the symbolic link %s; refusing to write outside the destination", e.Path, dir)
				}
				if !old.Mode.IsDir() {
					return nil, fmt.Errorf("%s cannot be written: %s is a file in the image, not a directory", e.Path, dir)
				}
				c := *old
				c.ModTime = b.ts
				d = &c
			} else {
				d = &entry{File: layer.File{Path: dir, Mode: fs.ModeDir | 0o755, ModTime: b.ts}}
				if newOwner != nil {
					d.UID, d.GID = newOwner[0], newOwner[1]
				}
			}
			byPath[dir] = d
			out = append(out, d)
		}
	}
	return out, nil
}

// sources resolves every source of op.
func (b *builder) sources(ctx context.Context, st *state, op copyOp, exclude *patternmatcher.PatternMatcher) ([]srcItem, error) {
	var items []srcItem
	for _, hd := range op.contents {
		data := hd.Data
		items = append(items, srcItem{name: hd.Path, self: &entry{
			File:   layer.File{Mode: 0o644, Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }},
			digest: sha256Hex([]byte(data)),
		}})
	}
	var from *tree
	fromName := ""
	switch {
	case op.fromStage != nil:
		fs, err := b.buildStage(ctx, op.fromStage)
		if err != nil {
			return nil, err
		}
		from, fromName = fs.tree, "stage "+op.fromStage.Ref()
	case op.from != "":
		src, err := b.image(ctx, op.from, true)
		if err != nil {
			return nil, fmt.Errorf("COPY --from=%s: no stage named %s, and %w", op.from, op.from, err)
		}
		from, fromName = src.tree, "image "+op.from
	}
	for _, src := range op.srcs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case op.add && isGit(src):
			return nil, fmt.Errorf("ADD %s: git sources are not supported: %w", src, errdefs.ErrNotImplemented)
		case op.add && isURL(src):
			it, err := b.download(ctx, src, op.checksum, op.unpack)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		case from != nil:
			its, err := treeSources(from, fromName, src, exclude)
			if err != nil {
				return nil, fmt.Errorf("%s --from: %w", op.verb(), err)
			}
			items = append(items, its...)
		default:
			its, err := b.contextSources(ctx, op, src, exclude)
			if err != nil {
				return nil, fmt.Errorf("%s %w", op.verb(), err)
			}
			items = append(items, its...)
		}
	}
	return items, nil
}

// contextSources resolves a source of the build context.
func (b *builder) contextSources(ctx context.Context, op copyOp, src string, exclude *patternmatcher.PatternMatcher) ([]srcItem, error) {
	matches, err := b.bctx.resolve(src)
	if err != nil {
		return nil, err
	}
	var items []srcItem
	for _, m := range matches {
		abs := path.Join(b.bctx.dir, m.rel)
		self, err := contextEntry(ctx, abs, m.fi)
		if err != nil {
			return nil, err
		}
		it := srcItem{name: path.Base(m.name), self: self}
		if m.fi.IsDir() {
			walked, err := b.bctx.walk(ctx, m.rel)
			if err != nil {
				return nil, err
			}
			for _, w := range walked {
				if excludedBy(exclude, w.rel) {
					continue
				}
				e, err := contextEntry(ctx, w.abs, w.fi)
				if err != nil {
					return nil, err
				}
				it.children = append(it.children, child{rel: w.rel, e: e})
			}
		} else if op.add && m.fi.Mode().IsRegular() && (op.unpack == nil || *op.unpack) && isArchive(self.Open) {
			children, err := readArchive(ctx, self.Open, src, b.sp)
			if err != nil {
				return nil, err
			}
			it = srcItem{name: it.name, children: children, archive: true}
		}
		items = append(items, it)
	}
	return items, nil
}

// contextEntry describes a file of the context, owned by root.
func contextEntry(ctx context.Context, abs string, fi fs.FileInfo) (*entry, error) {
	e := &entry{File: layer.File{Mode: fi.Mode() &^ (fs.ModeSocket | fs.ModeIrregular)}}
	switch {
	case fi.Mode().IsRegular():
		e.Size = fi.Size()
		e.Open = func() (io.ReadCloser, error) { return os.Open(abs) }
		// The digest of the content is read when the step cache needs it.
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(abs)
		if err != nil {
			return nil, err
		}
		e.Linkname = t
	case fi.Mode()&fs.ModeDevice != 0:
		major, minor := deviceNumbers(fi)
		e.Devmajor, e.Devminor = major, minor
	}
	return e, nil
}

func excludedBy(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil {
		return false
	}
	m, err := pm.MatchesOrParentMatches(rel)
	return err == nil && m
}

// treeSources resolves a source in a stage's or image's tree: an absolute
// path from its root (a relative one is taken from the root too), globs
// allowed, symlinks followed inside the root.
func treeSources(t *tree, fromName, src string, exclude *patternmatcher.PatternMatcher) ([]srcItem, error) {
	clean := strings.TrimPrefix(path.Clean("/"+src), "/")
	var names []string
	if hasMeta(clean) {
		if _, err := path.Match(clean, ""); err != nil {
			return nil, fmt.Errorf("%s: bad pattern: %v: %w", src, err, errdefs.ErrInvalidArgument)
		}
		for p := range t.files {
			if ok, _ := path.Match(clean, p); ok {
				names = append(names, p)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: nothing in %s matches: %w", src, fromName, errdefs.ErrNotFound)
		}
		sortStrings(names)
	} else {
		names = []string{clean}
	}
	var items []srcItem
	for _, name := range names {
		real, err := t.resolve(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", src, err)
		}
		it := srcItem{name: path.Base("/" + name)}
		if real == "" {
			it.self = &entry{File: layer.File{Mode: fs.ModeDir | 0o755}}
		} else {
			e := t.get(real)
			if e == nil {
				return nil, fmt.Errorf("%s: no such file or directory in %s: %w", src, fromName, errdefs.ErrNotFound)
			}
			it.self = e
		}
		if it.self.Mode.IsDir() {
			for _, e := range t.under(real) {
				rel := strings.TrimPrefix(e.Path, real+"/")
				if real == "" {
					rel = e.Path
				}
				if excludedBy(exclude, rel) {
					continue
				}
				it.children = append(it.children, child{rel: rel, e: e})
			}
		}
		items = append(items, it)
	}
	return items, nil
}
