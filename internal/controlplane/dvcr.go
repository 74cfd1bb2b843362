package controlplane

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/registry"
)

// DVCRHost is what DVCR is called in image statuses, as upstream; in
// all-in-one mode it is served on the node address (see DVCRAddress).
const DVCRHost = "dvcr.d8-virtualization.svc"

// dvcrSecret returns the key that signs DVCR credentials, created once.
func (s *Server) dvcrSecret() ([]byte, error) {
	path := filepath.Join(s.pkiDir(), "dvcr.secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, pki.WriteFile(path, b, 0o600)
}

// DVCR is the running registry with a coalescing garbage collector.
type DVCR struct {
	*registry.Registry
	Address string
	Secret  []byte
	gc      chan struct{}
}

// RequestGC asks for a garbage collection soon; requests that arrive while
// one is pending are merged.
func (d *DVCR) RequestGC() {
	select {
	case d.gc <- struct{}{}:
	default:
	}
}

// startDVCR runs the registry on the node address until ctx is done.
func (s *Server) startDVCR(ctx context.Context, wg *sync.WaitGroup) (*DVCR, <-chan error, error) {
	secret, err := s.dvcrSecret()
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort(s.nodeIP.String(), strconv.Itoa(s.cfg.DVCRPort))
	pods, err := s.startPodIndex(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("DVCR: %w", err)
	}
	reg, err := registry.New(registry.Options{
		PodExists: pods.exists,
		RootDir:   filepath.Join(s.dataDir, "dvcr"),
		Addr:      addr,
		CertFile:  filepath.Join(s.pkiDir(), pki.PlatformServing+".crt"),
		KeyFile:   filepath.Join(s.pkiDir(), pki.PlatformServing+".key"),
		Secret:    secret,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("DVCR: %w", err)
	}
	d := &DVCR{Registry: reg, Address: addr, Secret: secret, gc: make(chan struct{}, 1)}
	errc := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := reg.Run(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("DVCR: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		log := klog.FromContext(ctx).WithValues("component", "dvcr-gc")
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.gc:
			}
			// Let a burst of deletions (a namespace going away) settle.
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			freed, err := reg.GarbageCollect(ctx)
			if err != nil {
				log.Error(err, "DVCR garbage collection failed")
				continue
			}
			log.Info("DVCR garbage collection done", "freedBytes", freed)
		}
	}()
	select {
	case <-reg.Ready():
	case err := <-errc:
		return nil, nil, err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if s.platform == nil {
		// Split mode: the controllers cannot reach the registry, so the
		// server deletes the repositories of deleted objects itself.
		cfg, err := s.restConfigFor("dvp:dvcr", []string{"system:masters"}, s.loopbackURL())
		if err != nil {
			return nil, nil, fmt.Errorf("DVCR: %w", err)
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("DVCR: %w", err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); runRepoPurger(ctx, dyn, d) }()
	}
	return d, errc, nil
}

// podIndex answers whether a pod exists, by UID, from an informer: DVCR
// accepts credentials the node runtime bound to a pod only while it does.
type podIndex struct {
	indexer cache.Indexer
}

const podUIDIndex = "uid"

// startPodIndex starts an informer on all pods, indexed by UID.
func (s *Server) startPodIndex(ctx context.Context) (*podIndex, error) {
	kube, err := s.clientsetFor("dvp:dvcr")
	if err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactory(kube, 30*time.Minute)
	inf := f.Core().V1().Pods().Informer()
	if err := inf.AddIndexers(cache.Indexers{podUIDIndex: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		return []string{string(pod.UID)}, nil
	}}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return &podIndex{indexer: inf.GetIndexer()}, nil
}

// podIndexLag is how long exists waits for a pod it does not know yet: the
// node runtime starts a pod's processes from its own watch, which may be a
// moment ahead of this one.
const podIndexLag = 2 * time.Second

// exists reports whether a pod with uid exists and has not finished.
func (p *podIndex) exists(uid string) bool {
	deadline := time.Now().Add(podIndexLag)
	for {
		objs, _ := p.indexer.ByIndex(podUIDIndex, uid)
		for _, o := range objs {
			if pod, ok := o.(*corev1.Pod); ok {
				return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
