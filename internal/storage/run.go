package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"

	"github.com/virtlab/dvp/internal/imagecache"
)

// Options configure Run.
type Options struct {
	Kube kubernetes.Interface
	// DataDir is the server's data directory; volumes live in DataDir/volumes.
	DataDir string
	// Nodes are the simulated node names; node-local volumes of Immediate
	// classes are pinned to the first.
	Nodes []string
	// Cache and Clones, when both set, let claims whose dataSourceRef names
	// a VirtualImage or ClusterVirtualImage be provisioned as thin clones.
	Cache  *imagecache.Cache
	Clones CloneResolver
	// VolumeDeleted, if set, is called after a volume's backing was removed
	// (the image cache collects entries no disk needs any more).
	VolumeDeleted func()
}

// resyncPeriod bounds how long a missed event delays a provisioning or a
// deletion.
const resyncPeriod = 5 * time.Minute

// Run provisions and deletes volumes for claims of ProvisionerName's classes
// until ctx is done, then waits for operations in flight and returns nil.
func Run(ctx context.Context, o Options) error {
	if o.Kube == nil {
		return errors.New("storage provisioner: no Kubernetes client")
	}
	p, err := NewProvisioner(o.DataDir, o.Nodes)
	if err != nil {
		return fmt.Errorf("storage provisioner: %w", err)
	}
	p.cache, p.clones, p.deleted, p.kube = o.Cache, o.Clones, o.VolumeDeleted, o.Kube
	// Nothing is being created yet, so leftovers of a crash can go.
	if err := p.store.init(); err != nil {
		return fmt.Errorf("storage provisioner: %w", err)
	}
	var workers sync.WaitGroup
	pc := controller.NewProvisionController(ctx, o.Kube, ProvisionerName, p,
		// One server, one provisioner: a lease would only delay recovery
		// after kill -9 (see docs/design/control-plane.md).
		controller.LeaderElection(false),
		controller.ResyncPeriod(resyncPeriod),
		controller.Threadiness(2),
		// The library's default first retry is 15 s and gives up after 15
		// failures; a local volume fails only for reasons an administrator
		// fixes (a full disk, a recreated class), so retry soon and forever.
		controller.RateLimiter(newRateLimiter()),
		controller.FailedProvisionThreshold(0),
		controller.FailedDeleteThreshold(0),
		// The finalizer keeps a PV object until its backing is gone, so
		// deleting a released PV by hand does not leak its file.
		controller.AddFinalizer(true),
	)
	pc.ControllerWaitGroup(&workers)
	pc.Run(ctx)
	workers.Wait()
	return nil
}

func newRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[string](500*time.Millisecond, 5*time.Minute)
}
