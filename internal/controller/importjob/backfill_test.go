package importjob

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

type fakeTags map[string]string

// tagRegistry is a Registry that can also read tags, as DVCR in the
// server's process.
type tagRegistry struct{ fakeTags }

func (tagRegistry) DeleteRepository(context.Context, string) error { return nil }

func (f fakeTags) TagDigest(repo, tag string) (string, error) {
	if d, ok := f[repo+":"+tag]; ok {
		return d, nil
	}
	return "", errors.New("no such tag")
}

func TestBackfillDigest(t *testing.T) {
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "img", Namespace: "ns", UID: "uid-1"}}
	job := &Job{Repository: "vi/ns/img"}
	cases := []struct {
		name      string
		reg       Registry
		want      string
		wantEvent string
	}{
		{"recorded from the tag", tagRegistry{fakeTags{"vi/ns/img:uid-1": "sha256:abc"}}, "sha256:abc", "DigestRecorded"},
		{"tag unreadable", tagRegistry{fakeTags{}}, "", "DigestUnknown"},
		{"no registry in this process", nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var digest string
			rec := record.NewFakeRecorder(4)
			backfillDigest(context.Background(), &Env{Registry: c.reg}, obj, job, ImageStatus{Digest: &digest}, rec)
			if digest != c.want {
				t.Errorf("digest = %q, want %q", digest, c.want)
			}
			select {
			case e := <-rec.Events:
				if c.wantEvent == "" || !strings.Contains(e, c.wantEvent) {
					t.Errorf("event %q, want %q", e, c.wantEvent)
				}
			default:
				if c.wantEvent != "" {
					t.Errorf("no event, want %q", c.wantEvent)
				}
			}
		})
	}
}
