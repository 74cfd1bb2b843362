package vmip

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/ipam"
)

const (
	// collisionRetry: every candidate address was claimed by another
	// controller between our read and our create; the cache catches up.
	collisionRetry = 2 * time.Second
	// exhaustedRetry: no address is free; leases expiring free some.
	exhaustedRetry = 30 * time.Second
	// maxAttempts bounds the addresses one reconcile tries to create a
	// lease for when others win them first.
	maxAttempts = 16
)

// bind finds or claims the address's lease and records the address; the
// address is Bound once the lease names it back.
func (r *Reconciler) bind(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (ctrl.Result, error) {
	lease, err := r.ownLease(ctx, ip)
	if err != nil {
		return ctrl.Result{}, err
	}
	if lease == nil && ip.Status.Address != "" {
		name := ipam.LeaseNameFor(ip.Status.Address)
		r.Recorder.Eventf(ip, corev1.EventTypeWarning, string(v1alpha2.VirtualMachineIPAddressReasonLeaseLost),
			"The VirtualMachineIPAddressLease %q is lost.", name)
		// Claim the same address again rather than move the machine.
		a, _ := netip.ParseAddr(ip.Status.Address)
		if lease, err = r.claim(ctx, ip, a); err != nil {
			return ctrl.Result{}, err
		}
		if lease == nil {
			setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseLost, fmt.Sprintf("The VirtualMachineIPAddressLease %q is lost.", name))
			return ctrl.Result{}, nil
		}
	}
	if lease == nil {
		var res ctrl.Result
		switch ip.Spec.Type {
		case v1alpha2.VirtualMachineIPAddressTypeStatic:
			lease, err = r.claimStatic(ctx, ip)
		default:
			lease, res, err = r.allocate(ctx, ip)
		}
		if err != nil || lease == nil {
			return res, err
		}
	}
	a, _ := ipam.AddrFromLeaseName(lease.Name)
	ip.Status.Address = a.String()
	if !leaseBoundTo(lease, ip) {
		setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseNotReady,
			fmt.Sprintf("Waiting for the VirtualMachineIPAddressLease %q to be bound.", lease.Name))
		return ctrl.Result{}, nil
	}
	if !ctrlreconcile.ConditionTrue(ip.Status.Conditions, v1alpha2.VirtualMachineIPAddressConditionBound) {
		log.FromContext(ctx).Info("address bound", "address", ip.Status.Address, "lease", lease.Name)
	}
	setBound(ip, true, v1alpha2.VirtualMachineIPAddressReasonBound, "")
	return ctrl.Result{}, nil
}

