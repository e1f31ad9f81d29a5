// Package layer owns image layers as tar streams: it writes deterministic
// layers (sorted entries, normalised owners and times, parent directories),
// compresses them (gzip, zstd), and extracts layers and archives safely, so
// that no entry ever lands outside the directory it is extracted into.
// It knows nothing of Dockerfiles, stores or containers.
package layer
