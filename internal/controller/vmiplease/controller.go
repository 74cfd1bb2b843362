package vmiplease

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/controller/vmip"
	"github.com/virtlab/dvp/internal/ipam"
)

// Finalizer keeps a lease until it is released: deleting a bound lease by
// hand must not free an address a machine still uses.
const Finalizer = "virtualization.deckhouse.io/vmipl-cleanup"

// Reconciler reconciles VirtualMachineIPAddressLeases.
type Reconciler struct {
	Client client.Client
	// Reader reads the API directly when the cache does not have the
	// address a lease names: a lease created a moment ago by an address
	// the cache has not seen yet must not be released for that.
	Reader    client.Reader
	Recorder  record.EventRecorder
	Retention time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// SetupWithManager registers the reconciler; addresses coming and going
// bind and release their leases.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("vmiplease").
		For(&v1alpha2.VirtualMachineIPAddressLease{}).
		Watches(&v1alpha2.VirtualMachineIPAddress{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			ip, ok := o.(*v1alpha2.VirtualMachineIPAddress)
			if !ok || ip.Status.Address == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ipam.LeaseNameFor(ip.Status.Address)}}}
		})).
		Complete(ctrlreconcile.QuietConflicts(r))
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	l := &v1alpha2.VirtualMachineIPAddressLease{}
	if err := r.Client.Get(ctx, req.NamespacedName, l); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if _, ok := ipam.AddrFromLeaseName(l.Name); !ok {
		return ctrl.Result{}, nil // admission refuses such names; nothing to do
	}
	holder, err := r.holder(ctx, l)
	if err != nil {
		return ctrl.Result{}, err
	}
	if holder == nil {
		return r.release(ctx, l)
	}
	if l.DeletionTimestamp.IsZero() {
		if _, err := ctrlreconcile.EnsureFinalizer(ctx, r.Client, l, Finalizer); err != nil {
			return ctrl.Result{}, err
		}
	}
	w := ctrlreconcile.SnapshotStatus(r.Client, l, func() any { return *l.Status.DeepCopy() }, &l.Status.ObservedGeneration)
	defer w.Write(ctx, &retErr)
	if l.Status.Phase != v1alpha2.VirtualMachineIPAddressLeasePhaseBound {
		key := holder.Namespace + "/" + holder.Name
		r.Recorder.Eventf(l, corev1.EventTypeNormal, string(v1alpha2.VirtualMachineIPAddressLeaseReasonBound),
			"VirtualMachineIPAddressLease is bound to %q.", key)
		log.FromContext(ctx).Info("lease bound", "address", key)
	}
	l.Status.Phase = v1alpha2.VirtualMachineIPAddressLeasePhaseBound
	ctrlreconcile.SetCondition(&l.Status.Conditions, l.Generation, v1alpha2.VirtualMachineIPAddressLeaseConditionBound, true,
		string(v1alpha2.VirtualMachineIPAddressLeaseReasonBound), "")
	return ctrl.Result{}, nil
}

// holder is the address the lease names, if it exists and agrees (its
// address, once it has one, is this lease's).
func (r *Reconciler) holder(ctx context.Context, l *v1alpha2.VirtualMachineIPAddressLease) (*v1alpha2.VirtualMachineIPAddress, error) {
	ref := l.Spec.VirtualMachineIPAddressRef
	if ref == nil || ref.Name == "" {
		return nil, nil
	}
	ip := &v1alpha2.VirtualMachineIPAddress{}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	err := r.Client.Get(ctx, key, ip)
	if apierrors.IsNotFound(err) {
		err = r.Reader.Get(ctx, key, ip)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if uid := l.Labels[vmip.LabelIPAddressUID]; uid != "" && uid != string(ip.UID) {
		return nil, nil // an earlier address of the same name
	}
	if ip.Status.Address != "" && ipam.LeaseNameFor(ip.Status.Address) != l.Name {
		return nil, nil
	}
	return ip, nil
}

// release frees the lease for its namespace: the holder's name and UID go,
// the namespace stays, and the lease is deleted once the retention period
// has passed.
func (r *Reconciler) release(ctx context.Context, l *v1alpha2.VirtualMachineIPAddressLease) (ctrl.Result, error) {
	ref := l.Spec.VirtualMachineIPAddressRef
	if (ref != nil && ref.Name != "") || l.Labels[vmip.LabelIPAddressUID] != "" {
		if ref != nil {
			ref.Name = ""
		}
		delete(l.Labels, vmip.LabelIPAddressUID)
		// An update with the resourceVersion read: an address taking the
		// lease meanwhile wins, and this reconcile starts over.
		if err := r.Client.Update(ctx, l); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.Recorder.Event(l, corev1.EventTypeWarning, string(v1alpha2.VirtualMachineIPAddressLeaseReasonReleased),
			"VirtualMachineIPAddressLease is not bound to any VirtualMachineIPAddress.")
		log.FromContext(ctx).Info("lease released", "retention", r.Retention)
	}
	cond := ctrlreconcile.Condition(l.Status.Conditions, v1alpha2.VirtualMachineIPAddressLeaseConditionBound)
	if l.Status.Phase != v1alpha2.VirtualMachineIPAddressLeasePhaseReleased || cond == nil || cond.Reason != string(v1alpha2.VirtualMachineIPAddressLeaseReasonReleased) {
		l.Status.Phase = v1alpha2.VirtualMachineIPAddressLeasePhaseReleased
		l.Status.ObservedGeneration = l.Generation
		ctrlreconcile.SetCondition(&l.Status.Conditions, l.Generation, v1alpha2.VirtualMachineIPAddressLeaseConditionBound, false,
			string(v1alpha2.VirtualMachineIPAddressLeaseReasonReleased), "VirtualMachineIPAddressLease is not bound to any VirtualMachineIPAddress.")
		if err := r.Client.Status().Update(ctx, l); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		cond = ctrlreconcile.Condition(l.Status.Conditions, v1alpha2.VirtualMachineIPAddressLeaseConditionBound)
	}
	if _, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, l, Finalizer); err != nil {
		return ctrl.Result{}, err
	}
	left := retentionLeft(cond.LastTransitionTime, r.Retention, r.now())
	if left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := r.Client.Delete(ctx, l, client.Preconditions{ResourceVersion: &l.ResourceVersion}); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log.FromContext(ctx).Info("released lease deleted after retention")
	return ctrl.Result{}, nil
}

// retentionLeft is how long a lease released at since still waits.
func retentionLeft(since metav1.Time, retention time.Duration, now time.Time) time.Duration {
	return since.Add(retention).Sub(now)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
