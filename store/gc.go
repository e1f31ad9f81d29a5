package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
)

// ingestGrace is how old a temporary file must be before GC removes it.
const ingestGrace = 10 * time.Minute

// CheckError lists every problem Check found.
type CheckError struct {
	Problems []string
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("the image store has %d problem(s):\n%s", len(e.Problems), strings.Join(e.Problems, "\n"))
}

func (e *CheckError) Unwrap() error { return errdefs.ErrCorrupt }

// Check verifies the layout: index.json parses, every referenced manifest,
// config and layer blob exists with its size and digest. It returns one
// problem per line in the error.
func (s *Store) Check(ctx context.Context) error {
	// Shared, as a writer holds it: no GC removes blobs of an image that
	// is untagged while the check runs.
	gl, err := s.lock(gcLock, false)
	if err != nil {
		return err
	}
	defer gl.unlock()
	var problems []string
	if _, err := os.ReadFile(filepath.Join(s.dir, "oci-layout")); err != nil {
		problems = append(problems, fmt.Sprintf("oci-layout: %v", err))
	}
	idx, err := s.readIndex()
	if err != nil {
		return &CheckError{Problems: append(problems, err.Error())}
	}
	checked := map[v1.Hash]bool{}
	blob := func(what string, d v1.Descriptor) bool {
		if checked[d.Digest] {
			return true
		}
		checked[d.Digest] = true
		if err := s.verifyBlob(ctx, d); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			return false
		}
		return true
	}
	var check func(img string, d v1.Descriptor, depth int)
	check = func(img string, d v1.Descriptor, depth int) {
		if !blob("image "+img+": manifest "+d.Digest.String(), d) {
			return
		}
		if d.MediaType.IsIndex() {
			// An index another tool wrote: check what it lists.
			b, err := s.readBlob(d.Digest, d.Size)
			var idx v1.IndexManifest
			if err == nil {
				err = json.Unmarshal(b, &idx)
			}
			if err != nil || depth > 8 {
				problems = append(problems, fmt.Sprintf("image %s: index %s: unreadable or nested too deep: %v", img, d.Digest, err))
				return
			}
			for _, c := range idx.Manifests {
				check(img, c, depth+1)
			}
			return
		}
		m, err := s.manifest(d)
		if err != nil {
			problems = append(problems, fmt.Sprintf("image %s: %v", img, err))
			return
		}
		if blob("image "+img+": config "+m.Config.Digest.String(), m.Config) {
			if _, err := s.config(m); err != nil {
				problems = append(problems, fmt.Sprintf("image %s: %v", img, err))
			}
		}
		for i, l := range m.Layers {
			blob(fmt.Sprintf("image %s: layer %d %s", img, i+1, l.Digest), l)
		}
	}
	for _, g := range groups(idx) {
		if err := ctx.Err(); err != nil {
			return err
		}
		img := g.desc.Digest.String()
		if len(g.names) > 0 {
			img = strings.Join(g.names, ", ")
		}
		check(img, g.desc, 0)
	}
	if len(problems) > 0 {
		return &CheckError{Problems: problems}
	}
	return nil
}

// verifyBlob reads a whole blob through the verifying reader.
func (s *Store) verifyBlob(ctx context.Context, d v1.Descriptor) error {
	rc, err := s.openBlob(d.Digest, d.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, ctxReader{ctx, rc})
	return err
}

// GC removes blobs and temporary files that no image in index.json
// references, and returns the bytes freed. Temporary files younger than a
// few minutes are left alone.
func (s *Store) GC(ctx context.Context) (int64, error) {
	gl, err := s.lock(gcLock, true)
	if err != nil {
		return 0, err
	}
	defer gl.unlock()
	il, err := s.lock(indexLock, true)
	if err != nil {
		return 0, err
	}
	defer il.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	for _, g := range groups(idx) {
		if err := s.mark(g.desc, live, 0); err != nil {
			return 0, fmt.Errorf("collect garbage: cannot tell what %s uses, so nothing is removed: %w", g.desc.Digest, err)
		}
	}
	var freed int64
	blobs := filepath.Join(s.dir, "blobs", "sha256")
	des, err := os.ReadDir(blobs)
	if err != nil {
		return 0, fmt.Errorf("collect garbage: %w", err)
	}
	for _, de := range des {
		if live[de.Name()] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return freed, err
		}
		freed += removeCounting(filepath.Join(blobs, de.Name()))
	}
	// Temporary files of writers that died: blobs being ingested, and
	// index.json or oci-layout replacements (".index.json-…").
	for _, dir := range []string{filepath.Join(s.dir, "ingest"), s.dir} {
		des, _ = os.ReadDir(dir)
		for _, de := range des {
			if dir == s.dir && !strings.HasPrefix(de.Name(), ".") {
				continue
			}
			fi, err := de.Info()
			if err != nil || time.Since(fi.ModTime()) < ingestGrace {
				continue
			}
			switch {
			case fi.Mode().IsRegular():
				freed += removeCounting(filepath.Join(dir, de.Name()))
			case fi.IsDir() && dir != s.dir:
				// A TempDir whose writer died: nobody holds its lock.
				p := filepath.Join(dir, de.Name())
				l, ok, err := tryLockFile(filepath.Join(p, tempDirLock))
				if err != nil || !ok {
					continue
				}
				n, _ := layer.DiskUsage(ctx, p)
				if os.RemoveAll(p) == nil {
					freed += n
				}
				l.unlock()
			}
		}
	}
	return freed, nil
}

func removeCounting(p string) int64 {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0
	}
	if os.Remove(p) != nil {
		return 0
	}
	return fi.Size()
}

// mark records the blobs d references: an image manifest's config and
// layers, or, for an index another tool wrote, every manifest it lists.
func (s *Store) mark(d v1.Descriptor, live map[string]bool, depth int) error {
	live[d.Digest.Hex] = true
	if depth > 8 {
		return fmt.Errorf("indexes nested deeper than 8: %w", errdefs.ErrCorrupt)
	}
	b, err := s.readBlob(d.Digest, d.Size)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil // nothing of it left to keep
	}
	if err != nil {
		return err
	}
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("index %s: %v: %w", d.Digest, err, errdefs.ErrCorrupt)
		}
		for _, c := range idx.Manifests {
			if err := s.mark(c, live, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("manifest %s: %v: %w", d.Digest, err, errdefs.ErrCorrupt)
	}
	live[m.Config.Digest.Hex] = true
	for _, l := range m.Layers {
		live[l.Digest.Hex] = true
	}
	return nil
}
