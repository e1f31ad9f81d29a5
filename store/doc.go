// Package store owns tabula's local images: an OCI image layout under
// <root>/images that skopeo, umoci and crane read as is, tags kept as
// org.opencontainers.image.ref.name annotations. Blobs are written to a
// temporary file, verified and renamed; index.json is changed under a lock and
// replaced atomically; every blob read is verified against its digest.
// It knows nothing of Dockerfiles, registries or containers.
package store
