package store

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
)

// Store is the OCI image layout at one directory (normally <root>/images).
// Its methods are safe for concurrent use by many processes.
type Store struct {
	dir string
}

// Open opens the layout at dir, creating oci-layout and an empty index.json
// when the directory is new.
func Open(dir string) (*Store, error) {
	return &Store{dir: dir}, errdefs.ErrNotImplemented
}

// Dir is the layout's directory.
func (s *Store) Dir() string { return s.dir }

// Entry is one image of the store as `tabula images` lists it.
type Entry struct {
	// Names are the tags pointing at the image, in the familiar form Docker
	// prints ("hello:latest", "ghcr.io/org/app:v1"); empty for a dangling image.
	Names []string
	// Manifest is the manifest's descriptor in index.json.
	Manifest v1.Descriptor
	// ID is the config digest, as Docker's IMAGE ID.
	ID      v1.Hash
	Created time.Time
	// Size is the sum of the layers' uncompressed sizes, as Docker's SIZE.
	Size int64
}

// NormalizeName validates a NAME[:TAG] reference and returns its familiar
// form with the tag defaulted to "latest" ("docker.io/library/x" → "x:latest").
func NormalizeName(name string) (string, error) {
	return "", errdefs.ErrNotImplemented
}

// Write stores img (every blob verified, written atomically) and points each
// name at it, moving the name away from any image that had it. With no
// names the image is stored untagged. It returns the manifest descriptor.
func (s *Store) Write(ctx context.Context, img v1.Image, names ...string) (v1.Descriptor, error) {
	return v1.Descriptor{}, errdefs.ErrNotImplemented
}

// Resolve finds the image that ref names: NAME[:TAG], a full or short image
// ID (config digest, with or without "sha256:"), or a manifest digest.
// An unknown ref is errdefs.ErrNotFound; an ambiguous ID prefix is
// errdefs.ErrInvalidArgument.
func (s *Store) Resolve(ctx context.Context, ref string) (Entry, error) {
	return Entry{}, errdefs.ErrNotImplemented
}

// Image returns the image that ref names (see Resolve); its blobs are read
// lazily and verified against their digests as they are read.
func (s *Store) Image(ctx context.Context, ref string) (v1.Image, error) {
	return nil, errdefs.ErrNotImplemented
}

// List returns every image of the store, newest first.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	return nil, errdefs.ErrNotImplemented
}

// Tag points name at the image ref names.
func (s *Store) Tag(ctx context.Context, ref, name string) error {
	return errdefs.ErrNotImplemented
}

// Remove untags ref when it is a name; when the image is left with no names,
// or ref is an ID, the image is deleted (an ID with several names needs
// force) and blobs no image uses any more are collected. It returns Docker's
// "Untagged: …" and "Deleted: …" lines.
func (s *Store) Remove(ctx context.Context, ref string, force bool) ([]string, error) {
	return nil, errdefs.ErrNotImplemented
}

// Blob opens a blob by digest; the reader fails at EOF when the content
// does not match the digest.
func (s *Store) Blob(ctx context.Context, digest v1.Hash) (io.ReadCloser, error) {
	return nil, errdefs.ErrNotImplemented
}

// Check verifies the layout: index.json parses, every referenced manifest,
// config and layer blob exists with its size and digest. It returns one
// problem per line in the error.
func (s *Store) Check(ctx context.Context) error {
	return errdefs.ErrNotImplemented
}

// GC removes blobs and temporary files that no image in index.json
// references, and returns the bytes freed.
func (s *Store) GC(ctx context.Context) (int64, error) {
	return 0, errdefs.ErrNotImplemented
}
