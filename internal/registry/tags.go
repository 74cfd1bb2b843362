package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	godigest "github.com/opencontainers/go-digest"
)

// tagRE is the OCI distribution grammar of a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// TagDigest returns the manifest digest tag points at in repo, read from
// the registry's storage. The platform records an image's digest when its
// import ends; this serves images imported before it did.
func (r *Registry) TagDigest(repo, tag string) (string, error) {
	if _, err := reference.WithName(repo); err != nil {
		return "", fmt.Errorf("repository %q: %w", repo, err)
	}
	if !tagRE.MatchString(tag) {
		return "", fmt.Errorf("tag %q is not a tag", tag)
	}
	link := filepath.Join(r.opts.RootDir, filepath.FromSlash(repositoriesDir), filepath.FromSlash(repo), "_manifests", "tags", tag, "current", "link")
	b, err := os.ReadFile(link)
	if err != nil {
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	d, err := godigest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	return d.String(), nil
}
