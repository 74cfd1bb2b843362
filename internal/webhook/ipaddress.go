package webhook

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/config"
)

// ipAddressValidator checks static addresses against virtualMachineCIDRs.
// Whether an address is already taken is decided by the lease name (one
// cluster-scoped object per address), not here, so there is no race to lose.
type ipAddressValidator struct {
	cidrs []*net.IPNet
	text  string
}

var _ admission.Validator[*v1alpha2.VirtualMachineIPAddress] = (*ipAddressValidator)(nil)

func newIPAddressValidator(cfg *config.Config) *ipAddressValidator {
	v := &ipAddressValidator{}
	if cfg == nil {
		return v
	}
	for _, c := range cfg.VirtualMachineCIDRs {
		if _, n, err := net.ParseCIDR(c); err == nil {
			v.cidrs = append(v.cidrs, n)
		}
	}
	v.text = strings.Join(cfg.VirtualMachineCIDRs, ", ")
	return v
}

var staticIPPath = field.NewPath("spec", "staticIP")

func (v *ipAddressValidator) ValidateCreate(_ context.Context, ip *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	return nil, invalid("VirtualMachineIPAddress", ip.Name, v.validateSpec(ip))
}

func (v *ipAddressValidator) validateSpec(ip *v1alpha2.VirtualMachineIPAddress) field.ErrorList {
	if len(v.cidrs) == 0 {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"),
			"virtualMachineCIDRs is not configured on the platform: addresses cannot be allocated")}
	}
	switch ip.Spec.Type {
	case v1alpha2.VirtualMachineIPAddressTypeStatic:
		if ip.Spec.StaticIP == "" {
			return field.ErrorList{field.Required(staticIPPath, "an address is required for type Static")}
		}
		return v.validateAddress(ip.Spec.StaticIP)
	case v1alpha2.VirtualMachineIPAddressTypeAuto:
		if ip.Spec.StaticIP != "" {
			return v.validateAddress(ip.Spec.StaticIP)
		}
	}
	return nil
}

func (v *ipAddressValidator) validateAddress(s string) field.ErrorList {
	addr := net.ParseIP(s).To4()
	if addr == nil {
		return field.ErrorList{field.Invalid(staticIPPath, s, "must be an IPv4 address such as 10.66.10.20")}
	}
	for _, n := range v.cidrs {
		if n.Contains(addr) && !isNetworkOrBroadcast(n, addr) {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(staticIPPath, s, fmt.Sprintf(
		"the requested address %s is out of the valid range: use an address inside %s (not the first or last address of a range)", s, v.text))}
}

func isNetworkOrBroadcast(n *net.IPNet, ip net.IP) bool {
	base := binary.BigEndian.Uint32(n.IP.To4())
	mask := binary.BigEndian.Uint32(net.IP(n.Mask).To4())
	a := binary.BigEndian.Uint32(ip)
	return a == base || a == base|^mask
}

func (v *ipAddressValidator) ValidateUpdate(_ context.Context, old, ip *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	if old.Spec == ip.Spec {
		return nil, nil
	}
	var errs field.ErrorList
	bound := old.Status.Phase != "" && old.Status.Phase != "Pending"
	if bound {
		switch {
		case old.Spec.Type != ip.Spec.Type && !(old.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeAuto &&
			ip.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeStatic && ip.Spec.StaticIP == old.Status.Address):
			errs = append(errs, field.Forbidden(field.NewPath("spec", "type"), fmt.Sprintf(
				"the VirtualMachineIPAddress is in '%s' state -> type cannot be changed (only Auto -> Static with the current address %s, to pin it)",
				old.Status.Phase, old.Status.Address)))
		case old.Spec.Type == v1alpha2.VirtualMachineIPAddressTypeStatic && old.Spec.StaticIP != ip.Spec.StaticIP:
			errs = append(errs, field.Forbidden(staticIPPath, fmt.Sprintf(
				"the static address cannot be changed once it is %s: create a new VirtualMachineIPAddress instead", old.Status.Phase)))
		}
	}
	if len(errs) == 0 {
		errs = v.validateSpec(ip)
	}
	return nil, invalid("VirtualMachineIPAddress", ip.Name, errs)
}

func (v *ipAddressValidator) ValidateDelete(context.Context, *v1alpha2.VirtualMachineIPAddress) (admission.Warnings, error) {
	return nil, nil
}
