package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/store"
)

// newRegistry serves an in-memory registry on the loopback, spoken to over
// plain HTTP, and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// opts has no credentials: the tests never read the user's.
func opts(progress io.Writer) Options {
	return Options{Progress: progress, Keychain: authn.NewMultiKeychain()}
}

// An image pushed from one store and pulled into another is the same
// image, under the same name; pulled by digest it is stored untagged.
func TestPushPull(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/team/app:v1"
	src := newStore(t)
	if _, err := src.Write(ctx, img, ref); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	digest, err := Push(ctx, src, ref, opts(&out))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if digest != want {
		t.Errorf("pushed %s, the image is %s", digest, want)
	}
	if !strings.Contains(out.String(), "The push refers to repository ["+host+"/team/app]") || !strings.Contains(out.String(), "v1: digest: "+want.String()) ||
		strings.Count(out.String(), ": Pushed\n") != 3 {
		t.Errorf("push printed:\n%s", out.String())
	}
	// Pushed again under another name, the layers are there already.
	if err := src.Tag(ctx, ref, host+"/team/app:v2"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := Push(ctx, src, host+"/team/app:v2", opts(&out)); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), ": Layer already exists\n") != 3 || strings.Contains(out.String(), "Pushed") {
		t.Errorf("the second push printed:\n%s", out.String())
	}
	out.Reset()

	dst := newStore(t)
	out.Reset()
	desc, err := Pull(ctx, dst, ref, opts(&out))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("pulled %s, want %s", desc.Digest, want)
	}
	entries, err := dst.List(ctx)
	if err != nil || len(entries) != 1 || strings.Join(entries[0].Names, ",") != ref {
		t.Fatalf("after the pull the store lists %+v, %v; want the image as %s", entries, err, ref)
	}
	if err := dst.Check(ctx); err != nil {
		t.Errorf("the pulled store does not check: %v", err)
	}
	for _, line := range []string{"v1: Pulling from " + host + "/team/app", ": Pull complete", "Digest: " + want.String(), "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("pull printed no %q:\n%s", line, out.String())
		}
	}
	if n := strings.Count(out.String(), "Pull complete"); n != 3 {
		t.Errorf("%d layers said complete, want 3:\n%s", n, out.String())
	}
	out.Reset()
	if _, err := Pull(ctx, dst, ref, opts(&out)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Status: Image is up to date for "+ref) {
		t.Errorf("the second pull printed:\n%s", out.String())
	}

	byDigest := newStore(t)
	if _, err := Pull(ctx, byDigest, host+"/team/app@"+want.String(), opts(nil)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := byDigest.List(ctx); len(entries) != 1 || len(entries[0].Names) != 0 {
		t.Errorf("pulled by digest: %+v, want one untagged image", entries)
	}
}

// A multi-platform image gives the image of the platform asked for, and
// by default this machine's.
func TestPullPlatform(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64", "riscv64"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture = "linux", arch
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	ref := host + "/multi:latest"
	r, _ := name.ParseReference(ref)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform *v1.Platform
		want     string
	}{{nil, runtime.GOARCH}, {&v1.Platform{OS: "linux", Architecture: "riscv64"}, "riscv64"}} {
		st := newStore(t)
		o := opts(nil)
		o.Platform = tc.platform
		if _, err := Pull(ctx, st, ref, o); err != nil {
			t.Fatal(err)
		}
		img, err := st.Image(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if cf, _ := img.ConfigFile(); cf.Architecture != tc.want {
			t.Errorf("platform %v: got the %s image, want %s", tc.platform, cf.Architecture, tc.want)
		}
	}
	o := opts(nil)
	o.Platform = &v1.Platform{OS: "linux", Architecture: "s390x"}
	if _, err := Pull(ctx, newStore(t), ref, o); err == nil {
		t.Error("pulled a platform the image lacks")
	}
}

// Errors say what is wrong and carry the class tabula's exit codes follow;
// a failed pull leaves nothing in the store.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	st := newStore(t)
	if _, err := Pull(ctx, st, host+"/nothing:here", opts(nil)); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "no such image") {
		t.Errorf("pull of a missing image: %v", err)
	}
	if _, err := Pull(ctx, st, "Not A/Reference", opts(nil)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("pull of a bad reference: %v", err)
	}
	for _, ref := range []string{"scratch", "docker.io/library/scratch:latest"} {
		if _, err := Pull(ctx, st, ref, opts(nil)); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("pull %s: %v", ref, err)
		}
	}
	if _, err := Pull(ctx, st, "registry.invalid/app:v1", opts(nil)); err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("pull from a registry that does not resolve: %v", err)
	}
	if _, err := Push(ctx, st, host+"/absent:v1", opts(nil)); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("push of an image the store lacks: %v", err)
	}

	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}))
	defer denied.Close()
	_, err := Pull(ctx, st, strings.TrimPrefix(denied.URL, "http://")+"/private:v1", opts(nil))
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "tabula login") {
		t.Errorf("pull refused access: %v", err)
	}
	if entries, _ := st.List(ctx); len(entries) != 0 {
		t.Errorf("failed pulls left %+v", entries)
	}

	// A pull cut short leaves the store as it was.
	img, _ := random.Image(1<<20, 2)
	ref := host + "/big:v1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	o := opts(nil)
	o.Transport = &cutShort{rt: http.DefaultTransport, after: 256 << 10}
	if _, err := Pull(ctx, st, ref, o); err == nil {
		t.Fatal("a pull whose connection broke succeeded")
	}
	if entries, _ := st.List(ctx); len(entries) != 0 {
		t.Errorf("an interrupted pull left %+v", entries)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("the store after an interrupted pull: %v", err)
	}
}

// cutShort breaks every response body after a number of bytes in all.
type cutShort struct {
	rt    http.RoundTripper
	after int
}

func (c *cutShort) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &breaking{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type breaking struct {
	io.ReadCloser
	c *cutShort
}

func (b *breaking) Read(p []byte) (int, error) {
	if b.c.after <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > b.c.after {
		p = p[:b.c.after]
	}
	n, err := b.ReadCloser.Read(p)
	b.c.after -= n
	return n, err
}
