package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/netutil"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/subresources"
)

// Platform starts the platform's own components (controllers, webhooks) once
// the API is up, and returns when ctx is done. ready is closed when they serve.
type Platform func(ctx context.Context, p PlatformEnv, ready chan<- struct{}) error

// PlatformEnv is what the platform components need from the server.
type PlatformEnv struct {
	RESTConfig *rest.Config
	NodeIP     net.IP
	Config     *config.Config
	// CertDir holds PlatformServing .crt/.key for the webhook server and ca.crt.
	CertDir string
	// DVCR is the platform's registry.
	DVCR *DVCR
}

// Server is one all-in-one control plane bound to a data directory.
type Server struct {
	// StopVMsOnExit stops the nodes' pods (and so their machines) when the
	// server stops, instead of leaving them for the next start to adopt.
	StopVMsOnExit bool

	dataDir  string
	cfg      *config.Config
	nodeIP   net.IP
	platform Platform
	ca       *pki.CA
}

// New checks the settings and resolves the node address. It fails with an
// actionable message when no address can be advertised.
func New(dataDir string, cfg *config.Config, platform Platform) (*Server, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	var ip net.IP
	if cfg.NodeAddress != "" {
		ip = net.ParseIP(cfg.NodeAddress).To4()
		if !netutil.HasAddress(ip) {
			return nil, fmt.Errorf("nodeAddress %s is not assigned to any interface of this host (in this network namespace)", ip)
		}
	} else if ip, err = netutil.PrimaryIPv4(); err != nil {
		return nil, err
	}
	return &Server{dataDir: abs, cfg: cfg, nodeIP: ip, platform: platform}, nil
}

func (s *Server) pkiDir() string { return filepath.Join(s.dataDir, "pki") }
func (s *Server) logDir() string { return filepath.Join(s.dataDir, "logs") }
func (s *Server) componentKubeconfig(name string) string {
	return filepath.Join(s.dataDir, "kubeconfigs", name+".kubeconfig")
}

// AdminKubeconfigPath is where the admin kubeconfig appears once the platform
// is ready.
func AdminKubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "kubeconfig") }

