package manager

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/controller/vmip"
	"github.com/virtlab/dvp/internal/controller/vmiplease"
	"github.com/virtlab/dvp/internal/ipam"
)

// setupAddressControllers registers the reconcilers of the machines'
// addresses and their leases, over the pool of virtualMachineCIDRs.
func setupAddressControllers(mgr ctrl.Manager, cfg *config.Config) error {
	if cfg == nil {
		cfg = config.Default()
	}
	pool, err := ipam.NewPool(cfg.VirtualMachineCIDRs)
	if err != nil {
		return fmt.Errorf("virtualMachineCIDRs: %w", err)
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
