package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
)

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func isGit(s string) bool {
	return strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "git://") ||
		(isURL(s) && strings.HasSuffix(strings.SplitN(s, "#", 2)[0], ".git"))
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func sortStrings(s []string) { sort.Strings(s) }

// isArchive reports whether the file open reads is a tar stream, possibly
// compressed (gzip, bzip2, xz, zstd): what ADD extracts.
func isArchive(open func() (io.ReadCloser, error)) bool {
	rc, err := open()
	if err != nil {
		return false
	}
	defer rc.Close()
	r, err := layer.Decompress(rc)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = tar.NewReader(r).Next()
	return err == nil
}

// readArchive reads the entries of the archive open reads, for ADD to
// place in a destination directory. Entries are refused, with an error
// naming them, when they are absolute, climb out with "..", or go through
// a symlink of the archive: nothing of an archive lands outside the
// destination. File contents go to sp.
func readArchive(ctx context.Context, open func() (io.ReadCloser, error), name string, sp *spool) ([]child, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := layer.Decompress(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	bad := func(entry, why string) error {
		return fmt.Errorf("%s: the archive's entry %q %s; tabula refuses archives whose entries leave the destination: %w", name, entry, why, errdefs.ErrInvalidArgument)
	}
	tr := tar.NewReader(r)
	var out []child
	index := map[string]int{}
	symlinks := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read the archive: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		if path.IsAbs(h.Name) {
			return nil, bad(h.Name, "is an absolute path")
		}
		rel := path.Clean(h.Name)
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, bad(h.Name, "climbs out of the destination with ..")
		}
		if rel == "." {
			continue
		}
		for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
			if symlinks[dir] {
				return nil, bad(h.Name, fmt.Sprintf("goes through the symbolic link %s that the archive made", dir))
			}
		}
		e := &entry{File: layer.File{
			Mode: tarFileMode(h), UID: h.Uid, GID: h.Gid, Linkname: h.Linkname,
			Devmajor: h.Devmajor, Devminor: h.Devminor,
		}}
		for k, v := range h.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if e.Xattrs == nil {
					e.Xattrs = map[string]string{}
				}
				e.Xattrs[x] = v
			}
		}
		switch h.Typeflag {
		case tar.TypeReg:
			if e.Open, e.Size, e.digest, err = sp.add(tr); err != nil {
				return nil, err
			}
		case tar.TypeLink:
			if path.IsAbs(h.Linkname) {
				return nil, bad(h.Name, "is a hard link to an absolute path")
			}
			target := path.Clean(h.Linkname)
			i, ok := index[target]
			if !ok || !out[i].e.Mode.IsRegular() {
				return nil, bad(h.Name, fmt.Sprintf("is a hard link to %s, which is not a file earlier in the archive", h.Linkname))
			}
			t := out[i].e
			e.Mode, e.Size, e.Open, e.digest = t.Mode, t.Size, t.Open, t.digest
			e.Hardlink, e.Linkname = true, target
		case tar.TypeSymlink:
			symlinks[rel] = true
		case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			continue
		}
		if h.Typeflag != tar.TypeSymlink {
			delete(symlinks, rel)
		}
		if i, ok := index[rel]; ok {
			out[i] = child{rel: rel, e: e}
			continue
		}
		index[rel] = len(out)
		out = append(out, child{rel: rel, e: e})
	}
	return out, nil
}

// download fetches an ADD URL into the spool, checking --checksum.
func (b *builder) download(ctx context.Context, raw, checksum string, unpack *bool) (srcItem, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return srcItem{}, fmt.Errorf("ADD %s: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	var want string
	if checksum != "" {
		algo, hexsum, ok := strings.Cut(checksum, ":")
		if !ok || algo != "sha256" || len(hexsum) != 64 {
			return srcItem{}, fmt.Errorf("ADD --checksum=%s: want sha256:<64 hex digits>: %w", checksum, errdefs.ErrInvalidArgument)
		}
		want = strings.ToLower(hexsum)
	}
	client := b.opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return srcItem{}, fmt.Errorf("ADD %s: %w", raw, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return srcItem{}, fmt.Errorf("ADD %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return srcItem{}, fmt.Errorf("ADD %s: the server answered %s", raw, resp.Status)
	}
	open, size, digest, err := b.sp.add(resp.Body)
	if err != nil {
		return srcItem{}, fmt.Errorf("ADD %s: download: %w", raw, err)
	}
	if want != "" && digest != want {
		return srcItem{}, fmt.Errorf("ADD %s: the download's checksum is sha256:%s, not the expected sha256:%s: %w", raw, digest, want, errdefs.ErrInvalidArgument)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	e := &entry{File: layer.File{Mode: 0o600, Size: size, Open: open}, digest: digest}
	if unpack != nil && *unpack && isArchive(open) {
		children, err := readArchive(ctx, open, raw, b.sp)
		if err != nil {
			return srcItem{}, err
		}
		return srcItem{name: name, children: children, archive: true}, nil
	}
	return srcItem{name: name, self: e}, nil
}