// Run starts everything, writes the admin kubeconfig when the platform is
// ready, and blocks until ctx is done, then stops in reverse order.
func (s *Server) Run(ctx context.Context) error {
	log := klog.FromContext(ctx)
	start := time.Now()
	for _, d := range []string{s.dataDir, s.pkiDir(), s.logDir(), filepath.Join(s.dataDir, "kubeconfigs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	unlock, err := lockDataDir(s.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	// The kubeconfig doubles as the readiness signal: remove a stale one so
	// nobody mistakes a previous run's file for this run being ready.
	_ = os.Remove(AdminKubeconfigPath(s.dataDir))

	if err := s.ensurePKI(); err != nil {
		return fmt.Errorf("preparing certificates: %w", err)
	}

	etcd, err := startEtcd(ctx, s.dataDir, s.pkiDir(), s.cfg.EtcdPort)
	if err != nil {
		return err
	}
	defer etcd.Close()
	log.Info("etcd ready", "elapsed", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	apiErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		apiErr <- runAPIServer(ctx, s.apiserverArgs())
	}()

	adminCfg, err := s.restConfigFor("dvp:admin", []string{"system:masters"}, s.loopbackURL())
	if err != nil {
		return err
	}
	if err := waitForAPI(ctx, adminCfg, apiErr); err != nil {
		return err
	}
	log.Info("kube-apiserver ready", "elapsed", time.Since(start).Round(time.Millisecond))

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	for _, c := range []*child{
		{name: "kube-controller-manager", args: s.controllerManagerArgs()},
		{name: "kube-scheduler", args: s.schedulerArgs()},
	} {
		c.logPath = filepath.Join(s.logDir(), c.name+".log")
		wg.Add(1)
		go func() { defer wg.Done(); c.supervise(ctx, exe) }()
	}

	if err := s.bootstrapAPI(ctx, adminCfg); err != nil {
		return fmt.Errorf("installing the API: %w", err)
	}

	dvcr, dvcrErr, err := s.startDVCR(ctx, &wg)
	if err != nil {
		return err
	}
	log.Info("DVCR serving", "address", dvcr.Address)

	platformErr := make(chan error, 1)
	if s.platform != nil {
		ready := make(chan struct{})
		ctrlCfg, err := s.restConfigFor("dvp:controller", []string{"system:masters"}, s.loopbackURL())
		if err != nil {
			return err
		}
		env := PlatformEnv{RESTConfig: ctrlCfg, NodeIP: s.nodeIP, Config: s.cfg, CertDir: s.pkiDir(), DVCR: dvcr}
		wg.Add(1)
		go func() { defer wg.Done(); platformErr <- s.platform(ctx, env, ready) }()
		select {
		case <-ready:
		case err := <-platformErr:
			return fmt.Errorf("platform components: %w", err)
		case err := <-apiErr:
			return fmt.Errorf("kube-apiserver stopped: %w", err)
		case <-ctx.Done():
			return nil
		}
		if err := s.registerWebhooks(ctx, adminCfg); err != nil {
			return fmt.Errorf("registering admission webhooks: %w", err)
		}
	}
	if err := s.bootstrapObjects(ctx, adminCfg); err != nil {
		return fmt.Errorf("creating built-in objects: %w", err)
	}
	if s.platform == nil {
		// The controllers run in their own process (dvp controller) and
		// serve the webhooks and the console at the same address; until
		// it is up, admission of the platform's kinds fails closed.
		if err := s.registerWebhooks(ctx, adminCfg); err != nil {
			return fmt.Errorf("registering admission webhooks: %w", err)
		}
		if err := s.writeControllerKubeconfig(); err != nil {
			return err
		}
	}
	storageErr, err := s.startStorage(ctx, &wg, dvcr)
	if err != nil {
		return err
	}
	nodeErr, err := s.startNodes(ctx, &wg, exe, dvcr.Secret)
	if err != nil {
		return err
	}

	if err := s.writeAdminKubeconfig(); err != nil {
		return err
	}
	log.Info("Platform ready", "elapsed", time.Since(start).Round(time.Millisecond),
		"kubeconfig", AdminKubeconfigPath(s.dataDir), "server", s.externalURL())

	select {
	case <-ctx.Done():
		log.Info("Stopping")
		return nil
	case err := <-apiErr:
		return fmt.Errorf("kube-apiserver stopped: %w", err)
	case err := <-platformErr:
		return fmt.Errorf("platform components stopped: %w", err)
	case err := <-nodeErr:
		return fmt.Errorf("node runtime stopped: %w", err)
	case err := <-storageErr:
		return fmt.Errorf("storage stopped: %w", err)
	case err := <-dvcrErr:
		return err
	}
}

// ControllerKubeconfigPath is where a server without in-process
// controllers writes the kubeconfig of the platform's controller identity,
// for `dvp controller`.
func ControllerKubeconfigPath(dataDir string) string {
	return filepath.Join(dataDir, "controller.kubeconfig")
}

func (s *Server) writeControllerKubeconfig() error {
	b, err := s.ca.ClientKubeconfig(s.externalURL(), platform.ControllerUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	return pki.WriteFile(ControllerKubeconfigPath(s.dataDir), b, 0o600)
}

func (s *Server) loopbackURL() string { return fmt.Sprintf("https://127.0.0.1:%d", s.cfg.APIPort) }
func (s *Server) externalURL() string {
	return fmt.Sprintf("https://%s", net.JoinHostPort(s.nodeIP.String(), fmt.Sprint(s.cfg.APIPort)))
}

// ensurePKI creates CAs and keys on first start and (re)issues leaf
// certificates whose names no longer match, e.g. after a node address change.
func (s *Server) ensurePKI() error {
	dir := s.pkiDir()
	ca, err := pki.LoadOrCreateCA(dir, pki.CACert, pki.CAKey, "dvp-ca")
	if err != nil {
		return err
	}
	s.ca = ca
	fp, err := pki.LoadOrCreateCA(dir, pki.FrontProxyCACert, pki.FrontProxyCAKey, "dvp-front-proxy-ca")
	if err != nil {
		return err
	}
	etcdCA, err := pki.LoadOrCreateCA(dir, pki.EtcdCACert, pki.EtcdCAKey, "dvp-etcd-ca")
	if err != nil {
		return err
	}
	if err := pki.EnsureServiceAccountKey(dir); err != nil {
		return err
	}
	host, _ := os.Hostname()
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	serving := pki.LeafRequest{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), s.nodeIP, net.IPv4(10, 96, 0, 1)},
		Server:     true,
	}
	if host != "" {
		serving.DNSNames = append(serving.DNSNames, host)
	}
	leaves := []struct {
		ca   *pki.CA
		name string
		req  pki.LeafRequest
	}{
		{ca, pki.APIServerServing, serving},
		{ca, pki.APIServerKubelet, pki.LeafRequest{CommonName: kubeletClientCN, Organization: []string{"system:masters"}, Client: true}},
		{fp, pki.FrontProxyClient, pki.LeafRequest{CommonName: pki.FrontProxyClient, Client: true}},
		{ca, pki.WebhookClient, pki.LeafRequest{CommonName: pki.WebhookClientCN, Client: true}},
		{etcdCA, pki.EtcdServer, pki.LeafRequest{CommonName: "etcd-server", DNSNames: []string{"localhost"}, IPs: loopback, Server: true}},
		{etcdCA, pki.EtcdPeer, pki.LeafRequest{CommonName: "etcd-peer", DNSNames: []string{"localhost"}, IPs: loopback, Server: true, Client: true}},
		{etcdCA, pki.EtcdAPIClient, pki.LeafRequest{CommonName: "kube-apiserver-etcd-client", Client: true}},
		{ca, pki.PlatformServing, pki.LeafRequest{CommonName: "dvp-platform", DNSNames: []string{"localhost", DVCRHost, subresources.ServiceName + "." + platform.Namespace + ".svc"},
			IPs: []net.IP{net.IPv4(127, 0, 0, 1), s.nodeIP}, Server: true}},
	}
	for _, n := range s.cfg.Nodes {
		leaves = append(leaves, struct {
			ca   *pki.CA
			name string
			req  pki.LeafRequest
		}{ca, nodeCertName(n.Name), pki.LeafRequest{CommonName: "system:node:" + n.Name, Organization: []string{"system:nodes"},
			DNSNames: []string{n.Name}, IPs: []net.IP{s.nodeIP}, Server: true}})
	}
	for _, l := range leaves {
		if err := l.ca.EnsureLeaf(dir, l.name, l.req); err != nil {
			return err
		}
	}
	if err := s.writeAdmissionConfig(); err != nil {
		return err
	}
	for _, comp := range []struct{ name, user string }{
		{"kube-controller-manager", "system:kube-controller-manager"},
		{"kube-scheduler", "system:kube-scheduler"},
	} {
		if _, err := os.Stat(s.componentKubeconfig(comp.name)); err == nil {
			continue
		}
		b, err := ca.ClientKubeconfig(s.loopbackURL(), comp.user, nil)
		if err != nil {
			return err
		}
		if err := pki.WriteFile(s.componentKubeconfig(comp.name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) restConfigFor(user string, groups []string, server string) (*rest.Config, error) {
	b, err := s.ca.ClientKubeconfig(server, user, groups)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(b)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// writeAdminKubeconfig writes DATA/kubeconfig with a cluster-admin identity
// pointing at the node address, so it works from anywhere that reaches it.
func (s *Server) writeAdminKubeconfig() error {
	b, err := s.ca.ClientKubeconfig(s.externalURL(), "dvp:admin", []string{"system:masters"})
	if err != nil {
		return err
	}
	return pki.WriteFile(AdminKubeconfigPath(s.dataDir), b, 0o600)
}

func waitForAPI(ctx context.Context, cfg *rest.Config, apiErr <-chan error) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := time.After(3 * time.Minute)
	for {
		res := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx)
		var code int
		res.StatusCode(&code)
		if res.Error() == nil && code == 200 {
			return nil
		}
		select {
		case err := <-apiErr:
			if err == nil {
				err = errors.New("stopped before it was ready")
			}
			return fmt.Errorf("kube-apiserver: %w", err)
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after 3m: %v", res.Error())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockDataDir takes an exclusive lock so two servers never share one etcd.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another dvp server", dir)
	}
	return func() { f.Close() }, nil
}
