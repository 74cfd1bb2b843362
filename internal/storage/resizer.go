package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// ResizerOption configures RunResizer.
type ResizerOption func(*resizer)

// WithResizeNotifier has n told about every volume that grew. A nil n is
// ignored.
func WithResizeNotifier(n ResizeNotifier) ResizerOption {
	return func(r *resizer) { r.notifier = n }
}

const resizerWorkers = 2

// RunResizer grows the volumes of ProvisionerName when their claims ask for
// more, until ctx is done; it then waits for resizes in flight and returns
// nil. kube-controller-manager's expand controller only acts on CSI and
// in-tree volumes and merely records that it waits for an external
// controller; this is that controller.
//
// For each bound claim whose spec.resources.requests.storage exceeds
// status.capacity.storage it sets the Resizing condition, grows the backing
// (a Block file is extended with a hole, never shrunk, its data untouched; a
// Filesystem directory has nothing to grow), tells the ResizeNotifier, raises
// the PV's spec.capacity, and finally records the new size in the claim's
// status.capacity and status.allocatedResources, clearing the condition.
func RunResizer(ctx context.Context, kube kubernetes.Interface, dataDir string, opts ...ResizerOption) error {
	if kube == nil {
		return errors.New("volume resizer: no Kubernetes client")
	}
	store, err := newVolumeStore(dataDir)
	if err != nil {
		return fmt.Errorf("volume resizer: %w", err)
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	r := &resizer{
		kube:     kube,
		store:    store,
		recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "dvp-volume-resizer"}),
		now:      metav1.Now,
	}
	for _, o := range opts {
		o(r)
	}

	factory := informers.NewSharedInformerFactory(kube, resyncPeriod)
	claims := factory.Core().V1().PersistentVolumeClaims()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(newRateLimiter(),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "volume-resizer"})
	defer queue.ShutDown()
	enqueue := func(obj any) {
		claim, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok || !needsResize(claim) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(claim); err == nil {
			queue.Add(key)
		}
	}
	if _, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("volume resizer: watching claims: %w", err)
	}
	lister := claims.Lister()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), claims.Informer().HasSynced) {
		return nil // ctx is done
	}

	var workers sync.WaitGroup
	for range resizerWorkers {
		workers.Go(func() {
			for r.processNext(ctx, queue, lister) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	workers.Wait()
	return nil
}

func (r *resizer) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], lister corelisters.PersistentVolumeClaimLister) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	if err := r.sync(ctx, key, lister); err != nil {
		if ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Resizing volume failed; will retry", "pvc", key, "attempt", queue.NumRequeues(key)+1)
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

func (r *resizer) sync(ctx context.Context, key string, lister corelisters.PersistentVolumeClaimLister) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made; retrying cannot help
	}
	claim, err := lister.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !needsResize(claim) {
		return nil
	}
	// The cache can lag behind this controller's own last write; acting on
	// it would repeat finished steps (and call the notifier again) only to
	// fail on a conflict. Claims that need a resize are rare: read them live.
	claim, err = r.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting claim: %w", err)
	}
	if !needsResize(claim) {
		return nil
	}
	pv, err := r.kube.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting volume %s: %w", claim.Spec.VolumeName, err)
	}
	if !isOurs(pv) {
		return nil
	}
	return r.resize(ctx, claim, pv)
}
