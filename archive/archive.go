package archive

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
)

// Format is an archive's layout.
type Format string

const (
	// Docker is docker-archive: manifest.json, repositories, the config and
	// one tar per layer, as `docker save` writes and `docker load` reads.
	Docker Format = "docker"
	// OCI is a tar of an OCI image layout (oci-layout, index.json,
	// blobs/sha256/…) with tags as org.opencontainers.image.ref.name.
	OCI Format = "oci"
)

// ParseFormat turns "docker" or "oci" into a Format.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Docker, OCI:
		return Format(s), nil
	}
	return "", fmt.Errorf("archive format %q: want docker or oci: %w", s, errdefs.ErrInvalidArgument)
}

// Named is one image to save and the name it is saved under ("hello:latest");
// an empty Name saves the image untagged.
type Named struct {
	Name  string
	Image v1.Image
}
