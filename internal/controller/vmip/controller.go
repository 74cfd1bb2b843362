package vmip

import (
	"context"
	"net/netip"
	"sync"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/ipam"
)

// Finalizer keeps an address while a machine is attached to it.
const Finalizer = "virtualization.deckhouse.io/vmip-cleanup"

// LabelIPAddressUID marks a lease with the UID of the address that holds it,
// so an address finds its lease even before its status records one.
const LabelIPAddressUID = "virtualization.deckhouse.io/virtual-machine-ip-address-uid"

// Reconciler reconciles VirtualMachineIPAddresses.
type Reconciler struct {
	Client client.Client
	// Reader reads the API directly: a lease this controller created a
	// moment ago may not be in the cache yet, and an address must not
	// claim a second one because of that.
	Reader   client.Reader
	Recorder record.EventRecorder
	Pool     *ipam.Pool

	// claimed holds the lease names this process is creating or created
	// that the cache may not show yet: a worker reserves its candidate
	// here before creating the lease, so concurrent workers and
	// back-to-back allocations pick different addresses (a collision
	// would be safe, only slower).
	mu      sync.Mutex
	claimed map[string]bool
}

// workers: allocations are reserved in memory before their lease is
// created, so several run at once without colliding.
const workers = 4

// SetupWithManager registers the reconciler. Leases and machines change
// whether an address is bound and attached.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("vmip").
		For(&v1alpha2.VirtualMachineIPAddress{}).
		Watches(&v1alpha2.VirtualMachineIPAddressLease{}, handler.EnqueueRequestsFromMapFunc(leaseOwner)).
		Watches(&v1alpha2.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(machineAddresses)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(ctrlreconcile.QuietConflicts(r))
}

func leaseOwner(_ context.Context, o client.Object) []reconcile.Request {
	l, ok := o.(*v1alpha2.VirtualMachineIPAddressLease)
	if !ok || l.Spec.VirtualMachineIPAddressRef == nil || l.Spec.VirtualMachineIPAddressRef.Name == "" {
		return nil
	}
	ref := l.Spec.VirtualMachineIPAddressRef
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}}}
}

func machineAddresses(_ context.Context, o client.Object) []reconcile.Request {
	vm, ok := o.(*v1alpha2.VirtualMachine)
	if !ok {
		return nil
	}
	names := map[string]bool{vm.Spec.VirtualMachineIPAddress: true, vm.Status.VirtualMachineIPAddress: true}
	var out []reconcile.Request
	for n := range names {
		if n != "" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: vm.Namespace, Name: n}})
		}
	}
	return out
}

// Reconcile: finalizer, then bind (claim or find the lease), then attach
// (which machine uses the address), then the phase; status written once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	ip := &v1alpha2.VirtualMachineIPAddress{}
	if err := r.Client.Get(ctx, req.NamespacedName, ip); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	w := ctrlreconcile.SnapshotStatus(r.Client, ip, func() any { return *ip.Status.DeepCopy() }, &ip.Status.ObservedGeneration)
	defer w.Write(ctx, &retErr)

	vm, err := r.attachedMachine(ctx, ip)
	if err != nil {
		return ctrl.Result{}, err
	}
	setAttached(ip, vm)
	if !ip.DeletionTimestamp.IsZero() {
		// The lease is released by its own controller once this object is
		// gone; the finalizer only waits for the machine to let go.
		if vm == nil {
			if done, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, ip, Finalizer); err != nil || done {
				if done {
					log.FromContext(ctx).Info("address released", "address", ip.Status.Address)
				}
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, nil
	}
	if _, err := ctrlreconcile.EnsureFinalizer(ctx, r.Client, ip, Finalizer); err != nil {
		return ctrl.Result{}, err
	}
	res, err = r.bind(ctx, ip)
	ip.Status.Phase = phase(ip)
	return res, err
}

// reserve picks the first address free in the cache (taken) and not
// reserved by this process, and reserves it; ok is false when none is left.
func (r *Reconciler) reserve(taken map[netip.Addr]bool, cached map[string]bool) (netip.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claimed == nil {
		r.claimed = map[string]bool{}
	}
	all := make(map[netip.Addr]bool, len(taken)+len(r.claimed))
	for a := range taken {
		all[a] = true
	}
	for n := range r.claimed {
		if cached[n] {
			delete(r.claimed, n) // the cache shows it now
			continue
		}
		if a, ok := ipam.AddrFromLeaseName(n); ok {
			all[a] = true
		}
	}
	a, err := r.Pool.FirstFree(all)
	if err != nil {
		return netip.Addr{}, false
	}
	r.claimed[ipam.LeaseName(a)] = true
	return a, true
}

// remember notes a lease this process created outside reserve.
func (r *Reconciler) remember(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claimed == nil {
		r.claimed = map[string]bool{}
	}
	r.claimed[name] = true
}

// unreserve gives back a reservation whose lease was not created.
func (r *Reconciler) unreserve(a netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.claimed, ipam.LeaseName(a))
}
