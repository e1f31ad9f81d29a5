package store

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tabula-dev/tabula/errdefs"
)

// isHex reports whether s is lower-case hexadecimal digits, between min
// and max of them (checked by hand: a regexp compiled at package init costs
// every tabula process, containers' inits included).
func isHex(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NormalizeName validates a NAME[:TAG] reference and returns its familiar
// form with the tag defaulted to "latest" ("docker.io/library/x" → "x:latest").
func NormalizeName(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("image name is empty: %w", errdefs.ErrInvalidArgument)
	}
	if strings.Contains(ref, "@") {
		return "", fmt.Errorf("image name %q: a digest cannot be a tag; use NAME[:TAG]: %w", ref, errdefs.ErrInvalidArgument)
	}
	t, err := name.NewTag(ref, name.WithDefaultTag("latest"))
	if err != nil {
		return "", fmt.Errorf("image name %q: %v; use NAME[:TAG] in lower case: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	repo := t.RepositoryStr()
	if t.RegistryStr() == name.DefaultRegistry {
		repo = strings.TrimPrefix(repo, "library/")
		if isHex(repo, 64, 64) {
			// It would shadow an image ID, as Docker refuses too.
			return "", fmt.Errorf("image name %q: a repository cannot be 64 hexadecimal digits, which reads as an image ID: %w", ref, errdefs.ErrInvalidArgument)
		}
		if repo == "scratch" {
			// FROM scratch means no image; one named so would change that.
			return "", fmt.Errorf("image name %q: scratch is a reserved name (FROM scratch starts from nothing): %w", ref, errdefs.ErrInvalidArgument)
		}
	} else {
		repo = t.RegistryStr() + "/" + repo
	}
	return repo + ":" + t.TagStr(), nil
}

// SplitName splits a familiar name "repo:tag" into its repository and tag.
func SplitName(n string) (repo, tag string) {
	i := strings.LastIndex(n, ":")
	if i < 0 || strings.Contains(n[i+1:], "/") {
		return n, ""
	}
	return n[:i], n[i+1:]
}
