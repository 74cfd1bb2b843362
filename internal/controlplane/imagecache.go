package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/imagecache"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/internal/storage"
)

var (
	viResource  = schema.GroupVersionResource{Group: storage.CloneGroup, Version: "v1alpha2", Resource: "virtualimages"}
	cviResource = schema.GroupVersionResource{Group: storage.CloneGroup, Version: "v1alpha2", Resource: "clustervirtualimages"}
)

// imageCacheGCPeriod bounds how long an entry no disk or image needs stays.
const imageCacheGCPeriod = 10 * time.Minute

// imageSources resolves images to their DVCR references with read-only
// credentials scoped to each image's repository. It serves the provisioner
// (thin clones) and the cache warmer.
type imageSources struct {
	dyn  dynamic.Interface
	dvcr *DVCR
	ca   []byte
}

var _ storage.CloneResolver = (*imageSources)(nil)

func (s *imageSources) ResolveClone(ctx context.Context, namespace, kind, name string) (imagecache.Source, error) {
	var (
		obj *unstructured.Unstructured
		err error
	)
	switch kind {
	case storage.CloneKindVirtualImage:
		obj, err = s.dyn.Resource(viResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	case storage.CloneKindClusterVirtualImage:
		obj, err = s.dyn.Resource(cviResource).Get(ctx, name, metav1.GetOptions{})
	default:
		return imagecache.Source{}, fmt.Errorf("%w: kind %s", storage.ErrCloneNotSupported, kind)
	}
	if apierrors.IsNotFound(err) {
		return imagecache.Source{}, fmt.Errorf("%w: not found", storage.ErrImageNotReady)
	}
	if err != nil {
		return imagecache.Source{}, err
	}
	if phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase"); phase != "Ready" {
		return imagecache.Source{}, fmt.Errorf("%w: phase %q", storage.ErrImageNotReady, phase)
	}
	return s.source(obj)
}

// source is where obj, a Ready image, lives in DVCR: the manifest its
// status recorded, never the tag, which whoever could push to the
// repository might have moved since.
func (s *imageSources) source(obj *unstructured.Unstructured) (imagecache.Source, error) {
	repo := registry.CVIRepository(obj.GetName())
	if obj.GetNamespace() != "" {
		repo = registry.VIRepository(obj.GetNamespace(), obj.GetName())
	}
	digest, _, _ := unstructured.NestedString(obj.Object, "status", "target", "digest")
	if digest == "" {
		return imagecache.Source{}, fmt.Errorf("%w: the image has no recorded digest (status.target.digest; imported by an older version): recreate it", storage.ErrImageNotReady)
	}
	format, _, _ := unstructured.NestedString(obj.Object, "status", "format")
	user, pass := registry.Credentials(s.dvcr.Secret, repo, false)
	return imagecache.Source{
		Ref:      fmt.Sprintf("%s/%s@%s", s.dvcr.Address, repo, digest),
		Username: user, Password: pass, CABundle: s.ca, Format: format,
	}, nil
}

// cacheWarmer copies every Ready disk image into the node's image cache as
// it becomes Ready, so the first disk made from it is a thin clone at once,
// and collects entries that nothing needs any more.
type cacheWarmer struct {
	cache   *imagecache.Cache
	sources *imageSources
	volumes string

	mu      sync.Mutex
	pending map[string]*unstructured.Unstructured // by UID
	entries map[string]string                     // image UID -> entry name
	wake    chan struct{}
	gc      chan struct{}
	stores  []cache.Store
}

func newImageCache(s *Server, kubeDyn dynamic.Interface, dvcr *DVCR) (*imagecache.Cache, *cacheWarmer, error) {
	c, err := imagecache.New(s.dataDir)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Init(); err != nil {
		return nil, nil, err
	}
	ca, err := os.ReadFile(filepath.Join(s.pkiDir(), pki.CACert))
	if err != nil {
		return nil, nil, fmt.Errorf("image cache: reading the cluster CA: %w", err)
	}
	w := &cacheWarmer{
		cache:   c,
		sources: &imageSources{dyn: kubeDyn, dvcr: dvcr, ca: ca},
		volumes: filepath.Join(s.dataDir, "volumes"),
		pending: map[string]*unstructured.Unstructured{},
		entries: map[string]string{},
		wake:    make(chan struct{}, 1),
		gc:      make(chan struct{}, 1),
	}
	return c, w, nil
}

