package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/errdefs"
)

// users is an InUse that reports the same containers for one image.
func users(id v1.Hash, us ...ContainerUse) func(v1.Hash) ([]ContainerUse, error) {
	return func(h v1.Hash) ([]ContainerUse, error) {
		if h == id {
			return us, nil
		}
		return nil, nil
	}
}

// TestRemoveImageInUse: containers protect their image as Docker's do.
func TestRemoveImageInUse(t *testing.T) {
	ctx := context.Background()
	stopped := ContainerUse{ID: strings.Repeat("5", 64)}
	running := ContainerUse{ID: strings.Repeat("7", 64), Running: true}
	for _, tc := range []struct {
		name    string
		names   []string
		ref     string // "ID" for the image ID prefix
		force   bool
		users   []ContainerUse
		want    string // error substring, or the lines joined by |
		wantErr bool
		left    int // images listed afterwards
	}{
		{name: "last name, stopped user", names: []string{"app:1"}, ref: "app:1", users: []ContainerUse{stopped},
			want: `conflict: unable to remove repository reference "app:1" (must force) - container 555555555555 is using its referenced image`, wantErr: true, left: 1},
		{name: "last name, running user", names: []string{"app:1"}, ref: "app:1", users: []ContainerUse{running},
			want: "container 777777777777 is using its referenced image", wantErr: true, left: 1},
		{name: "one of two names", names: []string{"app:1", "app:2"}, ref: "app:1", users: []ContainerUse{running},
			want: "Untagged: app:1", left: 1},
		{name: "last name forced, stopped user", names: []string{"app:1"}, ref: "app:1", force: true, users: []ContainerUse{stopped},
			want: "Untagged: app:1|Deleted: ID", left: 0},
		{name: "last name forced, running user keeps the image", names: []string{"app:1"}, ref: "app:1", force: true, users: []ContainerUse{running},
			want: "Untagged: app:1", left: 1},
		{name: "by ID, stopped user", names: []string{"app:1"}, ref: "ID", users: []ContainerUse{stopped},
			want: "(must be forced) - image is being used by stopped container 555555555555", wantErr: true, left: 1},
		{name: "by ID forced, stopped user", names: []string{"app:1"}, ref: "ID", force: true, users: []ContainerUse{stopped},
			want: "Untagged: app:1|Deleted: ID", left: 0},
		{name: "by ID forced, running user", names: []string{"app:1"}, ref: "ID", force: true, users: []ContainerUse{running, stopped},
			want: "(cannot be forced) - image is being used by running container 777777777777", wantErr: true, left: 1},
		{name: "no users", names: []string{"app:1"}, ref: "app:1", want: "Untagged: app:1|Deleted: ID", left: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t)
			img := randomImage(t, 1, time.Unix(1, 0))
			id := configDigest(t, img)
			if _, err := s.Write(ctx, img, tc.names...); err != nil {
				t.Fatal(err)
			}
			// Another image, which a removal must leave alone.
			if _, err := s.Write(ctx, randomImage(t, 1, time.Unix(2, 0)), "other:1"); err != nil {
				t.Fatal(err)
			}
			ref := tc.ref
			if ref == "ID" {
				ref = id.Hex[:12]
			}
			lines, err := s.RemoveWith(ctx, ref, RemoveOptions{Force: tc.force, InUse: users(id, tc.users...)})
			want := strings.ReplaceAll(tc.want, "ID", id.String())
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrFailedPrecondition) {
					t.Fatalf("RemoveWith = %q, %v; want a failed precondition with %q", lines, err, tc.want)
				}
			} else if err != nil || strings.Join(lines, "|") != want {
				t.Fatalf("RemoveWith = %q, %v; want %q", lines, err, want)
			}
			list, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tc.left+1 {
				t.Fatalf("%d images left, want %d: %+v", len(list), tc.left+1, list)
			}
			if tc.left == 1 && !tc.wantErr && tc.force {
				// Untagged but kept: dangling, and still whole.
				for _, e := range list {
					if e.ID == id && len(e.Names) != 0 {
						t.Errorf("the kept image still has names %v", e.Names)
					}
				}
			}
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestListSkipsBrokenImages: an image whose config is corrupt or missing
// leaves the others listed, is named in a *ListError, and can be removed.
func TestListSkipsBrokenImages(t *testing.T) {
	ctx := context.Background()
	s := openT(t)
	good := randomImage(t, 1, time.Unix(1, 0))
	bad := randomImage(t, 1, time.Unix(2, 0))
	gone := randomImage(t, 1, time.Unix(3, 0))
	for name, img := range map[string]v1.Image{"good:1": good, "bad:1": bad, "gone:1": gone} {
		if _, err := s.Write(ctx, img, name); err != nil {
			t.Fatal(err)
		}
	}
	blob := func(h v1.Hash) string { return filepath.Join(s.Dir(), "blobs", "sha256", h.Hex) }
	if err := os.WriteFile(blob(configDigest(t, bad)), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	goneManifest, _ := gone.Digest()
	if err := os.Remove(blob(goneManifest)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	var le *ListError
	if !errors.As(err, &le) || !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("List error = %v, want a *ListError", err)
	}
	if len(list) != 1 || list[0].ID != configDigest(t, good) {
		t.Fatalf("List = %+v, want only good:1", list)
	}
	if len(le.Broken) != 2 || !strings.Contains(err.Error(), "image bad:1 (") || !strings.Contains(err.Error(), "image gone:1 (") ||
		!strings.Contains(err.Error(), configDigest(t, bad).String()) || !strings.Contains(err.Error(), goneManifest.String()+" is missing") {
		t.Fatalf("List error names %d images:\n%v", len(le.Broken), err)
	}
	for _, name := range []string{"bad:1", "gone:1"} {
		if _, err := s.Remove(ctx, name, false); err != nil {
			t.Fatalf("Remove(%s) of a broken image: %v", name, err)
		}
	}
	if list, err := s.List(ctx); err != nil || len(list) != 1 {
		t.Fatalf("after removing the broken images, List = %+v, %v", list, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
