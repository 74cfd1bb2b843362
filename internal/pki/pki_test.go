package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestCAPersistsAndLeavesVerify(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, CACert, CAKey, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, CACert, CAKey, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.Equal(again.Cert) {
		t.Fatal("second load created a new CA; issued kubeconfigs would stop working")
	}
	if fi, _ := os.Stat(filepath.Join(dir, CAKey)); fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, want 0600", fi.Mode().Perm())
	}

	req := LeafRequest{CommonName: "srv", IPs: []net.IP{net.ParseIP("10.77.0.2")}, DNSNames: []string{"localhost"}, Server: true}
	if err := ca.EnsureLeaf(dir, "srv", req); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "srv.crt"))
	if err := ca.EnsureLeaf(dir, "srv", req); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "srv.crt"))
	if string(first) != string(second) {
		t.Error("an up-to-date leaf was reissued")
	}
	// A new node address reissues the serving certificate.
	req.IPs = []net.IP{net.ParseIP("10.77.0.3")}
	if err := ca.EnsureLeaf(dir, "srv", req); err != nil {
		t.Fatal(err)
	}
	third, _ := os.ReadFile(filepath.Join(dir, "srv.crt"))
	block, _ := pem.Decode(third)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.77.0.3"}); err != nil {
		t.Errorf("reissued leaf does not verify for the new address: %v", err)
	}
}

func TestClientKubeconfig(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir(), CACert, CAKey, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.ClientKubeconfig("https://10.77.0.2:6443", "alice", []string{"dev", "ops"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	auth := cfg.AuthInfos["alice"]
	if auth == nil || cfg.Clusters["dvp"].Server != "https://10.77.0.2:6443" {
		t.Fatalf("kubeconfig %+v", cfg)
	}
	block, _ := pem.Decode(auth.ClientCertificateData)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "alice" || len(cert.Subject.Organization) != 2 || cert.Subject.Organization[0] != "dev" {
		t.Errorf("subject %v", cert.Subject)
	}
	if cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ext key usage %v", cert.ExtKeyUsage)
	}
}
