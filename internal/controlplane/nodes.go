package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/node"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/storage"
)

// firstNodePort is the kubelet API port of the first simulated node; the
// others follow. They all share the node address.
const firstNodePort = 10250

func nodeCertName(node string) string { return "node-" + node }

// clientsetFor is a client of a platform component's own identity, on
// loopback (each identity shows in audit logs and events under its name).
func (s *Server) clientsetFor(user string) (kubernetes.Interface, error) {
	cfg, err := s.restConfigFor(user, []string{"system:masters"}, s.loopbackURL())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// startStorage installs the configured StorageClasses and runs the local
// provisioner and the volume resizer (kube-controller-manager's expander
// ignores volumes that are not CSI).
func (s *Server) startStorage(ctx context.Context, wg *sync.WaitGroup, dvcr *DVCR) (<-chan error, error) {
	kube, err := s.clientsetFor("dvp:storage")
	if err != nil {
		return nil, err
	}
	cfg, err := s.restConfigFor("dvp:storage", []string{"system:masters"}, s.loopbackURL())
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	imageCache, warmer, err := newImageCache(s, dyn, dvcr)
	if err != nil {
		return nil, err
	}
	if err := storage.EnsureStorageClasses(ctx, kube, s.cfg.StorageClasses); err != nil {
		return nil, fmt.Errorf("installing StorageClasses: %w", err)
	}
	var nodes []string
	for _, n := range s.cfg.Nodes {
		nodes = append(nodes, n.Name)
	}
	errc := make(chan error, 3)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	run("local provisioner", func() error {
		return storage.Run(ctx, storage.Options{Kube: kube, DataDir: s.dataDir, Nodes: nodes,
			Cache: imageCache, Clones: warmer.sources, VolumeDeleted: warmer.RequestGC})
	})
	run("image cache", func() error { return warmer.Run(ctx) })
	run("volume resizer", func() error { return storage.RunResizer(ctx, kube, s.dataDir) })
	return errc, nil
}

// startNodes runs one node runtime per configured node and waits until each
// Node reports Ready, so pods can be scheduled as soon as the kubeconfig
// appears. The returned channel carries the first node runtime failure.
func (s *Server) startNodes(ctx context.Context, wg *sync.WaitGroup, exe string, dvcrSecret []byte) (<-chan error, error) {
	errc := make(chan error, len(s.cfg.Nodes))
	kube, err := s.clientsetFor("dvp:node-runtime")
	if err != nil {
		return nil, err
	}
	netw, err := node.StartNetwork(ctx, s.cfg, klog.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	p := func(name string) string { return filepath.Join(s.pkiDir(), name) }
	for i, n := range s.cfg.Nodes {
		o := node.Options{
			Node:       n,
			Kube:       kube,
			NodeIP:     s.nodeIP,
			Port:       firstNodePort + i,
			DataDir:    s.dataDir,
			BinDir:     filepath.Dir(exe),
			APIHost:    s.nodeIP.String(),
			APIPort:    s.cfg.APIPort,
			CertFile:   p(nodeCertName(n.Name) + ".crt"),
			KeyFile:    p(nodeCertName(n.Name) + ".key"),
			ClientCA:   p(pki.CACert),
			ClientCN:   kubeletClientCN,
			K8sVersion: kubeVersion(),
			DVCRSecret: dvcrSecret,
			Network:    netw,

			StopPodsOnExit: s.StopVMsOnExit,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Run(ctx, o); err != nil && ctx.Err() == nil {
				errc <- err
			}
		}()
	}
	log := klog.FromContext(ctx)
	for _, n := range s.cfg.Nodes {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			select {
			case err := <-errc:
				return false, err
			default:
			}
			obj, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range obj.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return nil, fmt.Errorf("node %s did not become Ready: %w", n.Name, err)
		}
		log.V(1).Info("Node ready", "node", n.Name)
	}
	return errc, nil
}

// kubeletClientCN is the identity kube-apiserver uses towards nodes (logs);
// node runtimes admit nothing else.
const kubeletClientCN = "kube-apiserver-kubelet-client"

func kubeVersion() string { return version.Get().GitVersion }
