package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/network"
	"github.com/virtlab/dvp/internal/version"
)

// staleScratchIdle is how long a scratch directory in the host's temporary
// directory must have been left unchanged before it counts as abandoned: a
// live import writes to it all the time.
const staleScratchIdle = 10 * time.Minute

// Options configure one node.
type Options struct {
	Node    config.Node
	Kube    kubernetes.Interface
	NodeIP  net.IP
	Port    int    // kubelet API port on NodeIP (logs)
	DataDir string // pods live under DataDir/nodes/<name>
	BinDir  string // where dvp-worker and dvp are
	// StopPodsOnExit stops every pod when the node runtime stops, instead
	// of leaving them running for the next start to adopt.
	StopPodsOnExit bool
	// APIHost and APIPort are given to every container as
	// KUBERNETES_SERVICE_HOST/PORT: there is no kube-proxy for the service IP.
	APIHost string
	APIPort int
	// CertFile/KeyFile serve the kubelet API; ClientCA and ClientCN admit
	// only kube-apiserver's kubelet client certificate.
	CertFile, KeyFile string
	ClientCA          string
	ClientCN          string
	// K8sVersion is reported as the kubelet version.
	K8sVersion string
	// DVCRSecret signs the DVCR credentials the node gives platform pods
	// that declare a scope (image.DVCRScopeEnv), bound to the pod's UID.
	// Empty: such pods get none.
	DVCRSecret []byte
	// Network is the host's VM network (StartNetwork), shared by the
	// nodes on the host; nil: launchers keep user-mode networking.
	Network *network.Manager
}

// Run registers the node and runs its pods until ctx is done. The pods'
// processes are left running when it returns: they belong to the node, not to
// this process, and the next Run adopts them.
func Run(ctx context.Context, o Options) error {
	log := klog.FromContext(ctx).WithValues("node", o.Node.Name)
	env := []string{
		"KUBERNETES_SERVICE_HOST=" + o.APIHost,
		"KUBERNETES_SERVICE_PORT=" + strconv.Itoa(o.APIPort),
		"DVP_NODE_NAME=" + o.Node.Name,
		"DVP_NODE_IP=" + o.NodeIP.String(),
	}
	// Importers of earlier versions spooled into the host's temporary
	// directory, where a killed one left its disk behind; today's spool
	// into their pod's scratch volume, which goes with the pod.
	if removed, err := image.RemoveStale(os.TempDir(), []string{"dvp-import-*", "dvp-fill-*"}, staleScratchIdle); err != nil {
		log.Error(err, "Removing scratch directories killed importers left")
	} else if len(removed) > 0 {
		log.Info("Removed scratch directories killed importers left", "dirs", removed)
	}
	reapOrphans("/proc", log)
	// State comes from disk before the pod controller starts, so a pod whose
	// processes survived a restart is adopted, not started twice.
	provider, err := NewProvider(o.Node.Name, o.NodeIP.String(), o.DataDir, o.BinDir, o.Kube, env, log)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.Node.Name, err)
	}
	provider.dvcrSecret = o.DVCRSecret
	provider.net = o.Network
	// The taps, rules and DHCP answers now follow the adopted pods: ours
	// that no pod wants go, running guests keep theirs. A pod that cannot
	// be plugged in is named, and the others still are.
	if o.Network != nil {
		if err := o.Network.Sync(ctx, o.Node.Name, provider.networkEndpoints()); err != nil {
			log.Error(err, "Reconciling the VM network with this node's pods")
		}
	}
	tlsConfig, err := servingTLS(o)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.Node.Name, err)
	}
	mux := http.NewServeMux()
	api.AttachPodRoutes(api.PodHandlerConfig{
		GetContainerLogs:   provider.GetContainerLogs,
		GetPods:            provider.GetPods,
		RunInContainer:     provider.RunInContainer,
		AttachToContainer:  provider.AttachToContainer,
		PortForward:        provider.PortForward,
		GetStatsSummary:    provider.GetStatsSummary,
		GetMetricsResource: provider.GetMetricsResource,
	}, mux, false)
	mux.HandleFunc(StreamPath, provider.serveStream)

	spec, err := nodeSpec(o)
	if err != nil {
		return err
	}
	n, err := nodeutil.NewNode(o.Node.Name,
		func(nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) { return provider, nil, nil },
		nodeutil.WithClient(o.Kube),
		func(c *nodeutil.NodeConfig) error {
			c.NodeSpec = spec
			c.HTTPListenAddr = net.JoinHostPort(o.NodeIP.String(), strconv.Itoa(o.Port))
			c.TLSConfig = tlsConfig
			c.Handler = requireClient(o.ClientCN, mux)
			c.NumWorkers = 4
			return nil
		},
	)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.Node.Name, err)
	}
	log.Info("Node runtime starting", "pods", provider.podCount(), "kubeletAPI", net.JoinHostPort(o.NodeIP.String(), strconv.Itoa(o.Port)))
	err = n.Run(ctx)
	provider.leave(o.StopPodsOnExit, log)
	return err
}

func nodeSpec(o Options) (corev1.Node, error) {
	cpu := resource.MustParse(strconv.Itoa(runtime.NumCPU()))
	if o.Node.CPU != "" {
		q, err := resource.ParseQuantity(o.Node.CPU)
		if err != nil {
			return corev1.Node{}, fmt.Errorf("nodes[%s].cpu: %w", o.Node.Name, err)
		}
		cpu = q
	}
	mem := *resource.NewQuantity(hostMemory(), resource.BinarySI)
	if o.Node.Memory != "" {
		q, err := resource.ParseQuantity(o.Node.Memory)
		if err != nil {
			return corev1.Node{}, fmt.Errorf("nodes[%s].memory: %w", o.Node.Name, err)
		}
		mem = q
	}
	labels := map[string]string{
		"kubernetes.io/hostname": o.Node.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     runtime.GOARCH,
		"type":                   "dvp-node",
	}
	for k, v := range o.Node.Labels {
		labels[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: mem,
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: o.Node.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: o.Node.Taints},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodePending,
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: o.NodeIP.String()},
				{Type: corev1.NodeHostName, Address: o.Node.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(o.Port)}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          o.K8sVersion,
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "dvp://" + version.Version,
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady}, {Type: corev1.NodeDiskPressure}, {Type: corev1.NodeMemoryPressure},
				{Type: corev1.NodePIDPressure}, {Type: corev1.NodeNetworkUnavailable},
			},
		},
	}, nil
}

func hostMemory() int64 {
	var si syscallSysinfo
	if err := sysinfo(&si); err != nil {
		return 8 << 30
	}
	return si.total()
}

func servingTLS(o Options) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading kubelet API certificate: %w", err)
	}
	pem, err := os.ReadFile(o.ClientCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", o.ClientCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// requireClient admits only the apiserver's kubelet client certificate: a
// user's own certificate from the same CA must not read logs past RBAC.
func requireClient(cn string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != cn {
			http.Error(w, "forbidden: only kube-apiserver may call the node API", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