// ownLease returns the lease that names this address: by the address in
// its status, else by its UID label read from the API itself, so a lease
// created by a reconcile whose status write was lost is found, never
// duplicated.
func (r *Reconciler) ownLease(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (*v1alpha2.VirtualMachineIPAddressLease, error) {
	if ip.Status.Address != "" {
		l := &v1alpha2.VirtualMachineIPAddressLease{}
		err := r.Reader.Get(ctx, client.ObjectKey{Name: ipam.LeaseNameFor(ip.Status.Address)}, l)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if l.Labels[LabelIPAddressUID] == string(ip.UID) {
			return l, nil
		}
		// The address's lease went to someone else: find ours, if any.
	}
	var list v1alpha2.VirtualMachineIPAddressLeaseList
	if err := r.Reader.List(ctx, &list, client.MatchingLabels{LabelIPAddressUID: string(ip.UID)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// allocate creates a lease for the first free address of the pool.
func (r *Reconciler) allocate(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (*v1alpha2.VirtualMachineIPAddressLease, ctrl.Result, error) {
	var list v1alpha2.VirtualMachineIPAddressLeaseList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, ctrl.Result{}, err
	}
	taken := map[netip.Addr]bool{}
	cached := map[string]bool{}
	for _, l := range list.Items {
		cached[l.Name] = true
		if a, ok := ipam.AddrFromLeaseName(l.Name); ok {
			taken[a] = true
		}
	}
	for range maxAttempts {
		a, ok := r.reserve(taken, cached)
		if !ok {
			setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseNotFound, fmt.Sprintf(
				"No free IP address is left in virtualMachineCIDRs (%s: %d addresses, all leased): delete unused VirtualMachineIPAddresses or add a range.",
				r.Pool, r.Pool.Size()))
			return nil, ctrl.Result{RequeueAfter: exhaustedRetry}, nil
		}
		lease := newLease(ip, a)
		err := r.Client.Create(ctx, lease)
		if apierrors.IsAlreadyExists(err) {
			// Another controller won it: it stays reserved (it is taken)
			// until the cache shows it.
			taken[a] = true
			continue
		}
		if err != nil {
			r.unreserve(a)
			return nil, ctrl.Result{}, fmt.Errorf("creating lease %s: %w", lease.Name, err)
		}
		log.FromContext(ctx).Info("address allocated", "address", a.String(), "lease", lease.Name)
		return lease, ctrl.Result{}, nil
	}
	setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseNotFound,
		"Waiting for the IP address to be allocated and a new VirtualMachineIPAddressLease to be created.")
	return nil, ctrl.Result{RequeueAfter: collisionRetry}, nil
}

// claimStatic leases the address the spec asks for.
func (r *Reconciler) claimStatic(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (*v1alpha2.VirtualMachineIPAddressLease, error) {
	a, err := netip.ParseAddr(ip.Spec.StaticIP)
	refusal := ""
	if err != nil {
		refusal = fmt.Sprintf("the requested address %q is not an IPv4 address", ip.Spec.StaticIP)
	} else {
		refusal = r.Pool.Refusal(a)
	}
	if refusal != "" {
		setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonOutOfTheValidRange, refusal)
		return nil, nil
	}
	return r.claim(ctx, ip, a)
}

// claim creates the lease of address a, or takes it over when it was
// released by an address of the same namespace (the retention that keeps a
// released address for its project). nil without an error: the lease is
// someone else's, and the condition says whose.
func (r *Reconciler) claim(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress, a netip.Addr) (*v1alpha2.VirtualMachineIPAddressLease, error) {
	lease := newLease(ip, a)
	err := r.Client.Create(ctx, lease)
	if err == nil {
		r.remember(lease.Name)
		log.FromContext(ctx).Info("address claimed", "address", a.String(), "lease", lease.Name)
		return lease, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating lease %s: %w", lease.Name, err)
	}
	cur := &v1alpha2.VirtualMachineIPAddressLease{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: lease.Name}, cur); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if cur.Labels[LabelIPAddressUID] == string(ip.UID) {
		return cur, nil
	}
	ref := cur.Spec.VirtualMachineIPAddressRef
	released := (ref == nil || ref.Name == "") && cur.Labels[LabelIPAddressUID] == "" && cur.DeletionTimestamp.IsZero()
	switch {
	case released && (ref == nil || ref.Namespace == ip.Namespace):
		cur.Spec.VirtualMachineIPAddressRef = &v1alpha2.VirtualMachineIPAddressLeaseIPAddressRef{Name: ip.Name, Namespace: ip.Namespace}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels[LabelIPAddressUID] = string(ip.UID)
		// An update carries the resourceVersion read: of two addresses
		// taking one released lease, only one wins.
		if err := r.Client.Update(ctx, cur); err != nil {
			return nil, err
		}
		log.FromContext(ctx).Info("released address taken again", "address", a.String(), "lease", cur.Name)
		return cur, nil
	case released:
		setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseAlreadyExists,
			fmt.Sprintf("The VirtualMachineIPAddressLease %q belongs to a different namespace.", cur.Name))
	default:
		setBound(ip, false, v1alpha2.VirtualMachineIPAddressReasonLeaseAlreadyExists,
			fmt.Sprintf("The VirtualMachineIPAddressLease %q is bound to another VirtualMachineIPAddress.", cur.Name))
	}
	return nil, nil
}

func newLease(ip *v1alpha2.VirtualMachineIPAddress, a netip.Addr) *v1alpha2.VirtualMachineIPAddressLease {
	return &v1alpha2.VirtualMachineIPAddressLease{
		ObjectMeta: metav1.ObjectMeta{
			Name:   ipam.LeaseName(a),
			Labels: map[string]string{LabelIPAddressUID: string(ip.UID)},
		},
		Spec: v1alpha2.VirtualMachineIPAddressLeaseSpec{
			VirtualMachineIPAddressRef: &v1alpha2.VirtualMachineIPAddressLeaseIPAddressRef{Name: ip.Name, Namespace: ip.Namespace},
		},
	}
}

// leaseBoundTo: the lease names this address, by name, namespace and UID.
// A lease carrying our UID can only have been created or taken over by us
// (both under the API's concurrency control), so the address need not wait
// for the lease controller's own Bound, which is for people reading leases.
func leaseBoundTo(l *v1alpha2.VirtualMachineIPAddressLease, ip *v1alpha2.VirtualMachineIPAddress) bool {
	ref := l.Spec.VirtualMachineIPAddressRef
	return ref != nil && ref.Name == ip.Name && ref.Namespace == ip.Namespace && l.Labels[LabelIPAddressUID] == string(ip.UID)
}
