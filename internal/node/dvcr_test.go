package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/registry"
)

func TestWriteDVCRCredentials(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	p := &Provider{dvcrSecret: secret}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "pod-uid"}}
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: image.DVCRScopeEnv, Value: "push:vi/ns/a,pull:cvi/b"}}}
	dir := t.TempDir()
	path, err := p.writeDVCRCredentials(pod, c, dir)
	if err != nil || path != filepath.Join(dir, dvcrCredentialsFile) {
		t.Fatalf("writeDVCRCredentials = %q, %v", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	var got map[string]image.DVCRCredential
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	u, pw := registry.PodCredentials(secret, "vi/ns/a", true, "pod-uid")
	if got["push:vi/ns/a"] != (image.DVCRCredential{Username: u, Password: pw}) {
		t.Errorf("push credentials %+v", got["push:vi/ns/a"])
	}
	u, pw = registry.PodCredentials(secret, "cvi/b", false, "pod-uid")
	if got["pull:cvi/b"] != (image.DVCRCredential{Username: u, Password: pw}) || len(got) != 2 {
		t.Errorf("credentials %+v", got)
	}

	// Nothing asked, nothing written.
	if path, err := p.writeDVCRCredentials(pod, &corev1.Container{}, t.TempDir()); path != "" || err != nil {
		t.Errorf("no scope: %q, %v", path, err)
	}
	// A bad scope fails the start rather than being ignored.
	bad := &corev1.Container{Env: []corev1.EnvVar{{Name: image.DVCRScopeEnv, Value: "delete:vi/ns/a"}}}
	if _, err := p.writeDVCRCredentials(pod, bad, t.TempDir()); err == nil {
		t.Error("a bad scope was accepted")
	}
}
