package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// A platform pod does not get DVCR credentials through the API. It
// declares what it needs in its spec, DVCRScopeEnv, and the node runtime
// that starts its processes writes credentials bound to the pod into a file
// in the container's private run directory, named by DVCRCredentialsEnv.
const (
	// DVCRScopeEnv lists the accesses a pod needs, comma separated:
	// "push:vi/<ns>/<name>,pull:cvi/<name>".
	DVCRScopeEnv = "DVP_DVCR_SCOPE"
	// DVCRCredentialsEnv is the path of the credentials file; the node
	// runtime sets it, never the pod's spec.
	DVCRCredentialsEnv = "DVP_DVCR_CREDENTIALS"
)

// DVCRScope is one access of DVCRScopeEnv.
type DVCRScope struct {
	Repository string
	Push       bool
}

// String is the scope as DVCRScopeEnv writes it.
func (s DVCRScope) String() string {
	if s.Push {
		return "push:" + s.Repository
	}
	return "pull:" + s.Repository
}

// FormatDVCRScopes renders scopes for DVCRScopeEnv.
func FormatDVCRScopes(scopes ...DVCRScope) string {
	var parts []string
	for _, s := range scopes {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, ",")
}

// ParseDVCRScopes reads DVCRScopeEnv.
func ParseDVCRScopes(v string) ([]DVCRScope, error) {
	var out []DVCRScope
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		action, repo, ok := strings.Cut(f, ":")
		if !ok || repo == "" || strings.ContainsAny(repo, "@:, ") {
			return nil, fmt.Errorf("%s: %q is not push:<repository> or pull:<repository>", DVCRScopeEnv, f)
		}
		switch action {
		case "push":
			out = append(out, DVCRScope{Repository: repo, Push: true})
		case "pull":
			out = append(out, DVCRScope{Repository: repo})
		default:
			return nil, fmt.Errorf("%s: %q is not push:<repository> or pull:<repository>", DVCRScopeEnv, f)
		}
	}
	return out, nil
}

// DVCRCredential is one entry of the credentials file, keyed by its
// scope's String.
type DVCRCredential struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ErrNoDVCRCredentials: the pod declared no scope that covers the access.
var ErrNoDVCRCredentials = errors.New("no DVCR credentials for this access")

// DVCRCredentials finds the credentials for ref (host/repository:tag or
// @digest) in the file DVCRCredentialsEnv names; push asks for push. A pull
// is covered by a push scope too. It returns ErrNoDVCRCredentials when the
// variable is unset or no scope covers the access.
func DVCRCredentials(getenv func(string) string, ref string, push bool) (user, pass string, err error) {
	path := getenv(DVCRCredentialsEnv)
	if path == "" {
		return "", "", fmt.Errorf("%w: %s is not set", ErrNoDVCRCredentials, DVCRCredentialsEnv)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("reading DVCR credentials: %w", err)
	}
	var creds map[string]DVCRCredential
	if err := json.Unmarshal(b, &creds); err != nil {
		return "", "", fmt.Errorf("reading DVCR credentials %s: %w", path, err)
	}
	repo := r.Context().RepositoryStr()
	keys := []string{DVCRScope{Repository: repo, Push: true}.String()}
	if !push {
		keys = append([]string{DVCRScope{Repository: repo}.String()}, keys...)
	}
	for _, k := range keys {
		if c, ok := creds[k]; ok {
			return c.Username, c.Password, nil
		}
	}
	what := "pull"
	if push {
		what = "push"
	}
	return "", "", fmt.Errorf("%w: %s %s (the pod's %s does not list it)", ErrNoDVCRCredentials, what, repo, DVCRScopeEnv)
}
