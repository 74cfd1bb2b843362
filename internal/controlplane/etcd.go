package controlplane

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/virtlab/dvp/internal/pki"
)

// startEtcd starts a single-member etcd on loopback. Its data directory is the
// only place cluster state is kept; the returned etcd must be closed on exit.
//
// Loopback is not a boundary on its own: anything on the host reaches it,
// and so did guests through QEMU's user-mode networking. Both the client and
// the peer listener therefore speak TLS and demand a client certificate
// signed by etcd's own CA, which only kube-apiserver (and etcd itself, for
// its peer port) holds. There is no plain listener and no metrics listener.
func startEtcd(ctx context.Context, dataDir, pkiDir string, clientPort int) (*embed.Etcd, error) {
	p := func(name string) string { return filepath.Join(pkiDir, name) }
	cfg := embed.NewConfig()
	cfg.Name = "dvp"
	cfg.Dir = filepath.Join(dataDir, "etcd")
	client := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peer := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", clientPort+1)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.ClientTLSInfo = transport.TLSInfo{
		CertFile:       p(pki.EtcdServer + ".crt"),
		KeyFile:        p(pki.EtcdServer + ".key"),
		TrustedCAFile:  p(pki.EtcdCACert),
		ClientCertAuth: true,
	}
	cfg.PeerTLSInfo = transport.TLSInfo{
		CertFile:       p(pki.EtcdPeer + ".crt"),
		KeyFile:        p(pki.EtcdPeer + ".key"),
		TrustedCAFile:  p(pki.EtcdCACert),
		ClientCertAuth: true,
	}
	cfg.ListenMetricsUrls = nil
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(dataDir, "logs", "etcd.log")}
	// Compact old revisions so a long-running all-in-one platform does not
	// grow its database without bound.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "10m"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd on %s (is another dvp server using port %d?): %w", client.Host, clientPort, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(2 * time.Minute):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready in 2m; see %s", cfg.LogOutputs[0])
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}
