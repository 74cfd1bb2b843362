package registry

import (
	"regexp"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

func TestRepositoryNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{VIRepository("vms", "ubuntu"), "vi/vms/ubuntu"},
		{CVIRepository("ubuntu-22.04"), "cvi/ubuntu-22.04"},
		{VDRepository("vms", "root-disk"), "vd/vms/root-disk"},
		// Exactly at the limit: kept as is.
		{CVIRepository(strings.Repeat("a", 251)), "cvi/" + strings.Repeat("a", 251)},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

var hashSuffix = regexp.MustCompile(`-[0-9a-f]{16}$`)

func TestLongRepositoryNamesAreTrimmed(t *testing.T) {
	ns := strings.Repeat("n", 63) // the longest namespace
	long := strings.Repeat("a", 253)
	// keep is how much of the name fits beside "vi/<ns>/" and the suffix.
	keep := maxRepositoryLen - len("vi/"+ns+"/") - len("-0123456789abcdef")

	for _, tc := range []struct {
		name string
		repo string
	}{
		{"longest vi", VIRepository(ns, long)},
		{"longest vd", VDRepository(ns, long)},
		{"longest cvi", CVIRepository(long)},
		{"one over", CVIRepository(strings.Repeat("a", 252))},
		{"cut after a dot", VIRepository(ns, strings.Repeat("a", keep-1)+"."+strings.Repeat("b", 50))},
		{"cut after dashes", VIRepository(ns, strings.Repeat("a", keep-2)+"--"+strings.Repeat("b", 50))},
	} {
		if len(tc.repo) > maxRepositoryLen {
			t.Errorf("%s: %d characters, want at most %d", tc.name, len(tc.repo), maxRepositoryLen)
		}
		if !hashSuffix.MatchString(tc.repo) {
			t.Errorf("%s: %q has no hash suffix", tc.name, tc.repo)
		}
		if _, err := reference.WithName(tc.repo); err != nil {
			t.Errorf("%s: %q is not a valid repository name: %v", tc.name, tc.repo, err)
		}
	}

	if !strings.HasPrefix(VIRepository(ns, long), "vi/"+ns+"/aaaa") {
		t.Errorf("trimmed name lost its prefix: %q", VIRepository(ns, long))
	}
	if first, second := VIRepository(ns, long), VIRepository(ns, long); first != second {
		t.Errorf("trimming is not deterministic")
	}
	// Names that differ only past the cut still get different repositories,
	// and so do the same name in different kinds and namespaces.
	seen := map[string]string{}
	for _, repo := range []string{
		VIRepository(ns, long),
		VIRepository(ns, long[:252]+"b"),
		VDRepository(ns, long),
		VIRepository(strings.Repeat("m", 63), long),
	} {
		if prev, ok := seen[repo[len(repo)-16:]]; ok {
			t.Errorf("%q and %q share a hash", prev, repo)
		}
		seen[repo[len(repo)-16:]] = repo
	}
}

func FuzzRepositoryName(f *testing.F) {
	f.Add("ns", "name")
	f.Add(strings.Repeat("n", 63), strings.Repeat("a.b-c", 50))
	// Kubernetes names: DNS-1123 subdomain (name), label (namespace).
	subdomain := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	label := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	f.Fuzz(func(t *testing.T, ns, name string) {
		if len(ns) > 63 || !label.MatchString(ns) || len(name) > 253 || !subdomain.MatchString(name) {
			t.Skip()
		}
		for _, repo := range []string{VIRepository(ns, name), VDRepository(ns, name), CVIRepository(name)} {
			if _, err := reference.WithName(repo); err != nil {
				t.Errorf("%q: %v", repo, err)
			}
		}
	})
}
