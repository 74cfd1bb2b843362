package webhook

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/config"
)

func TestStaticAddressAlreadyLeased(t *testing.T) {
	s := runtime.NewScheme()
	_ = v1alpha2.AddToScheme(s)
	lease := func(name, holder string) *v1alpha2.VirtualMachineIPAddressLease {
		return &v1alpha2.VirtualMachineIPAddressLease{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha2.VirtualMachineIPAddressLeaseSpec{VirtualMachineIPAddressRef: &v1alpha2.VirtualMachineIPAddressLeaseIPAddressRef{Name: holder, Namespace: "vms"}}}
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(lease("ip-10-66-10-20", "web"), lease("ip-10-66-10-21", "")).Build()
	v := newIPAddressValidator(&config.Config{VirtualMachineCIDRs: []string{"10.66.10.0/24"}}, c)
	static := v1alpha2.VirtualMachineIPAddressTypeStatic
	_, err := v.ValidateCreate(context.Background(), ip(static, "10.66.10.20", "", ""))
	wantErr(t, "leased", err, "the specified IP address 10.66.10.20 has already been allocated and has not been released")
	_, err = v.ValidateCreate(context.Background(), ip(static, "10.66.10.21", "", ""))
	wantErr(t, "released", err, "")
	_, err = v.ValidateCreate(context.Background(), ip(static, "10.66.10.22", "", ""))
	wantErr(t, "free", err, "")
}
