package image

import (
	"net"
	"net/url"
	"os/exec"
	"sort"

	gcrv1 "github.com/google/go-containerregistry/pkg/v1"
)

var netDNSNotFound = net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

type v1Layer = gcrv1.Layer

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
