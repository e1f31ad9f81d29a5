// Package archive saves images to, and loads them from, single-file archives:
// Docker's docker-archive (what `docker save` writes and `docker load` reads)
// and a tar of an OCI image layout. Every path inside an archive is untrusted
// and resolved inside it. It knows nothing of registries, builds or containers;
// loaded images go into a store.Store.
package archive
