package webhook

import (
	"context"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/ipam"
)

// ipAddressValidator checks addresses against virtualMachineCIDRs and
// refuses a static address another address holds. The refusal is a
// courtesy, early and clear: what makes two claims on one address
// impossible is the lease's unique name, which the controller creates.
type ipAddressValidator struct {
	pool   *ipam.Pool
	reader client.Reader
}

var _ admission.Validator[*v1alpha2.VirtualMachineIPAddress] = (*ipAddressValidator)(nil)

func newIPAddressValidator(cfg *config.Config, reader client.Reader) *ipAddressValidator {
	v := &ipAddressValidator{reader: reader}
	if cfg != nil && len(cfg.VirtualMachineCIDRs) > 0 {
		// The server validated the CIDRs at start; an error leaves pool nil,
		// which refuses every address below.
		v.pool, _ = ipam.NewPool(cfg.VirtualMachineCIDRs)
	}
	return v
}

var staticIPPath = field.NewPath("spec", "staticIP")

func (v *ipAddressValidator) ValidateCreate(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	errs := v.validateSpec(ip)
	if len(errs) == 0 && ip.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeStatic {
		taken, err := v.leased(ctx, ip.Spec.StaticIP)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if taken {
			errs = append(errs, field.Invalid(staticIPPath, ip.Spec.StaticIP, fmt.Sprintf(
				"the VirtualMachineIPAddress cannot be created: the specified IP address %s has already been allocated and has not been released",
				ip.Spec.StaticIP)))
		}
	}
	return nil, invalid("VirtualMachineIPAddress", ip.Name, errs)
}

func (v *ipAddressValidator) validateSpec(ip *v1alpha2.VirtualMachineIPAddress) field.ErrorList {
	if v.pool == nil {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"),
			"operations with VirtualMachineIPAddresses are forbidden: the platform's virtualMachineCIDRs setting is not configured")}
	}
	switch ip.Spec.Type {
	case v1alpha2.VirtualMachineIPAddressTypeStatic:
		if ip.Spec.StaticIP == "" {
			return field.ErrorList{field.Required(staticIPPath, "the 'Static IP' field should be set for the IP address with the 'Static' type")}
		}
		return v.validateAddress(ip.Spec.StaticIP)
	case v1alpha2.VirtualMachineIPAddressTypeAuto:
		if ip.Spec.StaticIP != "" {
			return field.ErrorList{field.Invalid(staticIPPath, ip.Spec.StaticIP, fmt.Sprintf(
				"the VirtualMachineIPAddress cannot be created: The 'Static IP' field is set for the %s IP address with the 'Auto' type", ip.Name))}
		}
	}
	return nil
}

func (v *ipAddressValidator) validateAddress(s string) field.ErrorList {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return field.ErrorList{field.Invalid(staticIPPath, s, "must be an IPv4 address such as 10.66.10.20")}
	}
	if msg := v.pool.Refusal(a); msg != "" {
		return field.ErrorList{field.Invalid(staticIPPath, s, msg)}
	}
	return nil
}

// leased reports whether another address holds s: its lease exists and is
// not released (a released lease may be claimed again in its namespace; the
// controller checks which).
func (v *ipAddressValidator) leased(ctx context.Context, s string) (bool, error) {
	if v.reader == nil {
		return false, nil
	}
	l := &v1alpha2.VirtualMachineIPAddressLease{}
	err := v.reader.Get(ctx, client.ObjectKey{Name: ipam.LeaseNameFor(s)}, l)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ref := l.Spec.VirtualMachineIPAddressRef
	return ref != nil && ref.Name != "", nil
}

func (v *ipAddressValidator) ValidateUpdate(_ context.Context, old, ip *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	if old.Spec == ip.Spec {
		return nil, nil
	}
	bound := old.Status.Phase != "" && old.Status.Phase != v1alpha2.VirtualMachineIPAddressPhasePending
	if bound {
		pin := old.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeAuto && ip.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeStatic
		switch {
		case old.Spec.Type != ip.Spec.Type && !pin:
			return nil, invalid("VirtualMachineIPAddress", ip.Name, field.ErrorList{field.Forbidden(field.NewPath("spec", "type"), fmt.Sprintf(
				"the VirtualMachineIPAddress is in '%s' state -> type cannot be changed (only Auto -> Static with the current address %s, to pin it)",
				old.Status.Phase, old.Status.Address))})
		case ip.Spec.StaticIP != old.Status.Address:
			return nil, invalid("VirtualMachineIPAddress", ip.Name, field.ErrorList{field.Forbidden(staticIPPath, fmt.Sprintf(
				"only type change Auto->Static is allowed: can't change current IP %s to the specified %s", old.Status.Address, ip.Spec.StaticIP))})
		}
		// Pinning the bound address: its range may have left the settings
		// since; warn, do not refuse.
		var warn admission.Warnings
		for _, e := range v.validateSpec(ip) {
			warn = append(warn, e.Error())
		}
		return warn, nil
	}
	return nil, invalid("VirtualMachineIPAddress", ip.Name, v.validateSpec(ip))
}

func (v *ipAddressValidator) ValidateDelete(context.Context, *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	return nil, nil
}
