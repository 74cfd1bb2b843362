package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/virtlab/dvp/internal/fsutil"
)

// File names inside the PKI directory. Other packages use these to build
// component flags, so they are the single place the layout is defined.
const (
	CACert            = "ca.crt"
	CAKey             = "ca.key"
	FrontProxyCACert  = "front-proxy-ca.crt"
	FrontProxyCAKey   = "front-proxy-ca.key"
	FrontProxyClient  = "front-proxy-client"
	APIServerServing  = "apiserver"
	APIServerKubelet  = "apiserver-kubelet-client"
	ServiceAccountKey = "sa.key"
	ServiceAccountPub = "sa.pub"
	PlatformServing   = "platform-serving"
	// WebhookClient is what kube-apiserver presents to the platform's
	// webhooks; they refuse requests that lack it.
	WebhookClient = "webhook-client"
	// WebhookClientCN is the common name of that certificate.
	WebhookClientCN = "kube-apiserver-webhook-client"

	// etcd has a CA of its own, as in kubeadm: the main CA signs every
	// user's client certificate (dvp kubeconfig), and none of those may
	// open etcd. Only kube-apiserver holds a client certificate of this CA.
	EtcdCACert    = "etcd-ca.crt"
	EtcdCAKey     = "etcd-ca.key"
	EtcdServer    = "etcd-server"
	EtcdPeer      = "etcd-peer"
	EtcdAPIClient = "apiserver-etcd-client"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 5 * 365 * 24 * time.Hour
)

// CA is a certificate authority that can sign leaf certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
}

// LoadOrCreateCA loads dir/certName+keyName, creating a new CA on first use.
func LoadOrCreateCA(dir, certName, keyName, commonName string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if _, err := os.Stat(certPath); err == nil {
		return LoadCA(certPath, keyPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA %s: %w", commonName, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKeyPair(certPath, keyPath, certPEM, key); err != nil {
		return nil, err
	}
	return LoadCA(certPath, keyPath)
}

// LoadCA reads an existing CA.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// LeafRequest describes one certificate to issue.
type LeafRequest struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Server       bool
	Client       bool
}

// Issue signs a new leaf and returns its PEM-encoded certificate and key.
func (ca *CA) Issue(req LeafRequest) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate for %s: %w", req.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// EnsureLeaf writes dir/name.crt and dir/name.key unless a certificate there is
// still valid for the request's names and addresses. Serving certificates are
// reissued when the node address changes.
func (ca *CA) EnsureLeaf(dir, name string, req LeafRequest) error {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if b, err := os.ReadFile(certPath); err == nil {
		if c, err := parseCert(b); err == nil && covers(c, req) && c.CheckSignatureFrom(ca.Cert) == nil &&
			time.Until(c.NotAfter) > 30*24*time.Hour {
			return nil
		}
	}
	certPEM, keyPEM, err := ca.Issue(req)
	if err != nil {
		return err
	}
	if err := atomicWrite(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return atomicWrite(certPath, certPEM, 0o644)
}

func covers(c *x509.Certificate, req LeafRequest) bool {
	if c.Subject.CommonName != req.CommonName {
		return false
	}
	for _, d := range req.DNSNames {
		if c.VerifyHostname(d) != nil {
			return false
		}
	}
	for _, ip := range req.IPs {
		if c.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// EnsureServiceAccountKey creates the RSA key pair that signs service-account
// tokens, once.
func EnsureServiceAccountKey(dir string) error {
	keyPath, pubPath := filepath.Join(dir, ServiceAccountKey), filepath.Join(dir, ServiceAccountPub)
	if _, err := os.Stat(keyPath); err == nil {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := atomicWrite(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	return atomicWrite(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}

func writeKeyPair(certPath, keyPath string, certPEM []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicWrite(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicWrite(certPath, certPEM, 0o644)
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key", path)
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key type", path)
		}
		return s, nil
	}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

// atomicWrite replaces path in one rename, so a crash never leaves a torn key.
func atomicWrite(path string, data []byte, mode os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, mode)
}

// WriteFile is atomicWrite for callers outside the package (kubeconfigs).
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return atomicWrite(path, data, mode)
}