// RequestGC asks for a collection soon; requests are merged.
func (w *cacheWarmer) RequestGC() {
	select {
	case w.gc <- struct{}{}:
	default:
	}
}

func (w *cacheWarmer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *cacheWarmer) observe(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	format, _, _ := unstructured.NestedString(u.Object, "status", "format")
	// ISO images are attached as CD-ROMs rather than cloned into disks:
	// they are cached on their first clone only.
	if phase != "Ready" || format == "iso" || !imagecache.Supports(format) || u.GetDeletionTimestamp() != nil {
		return
	}
	w.mu.Lock()
	_, known := w.entries[string(u.GetUID())]
	if !known {
		w.pending[string(u.GetUID())] = u
	}
	w.mu.Unlock()
	if !known {
		w.poke()
	}
}

// Run watches images and warms and collects the cache until ctx is done.
func (w *cacheWarmer) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithValues("component", "image-cache")
	f := dynamicinformer.NewDynamicSharedInformerFactory(w.sources.dyn, 30*time.Minute)
	for _, gvr := range []schema.GroupVersionResource{viResource, cviResource} {
		inf := f.ForResource(gvr).Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    w.observe,
			UpdateFunc: func(_, n any) { w.observe(n) },
			DeleteFunc: func(any) { w.RequestGC() },
		}); err != nil {
			return err
		}
		w.stores = append(w.stores, inf.GetStore())
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	f.WaitForCacheSync(ctx.Done())
	w.RequestGC()
	tick := time.NewTicker(imageCacheGCPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
			w.warmPending(ctx, log)
		case <-w.gc:
			// Let a burst of deletions settle, then collect once.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
			w.collect(log)
		case <-tick.C:
			w.collect(log)
		}
	}
}

func (w *cacheWarmer) warmPending(ctx context.Context, log klog.Logger) {
	for {
		w.mu.Lock()
		var u *unstructured.Unstructured
		for uid, p := range w.pending {
			u = p
			delete(w.pending, uid)
			break
		}
		w.mu.Unlock()
		if u == nil || ctx.Err() != nil {
			return
		}
		start := time.Now()
		src, err := w.sources.source(u)
		if err == nil {
			var e imagecache.Entry
			var unpin func()
			if e, unpin, err = w.cache.Ensure(ctx, src); err == nil {
				unpin()
				w.mu.Lock()
				w.entries[string(u.GetUID())] = e.Name
				w.mu.Unlock()
				log.V(2).Info("image cached", "image", klog.KObj(u), "entry", e.Name, "took", time.Since(start))
			}
		}
		if err != nil {
			// The image may be gone or not readable yet; the next
			// update of it, or the first clone, tries again.
			log.Info("caching image failed", "image", klog.KObj(u), "err", err)
		}
	}
}

// collect removes entries that no Ready image and no disk needs. Images not
// warmed yet hold back the whole collection: their entry is not known.
func (w *cacheWarmer) collect(log klog.Logger) {
	keep := map[string]bool{}
	w.mu.Lock()
	live := map[string]bool{}
	for _, st := range w.stores {
		for _, o := range st.List() {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			live[string(u.GetUID())] = true
			if _, waiting := w.pending[string(u.GetUID())]; waiting {
				w.mu.Unlock()
				w.RequestGC()
				return
			}
		}
	}
	for uid, name := range w.entries {
		if live[uid] {
			keep[name] = true
		} else {
			delete(w.entries, uid)
		}
	}
	w.mu.Unlock()
	removed, err := w.cache.Collect(keep, w.volumes)
	if err != nil {
		log.Error(err, "image cache collection failed")
		return
	}
	if len(removed) > 0 {
		log.Info("image cache entries removed", "entries", removed)
	}
}
