package registry

import (
	"strings"
	"testing"
)

func TestTagDigest(t *testing.T) {
	tr := startRegistry(t, nil)
	img := randomImage(t, 1024, 1)
	if err := tr.push("vi/ns/img", "uid-1", img, tr.creds("vi/ns/img", true), nil); err != nil {
		t.Fatal(err)
	}
	got, err := tr.TagDigest("vi/ns/img", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := digest(t, img).String(); got != want {
		t.Errorf("TagDigest = %s, want %s", got, want)
	}
	for _, c := range []struct{ repo, tag, want string }{
		{"vi/ns/img", "other", "no such file"},
		{"vi/ns/img", "../../../x", "is not a tag"},
		{"../etc", "uid-1", "repository"},
	} {
		if _, err := tr.TagDigest(c.repo, c.tag); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TagDigest(%q, %q) = %v, want an error with %q", c.repo, c.tag, err, c.want)
		}
	}
}
