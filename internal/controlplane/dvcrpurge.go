package controlplane

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/registry"
)

// In split mode (`dvp server --external-controllers`) the controllers run
// in `dvp controller`, which has no handle on DVCR: the registry lives in
// this process. So the server deletes the repositories of deleted images
// and disks itself, and requests a collection.

// purgeKinds maps the kinds that own a DVCR repository to that repository.
var purgeKinds = []struct {
	gvr  schema.GroupVersionResource
	repo func(namespace, name string) string
}{
	{v1alpha2.GroupVersion.WithResource("virtualimages"), registry.VIRepository},
	{v1alpha2.GroupVersion.WithResource("clustervirtualimages"), func(_, name string) string { return registry.CVIRepository(name) }},
	{v1alpha2.GroupVersion.WithResource("virtualdisks"), registry.VDRepository},
}

// purgeRetry is how long a repository whose deletion failed waits before
// the next attempt.
const purgeRetry = 5 * time.Second

// repoPurger deletes the repositories of deleted objects, one at a time.
type repoPurger struct {
	dvcr *DVCR

	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

// runRepoPurger watches deletions through dyn until ctx is done.
func runRepoPurger(ctx context.Context, dyn dynamic.Interface, d *DVCR) {
	log := klog.FromContext(ctx).WithValues("component", "dvcr-purge")
	p := &repoPurger{dvcr: d, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
	f := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	for _, k := range purgeKinds {
		inf := f.ForResource(k.gvr).Informer()
		store := inf.GetStore()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) { p.deleted(log, store, k.repo, obj) },
		}); err != nil {
			log.Error(err, "Watching deletions", "resource", k.gvr.Resource)
			return
		}
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	p.run(ctx, log)
}

// deleted queues the repository of a deleted object, unless an object of
// the same name exists again: it may be importing into that repository
// right now (its old tag then stays until it is deleted in turn).
func (p *repoPurger) deleted(log klog.Logger, store cache.Store, repo func(ns, name string) string, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(u)
	if err != nil {
		return
	}
	if _, exists, _ := store.GetByKey(key); exists {
		log.V(2).Info("Recreated meanwhile, keeping its repository", "kind", u.GetKind(), "key", key)
		return
	}
	p.mu.Lock()
	p.pending[repo(u.GetNamespace(), u.GetName())] = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *repoPurger) run(ctx context.Context, log klog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		repos := make([]string, 0, len(p.pending))
		for r := range p.pending {
			repos = append(repos, r)
		}
		clear(p.pending)
		p.mu.Unlock()
		var deleted, failed int
		for _, repo := range repos {
			if err := p.dvcr.DeleteRepository(ctx, repo); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error(err, "Deleting the repository of a deleted object", "repository", repo)
				p.mu.Lock()
				p.pending[repo] = true
				p.mu.Unlock()
				failed++
				continue
			}
			log.V(2).Info("Deleted the repository of a deleted object", "repository", repo)
			deleted++
		}
		if deleted > 0 {
			p.dvcr.RequestGC()
		}
		if failed > 0 {
			time.AfterFunc(purgeRetry, func() {
				select {
				case p.wake <- struct{}{}:
				default:
				}
			})
		}
	}
}
