package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// selfSigned makes a TLS certificate for ip, as a private registry has.
func selfSigned(t *testing.T, ip string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}

// TestContainerImageSource imports a disk packed as an OCI image (FROM
// scratch, the file under /disk/) from a private TLS registry that needs a
// pull secret, as the user documentation does with docker.io.
func TestContainerImageSource(t *testing.T) {
	dir, _ := imageFixtures(t)
	srv := harness.Start(t, harness.Options{})
	pullHost, caPEM := diskTestRegistry(t, srv, filepath.Join(dir, "disk.qcow2"), "username/ubuntu2204")

	srv.MustKubectl("create", "ns", "vms")
	auth := base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{pullHost: map[string]string{"auth": auth}}})
	secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: registry-creds, namespace: vms}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n", base64.StdEncoding.EncodeToString(cfg))
	srv.MustKubectlStdin(secret, "apply", "-f", "-")
	vi := func(name, pullSecret string) string {
		return fmt.Sprintf(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata: {name: %s, namespace: vms}
spec:
  storage: ContainerRegistry
  dataSource:
    type: ContainerImage
    containerImage:
      image: %s/username/ubuntu2204:latest
      caBundle: %s
%s`, name, pullHost, base64.StdEncoding.EncodeToString(caPEM), pullSecret)
	}
	srv.MustKubectlStdin(vi("ubuntu-2204", "      imagePullSecret: {name: registry-creds}\n"), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("no-creds", ""), "apply", "-f", "-")

	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "ubuntu-2204", "-o", "jsonpath={.status.phase}")
	if got := srv.MustKubectl("-n", "vms", "get", "vi", "ubuntu-2204", "-o", "jsonpath={.status.format}/{.status.size.unpacked}/{.status.cdrom}"); got != "qcow2/64Mi/false" {
		t.Errorf("format/unpacked/cdrom = %q, want qcow2/64Mi/false", got)
	}
	waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", "no-creds", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vi", "no-creds", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "credentials") && !strings.Contains(msg, "access") {
		t.Errorf("a pull without credentials failed with %q", msg)
	}
}
