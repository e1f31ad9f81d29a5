// Package registry pulls images from registries into the store and pushes
// them from it, through go-containerregistry's remote package: the
// distribution protocol, credentials from ~/.docker/config.json and its
// credential helpers (what docker login leaves), retries. A registry on
// localhost or a private address is spoken to over plain HTTP when it
// offers no TLS, as Docker does for localhost.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/store"
)

// Options shape Pull and Push.
type Options struct {
	// Platform picks the image of a multi-platform image; nil: linux on
	// this machine's architecture.
	Platform *v1.Platform
	// Progress receives Docker's lines as the transfer goes; nil: none.
	Progress io.Writer
	// Keychain finds credentials; nil: ~/.docker/config.json and its
	// credential helpers.
	Keychain authn.Keychain
	// Transport carries the requests; nil: Go's default.
	Transport http.RoundTripper
}

func (o *Options) remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithUserAgent("tabula")}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// progress prints Docker's lines to w (none when nil), one at a time:
// layers move on several goroutines.
type progress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *progress) say(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// DefaultPlatform is linux on this machine's architecture.
func DefaultPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// ParsePlatform reads OS/ARCH[/VARIANT], as --platform.
func ParsePlatform(s string) (*v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return nil, fmt.Errorf("--platform %q: want OS/ARCH[/VARIANT], such as linux/amd64: %w", s, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// Pull fetches image ref (NAME[:TAG] or NAME@DIGEST, Docker Hub when NAME
// names no registry) and stores it, under its name unless ref is a digest.
// Each blob is verified against its digest as it is stored; an interrupted
// pull leaves the store as it was.
func Pull(ctx context.Context, st *store.Store, ref string, o Options) (v1.Descriptor, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("pull %q: %v; want NAME[:TAG] or NAME@DIGEST: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	if r.Context().Name() == name.DefaultRegistry+"/library/scratch" {
		return v1.Descriptor{}, fmt.Errorf("pull %s: scratch is a reserved name, not an image: FROM scratch starts a Dockerfile from nothing, and there is nothing to pull: %w", ref, errdefs.ErrInvalidArgument)
	}
	platform := DefaultPlatform()
	if o.Platform != nil {
		platform = *o.Platform
	}
	p := &progress{w: o.Progress}
	p.say("%s: Pulling from %s", r.Identifier(), familiarRepo(r.Context()))
	img, err := remote.Image(r, append(o.remote(ctx), remote.WithPlatform(platform))...)
	if err != nil {
		return v1.Descriptor{}, explain("pull", ref, err)
	}
	var names []string
	status := "Downloaded newer image for"
	if t, ok := r.(name.Tag); ok {
		names = []string{t.String()}
		if had, err := st.Resolve(ctx, t.String()); err == nil {
			if d, err := img.Digest(); err == nil && d == had.Manifest.Digest {
				status = "Image is up to date for"
			}
		}
	}
	read := func(d v1.Hash) { p.say("%s: Pull complete", shortHex(d)) }
	desc, err := st.Write(ctx, &counted{Image: img, read: read}, names...)
	if err != nil {
		return v1.Descriptor{}, explain("pull", ref, err)
	}
	p.say("Digest: %s", desc.Digest)
	p.say("Status: %s %s", status, ref)
	return desc, nil
}

// Push sends image ref (NAME[:TAG], as named in the store) to the registry
// its name names. It returns the pushed manifest's digest.
func Push(ctx context.Context, st *store.Store, ref string, o Options) (v1.Hash, error) {
	t, err := name.NewTag(ref, name.WithDefaultTag("latest"))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %q: %v; want NAME[:TAG]: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	img, err := st.Image(ctx, ref)
	if err != nil {
		return v1.Hash{}, err
	}
	p := &progress{w: o.Progress}
	p.say("The push refers to repository [%s]", t.Context().Name())
	var mu sync.Mutex
	pushed := map[v1.Hash]bool{}
	read := func(d v1.Hash) {
		mu.Lock()
		pushed[d] = true
		mu.Unlock()
		p.say("%s: Pushed", shortHex(d))
	}
	if err := remote.Write(t, &counted{Image: img, read: read}, o.remote(ctx)...); err != nil {
		return v1.Hash{}, explain("push", ref, err)
	}
	// The registry had the others: they were not sent.
	if layers, err := img.Layers(); err == nil {
		for _, l := range layers {
			if d, err := l.Digest(); err == nil && !pushed[d] {
				p.say("%s: Layer already exists", shortHex(d))
			}
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	p.say("%s: digest: %s size: %d", t.TagStr(), digest, len(raw))
	return digest, nil
}

// familiarRepo is repo as Docker prints it: docker.io/library/alpine is
// "library/alpine".
func familiarRepo(repo name.Repository) string {
	if repo.RegistryStr() == name.DefaultRegistry {
		return repo.RepositoryStr()
	}
	return repo.Name()
}

// explain turns a registry's error into one that says what to do, with
// the errdefs class tabula's exit codes follow.
func explain(verb, ref string, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled):
			return err
		case errors.As(err, &ne):
			return fmt.Errorf("%s %s: the registry cannot be reached: %w", verb, ref, err)
		}
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return fmt.Errorf("%s %s: the registry has no such image (%s): %w", verb, ref, d.Message, errdefs.ErrNotFound)
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return fmt.Errorf("%s %s: the registry refused access (%s); log in with tabula login (or docker login: tabula reads ~/.docker/config.json): %w",
				verb, ref, d.Message, errdefs.ErrFailedPrecondition)
		}
	}
	switch te.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%s %s: the registry has no such image: %w", verb, ref, errdefs.ErrNotFound)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s %s: the registry refused access (HTTP %d); log in with tabula login (or docker login: tabula reads ~/.docker/config.json): %w",
			verb, ref, te.StatusCode, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("%s %s: %w", verb, ref, err)
}

// counted is an image whose layers say when each has been read whole, to
// read: Docker's "Pull complete" and "Pushed" lines.
type counted struct {
	v1.Image
	read func(v1.Hash)
}

func (c *counted) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &countedLayer{Layer: l, read: c.read}
	}
	return out, nil
}

func (c *counted) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := c.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &countedLayer{Layer: l, read: c.read}, nil
}

type countedLayer struct {
	v1.Layer
	read func(v1.Hash)
}

func (l *countedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	d, _ := l.Digest()
	return &completion{ReadCloser: rc, done: func() { l.read(d) }}, nil
}

// completion calls done once its reader reaches its end.
type completion struct {
	io.ReadCloser
	done func()
}

func (c *completion) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err == io.EOF && c.done != nil {
		c.done()
		c.done = nil
	}
	return n, err
}

func shortHex(h v1.Hash) string { return h.Hex[:min(12, len(h.Hex))] }
