package manager

import (
	"context"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/controller/vmip"
	"github.com/virtlab/dvp/internal/controller/vmiplease"
	"github.com/virtlab/dvp/internal/ipam"
)

// setupAddressControllers registers the reconcilers of the machines'
// addresses and their leases, over the pool of virtualMachineCIDRs.
func setupAddressControllers(ctx context.Context, mgr ctrl.Manager, cfg *config.Config) error {
	if cfg == nil {
		cfg = config.Default()
	}
	pool, err := ipam.NewPool(cfg.VirtualMachineCIDRs)
	if err != nil {
		return fmt.Errorf("virtualMachineCIDRs: %w", err)
	}
	if err := checkLeasesInPool(ctx, mgr.GetAPIReader(), pool); err != nil {
		return err
	}
	if err := (&vmip.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: eventRecorder(mgr, "vmip-controller"), Pool: pool}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("vmip controller: %w", err)
	}
	if err := (&vmiplease.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: eventRecorder(mgr, "vmiplease-controller"),
		Retention: cfg.Network.LeaseRetention.Duration}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("vmiplease controller: %w", err)
	}
	return nil
}

// checkLeasesInPool refuses to start with a pool that no longer covers
// addresses machines hold: a range removed from the settings while leased
// would leave those machines with addresses no bridge or DHCP serves.
func checkLeasesInPool(ctx context.Context, r client.Reader, pool *ipam.Pool) error {
	var list v1alpha2.VirtualMachineIPAddressLeaseList
	if err := r.List(ctx, &list); err != nil {
		return fmt.Errorf("listing VirtualMachineIPAddressLeases: %w", err)
	}
	var outside []string
	for _, l := range list.Items {
		a, ok := ipam.AddrFromLeaseName(l.Name)
		if !ok {
			continue
		}
		if _, in := pool.Prefix(a); in {
			continue
		}
		holder := "released"
		if ref := l.Spec.VirtualMachineIPAddressRef; ref != nil && ref.Name != "" {
			holder = ref.Namespace + "/" + ref.Name
		}
		outside = append(outside, fmt.Sprintf("%s (%s)", l.Name, holder))
	}
	if len(outside) == 0 {
		return nil
	}
	return fmt.Errorf("virtualMachineCIDRs (%s) no longer covers addresses that are leased: %s; "+
		"put their range back into the settings, or delete those VirtualMachineIPAddresses (and released leases) first",
		pool, strings.Join(outside, ", "))
}
