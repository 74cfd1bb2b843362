package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Destination is a repository and tag in a registry with the credentials
// to push there. CopyImage also takes one as its source, with pull
// credentials; there Tag may be a digest ("sha256:...").
type Destination struct {
	Repository         string // host[:port]/path
	Tag                string
	Username, Password string // empty: anonymous
	CAFile             string // PEM certificates to trust besides the system roots
	// Insecure speaks plain HTTP. Without it the registry is always
	// reached over HTTPS, also at loopback and private addresses, where
	// go-containerregistry would otherwise try HTTP.
	Insecure bool
}

// ParseDestination splits "host:port/path:tag" or "host:port/path@sha256:..."
// into Repository and Tag.
func ParseDestination(ref string) (Destination, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return Destination{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if host, _, _ := strings.Cut(ref, "/"); !strings.ContainsAny(host, ".:") && host != "localhost" {
		return Destination{}, fmt.Errorf("image reference %q: name the registry host", ref)
	}
	return Destination{Repository: r.Context().Name(), Tag: r.Identifier()}, nil
}

// String is the reference: repository:tag or repository@digest.
func (d Destination) String() string {
	if strings.Contains(d.Tag, ":") {
		return d.Repository + "@" + d.Tag
	}
	return d.Repository + ":" + d.Tag
}

func (d Destination) reference() (name.Reference, error) {
	var opts []name.Option
	if d.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(d.String(), append(opts, name.StrictValidation)...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", d.String(), err)
	}
	return ref, nil
}

func (d Destination) remoteOptions(ctx context.Context, ref name.Reference) ([]remote.Option, error) {
	rt, auth, err := d.transport(ref)
	if err != nil {
		return nil, err
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt)}, nil
}

// transport is the HTTP transport (TLS with d's CA) and credentials for
// d's registry.
func (d Destination) transport(ref name.Reference) (http.RoundTripper, authn.Authenticator, error) {
	var ca []byte
	if d.CAFile != "" {
		b, err := os.ReadFile(d.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("registry CA: %w", err)
		}
		ca = b
	}
	auth := authn.Anonymous
	if d.Username != "" || d.Password != "" {
		auth = &authn.Basic{Username: d.Username, Password: d.Password}
	}
	rt, err := baseTransport(ref, ca, d.Insecure, nil)
	return rt, auth, err
}

// remoteOptions is the transport, auth and context for one registry;
// policy, if not nil, vets every address the transport dials.
func remoteOptions(ctx context.Context, ref name.Reference, caPEM []byte, insecure bool, auth authn.Authenticator, policy *AddressPolicy) ([]remote.Option, error) {
	rt, err := baseTransport(ref, caPEM, insecure, policy)
	if err != nil {
		return nil, err
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt)}, nil
}

func baseTransport(ref name.Reference, caPEM []byte, insecure bool, policy *AddressPolicy) (http.RoundTripper, error) {
	tr, err := newTransport(caPEM)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", ref.Context().RegistryStr(), err)
	}
	if policy != nil {
		tr.DialContext = policy.DialContext
	}
	if insecure {
		return tr, nil
	}
	return &forceHTTPS{host: ref.Context().RegistryStr(), next: tr}, nil
}

// forceHTTPS undoes go-containerregistry's guess that a registry at a
// loopback or private address speaks plain HTTP: DVCR is HTTPS with a
// cluster CA at such addresses.
type forceHTTPS struct {
	host string
	next http.RoundTripper
}

func (t *forceHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && r.URL.Host == t.host {
		r = r.Clone(r.Context())
		r.URL.Scheme = "https"
	}
	return t.next.RoundTrip(r)
}

// classifyRegistry wraps a registry error in the sentinel it stands for.
func classifyRegistry(err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := forbiddenAddress(err); ok {
		return fe // says all; the URL around it only repeats the address
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrRegistryAuth, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %w", ErrRegistryAuth, err)
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return fmt.Errorf("%w: %w", ErrNotFound, err)
			}
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("%w: %w", ErrDNS, err)
	}
	return err
}

// DockerConfigCredentials finds the user name and password for registry
// (host[:port]) in a docker config JSON; both are empty when it has none.
func DockerConfigCredentials(config []byte, registry string) (username, password string, err error) {
	auth, err := dockerConfigAuth(config, registry)
	if err != nil {
		return "", "", err
	}
	cfg, err := auth.Authorization()
	if err != nil {
		return "", "", err
	}
	return cfg.Username, cfg.Password, nil
}

// dockerConfigAuth finds the credentials for registry (host[:port]) in a
// docker config JSON ({"auths": {...}}, or the older bare map). It returns
// authn.Anonymous when the config has none for that registry.
func dockerConfigAuth(config []byte, registry string) (authn.Authenticator, error) {
	var cfg struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	if cfg.Auths == nil {
		if err := json.Unmarshal(config, &cfg.Auths); err != nil {
			return nil, fmt.Errorf("docker config: %w", err)
		}
	}
	keys := []string{registry, "https://" + registry, "http://" + registry, "https://" + registry + "/v1/", "https://" + registry + "/v2/"}
	if registry == name.DefaultRegistry {
		keys = append(keys, "docker.io", "https://index.docker.io/v1/")
	}
	for _, k := range keys {
		if ac, ok := cfg.Auths[k]; ok {
			return authn.FromConfig(ac), nil
		}
	}
	return authn.Anonymous, nil
}
