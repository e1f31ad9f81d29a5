package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tabula-dev/tabula/errdefs"
)

// dockerHub is the key Docker files Docker Hub's credentials under.
const dockerHub = "https://index.docker.io/v1/"

// credentialKey is the registry server's key in ~/.docker/config.json
// (Docker Hub's for an empty server), which Pull and Push look up too.
func credentialKey(server string) (string, name.Registry, error) {
	if server == "" || server == dockerHub || server == name.DefaultRegistry || server == "docker.io" {
		reg, err := name.NewRegistry(name.DefaultRegistry)
		return dockerHub, reg, err
	}
	reg, err := name.NewRegistry(server)
	if err != nil {
		return "", name.Registry{}, fmt.Errorf("registry %q: %v; want HOST[:PORT]: %w", server, err, errdefs.ErrInvalidArgument)
	}
	return reg.RegistryStr(), reg, nil
}

// Login checks user and password against the registry server (Docker Hub
// when empty) and stores them as docker login does: in
// ~/.docker/config.json ($DOCKER_CONFIG), or in the credential helper it
// names. Pull and Push then use them.
func Login(ctx context.Context, server, user, password string, o Options) error {
	key, reg, err := credentialKey(server)
	if err != nil {
		return err
	}
	if user == "" || password == "" {
		return fmt.Errorf("login to %s: a user name and a password are needed: %w", key, errdefs.ErrInvalidArgument)
	}
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	refused := func(status int) error {
		return fmt.Errorf("login to %s: the registry refused user %s: wrong user name or password (HTTP %d): %w", key, user, status, errdefs.ErrFailedPrecondition)
	}
	t, err := transport.NewWithContext(ctx, reg, auth, rt, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
			return refused(te.StatusCode)
		}
		return fmt.Errorf("login to %s: %w", key, err)
	}
	// The registry's base, which answers 200 to whoever it lets in.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return fmt.Errorf("login to %s: %w", key, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return refused(resp.StatusCode)
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return fmt.Errorf("login to %s: %w", key, err)
	}
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return fmt.Errorf("login to %s: store the credentials: %w", key, err)
	}
	return cf.Save()
}

// Logout forgets the credentials Login stored for server (Docker Hub when
// empty). It reports whether there were any.
func Logout(server string) (bool, error) {
	key, _, err := credentialKey(server)
	if err != nil {
		return false, err
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return false, err
	}
	if _, ok := cf.GetAuthConfigs()[key]; !ok {
		if ac, err := cf.GetAuthConfig(key); err != nil || ac.Username == "" && ac.IdentityToken == "" {
			return false, nil
		}
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return false, fmt.Errorf("logout from %s: %w", key, err)
	}
	return true, cf.Save()
}

// LoginKey is the key under which Login files server's credentials, as
// Docker prints it.
func LoginKey(server string) (string, error) {
	key, _, err := credentialKey(server)
	return key, err
}
