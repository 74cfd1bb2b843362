package node

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/virtlab/dvp/internal/fsutil"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/registry"
)

// dvcrCredentialsFile is written into a container's private run directory.
const dvcrCredentialsFile = "dvcr-credentials.json"

// writeDVCRCredentials gives a container of the platform image the DVCR
// credentials its spec asks for (image.DVCRScopeEnv), bound to the pod's
// UID: they work only while the pod exists and never pass through the API,
// where whoever may read the namespace's Secrets or pods would see them.
// The scope itself is trusted because only the platform may create pods of
// its image (a ValidatingAdmissionPolicy) and a container's environment
// cannot be changed after creation. It returns the file's path, or "" when
// the container asks for nothing.
func (p *Provider) writeDVCRCredentials(pod *corev1.Pod, c *corev1.Container, runDir string) (string, error) {
	var want string
	for _, e := range c.Env {
		if e.Name == image.DVCRScopeEnv {
			want = e.Value
		}
	}
	if want == "" {
		return "", nil
	}
	scopes, err := image.ParseDVCRScopes(want)
	if err != nil {
		return "", err
	}
	if len(p.dvcrSecret) == 0 {
		return "", fmt.Errorf("%s is set but this node has no DVCR secret", image.DVCRScopeEnv)
	}
	if pod.UID == "" {
		return "", fmt.Errorf("pod has no UID to bind DVCR credentials to")
	}
	creds := map[string]image.DVCRCredential{}
	for _, s := range scopes {
		u, pw := registry.PodCredentials(p.dvcrSecret, s.Repository, s.Push, string(pod.UID))
		creds[s.String()] = image.DVCRCredential{Username: u, Password: pw}
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return "", err
	}
	path := filepath.Join(runDir, dvcrCredentialsFile)
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return "", fmt.Errorf("writing DVCR credentials: %w", err)
	}
	return path, nil
}
