package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/tabula-dev/tabula/errdefs"
)

// buildContext is the directory a build copies from, less what
// .dockerignore excludes.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher
}

// openContext opens dir as a build context and reads its ignore file:
// ignoreFile when it exists (the Dockerfile's own NAME.dockerignore), else
// the context's .dockerignore.
func openContext(dir, ignoreFile string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, errdefs.ErrNotFound)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory: %w", dir, errdefs.ErrInvalidArgument)
	}
	c := &buildContext{dir: abs}
	ignorePath := filepath.Join(dir, ".dockerignore")
	f, err := os.Open(filepath.Join(abs, ".dockerignore"))
	if ignoreFile != "" {
		if g, gerr := os.Open(ignoreFile); gerr == nil {
			if f != nil {
				f.Close()
			}
			f, err, ignorePath = g, nil, ignoreFile
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", ignorePath, err, errdefs.ErrInvalidArgument)
	}
	if len(patterns) > 0 {
		if c.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", ignorePath, err, errdefs.ErrInvalidArgument)
		}
	}
	return c, nil
}

// excluded reports whether .dockerignore excludes rel.
func (c *buildContext) excluded(rel string) bool {
	if c.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// match is one source path of the context a COPY names.
type match struct {
	// name is the matched path as written (relative, clean): its base
	// name is what a file is called in a destination directory.
	name string
	// rel is where it really is, symlinks followed.
	rel string
	fi  fs.FileInfo
}

// sourceError is an error about a source path.
func sourceError(src, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", src, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// cleanSource checks that src names something inside the context and
// returns it clean and relative.
func cleanSource(src string) (string, error) {
	if strings.HasPrefix(src, "/") {
		return "", sourceError(src, "an absolute path is outside the build context; sources are relative to the context directory")
	}
	c := path.Clean(src)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", sourceError(src, "the path is outside the build context")
	}
	return c, nil
}

// resolve finds the sources src names: one path, or every path a glob
// matches, with symlinks followed inside the context.
func (c *buildContext) resolve(src string) ([]match, error) {
	rel, err := cleanSource(src)
	if err != nil {
		return nil, err
	}
	var names []string
	if hasMeta(rel) {
		if names, err = c.glob(rel); err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, sourceError(src, "no file in the build context matches")
		}
	} else {
		if c.excluded(rel) {
			return nil, sourceError(src, "no such file in the build context (.dockerignore excludes it)")
		}
		names = []string{rel}
	}
	var out []match
	for _, name := range names {
		real, err := c.follow(name)
		if err != nil {
			return nil, err
		}
		fi, err := os.Lstat(filepath.Join(c.dir, real))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, sourceError(src, "no such file or directory in the build context")
		}
		if err != nil {
			return nil, err
		}
		if real != name && c.excluded(real) {
			return nil, sourceError(src, "it is a symlink to %s, which .dockerignore excludes", real)
		}
		out = append(out, match{name: name, rel: real, fi: fi})
	}
	return out, nil
}

// follow resolves the symlinks of rel inside the context and refuses any
// that point outside it.
func (c *buildContext) follow(rel string) (string, error) {
	vfs := &escapeVFS{root: c.dir}
	p, err := securejoin.SecureJoinVFS(c.dir, rel, vfs)
	if err != nil {
		return "", sourceError(rel, "%v", err)
	}
	if vfs.escape != "" {
		return "", sourceError(rel, "%s", vfs.escape)
	}
	r, err := filepath.Rel(c.dir, p)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(r), nil
}

// escapeVFS is the os VFS that notes symlinks pointing outside root.
type escapeVFS struct {
	root   string
	escape string
}

func (v *escapeVFS) Lstat(name string) (os.FileInfo, error) { return os.Lstat(name) }

func (v *escapeVFS) Readlink(name string) (string, error) {
	target, err := os.Readlink(name)
	if err != nil {
		return "", err
	}
	rel, _ := filepath.Rel(v.root, filepath.Clean(name))
	rel = filepath.ToSlash(rel)
	if v.escape == "" {
		if path.IsAbs(target) {
			v.escape = fmt.Sprintf("%s is a symlink to %s, outside the build context", rel, target)
		} else if j := path.Join(path.Dir(rel), target); j == ".." || strings.HasPrefix(j, "../") {
			v.escape = fmt.Sprintf("%s is a symlink to %s, outside the build context", rel, target)
		}
	}
	return target, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// glob returns the context paths pattern matches, sorted, less excluded
// ones. Directories on the way are followed through symlinks inside the
// context.
func (c *buildContext) glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, sourceError(pattern, "bad pattern: %v", err)
	}
	parts := strings.Split(pattern, "/")
	cur := []string{""}
	for _, part := range parts {
		var next []string
		for _, dir := range cur {
			if !hasMeta(part) {
				next = append(next, path.Join(dir, part))
				continue
			}
			real, err := c.follow(dir)
			if err != nil {
				return nil, err
			}
			ents, err := os.ReadDir(filepath.Join(c.dir, real))
			if err != nil {
				continue
			}
			for _, e := range ents {
				if ok, _ := path.Match(part, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	var out []string
	for _, p := range cur {
		if c.excluded(p) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(c.dir, p)); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// walkItem is one file below a directory being copied.
type walkItem struct {
	rel string // relative to the directory copied
	abs string
	fi  fs.FileInfo
}

// walk lists what is below the context directory rel, less excluded paths;
// symlinks are listed, not followed.
func (c *buildContext) walk(ctx context.Context, rel string) ([]walkItem, error) {
	root := filepath.Join(c.dir, rel)
	var out []walkItem
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		r, _ := filepath.Rel(root, p)
		r = filepath.ToSlash(r)
		if c.excluded(path.Join(rel, r)) {
			if d.IsDir() && !c.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		out = append(out, walkItem{rel: r, abs: p, fi: fi})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hashContents sets the digest of every regular file of entries that has
// none yet (files of the context are hashed only when the step cache needs
// their digests).
func hashContents(ctx context.Context, entries []*entry) error {
	for _, e := range entries {
		if e.digest != "" || !e.Mode.IsRegular() || e.Open == nil {
			continue
		}
		rc, err := e.Open()
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, ctxReader{ctx: ctx, ReadCloser: rc})
		rc.Close()
		if err != nil {
			return err
		}
		e.digest = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}
