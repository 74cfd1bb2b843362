package manager

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/ipam"
)

func TestRemovedRangeWithLeasesRefused(t *testing.T) {
	s := runtime.NewScheme()
	_ = v1alpha2.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(
		&v1alpha2.VirtualMachineIPAddressLease{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-66-10-2"}},
		&v1alpha2.VirtualMachineIPAddressLease{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-66-20-2"},
			Spec: v1alpha2.VirtualMachineIPAddressLeaseSpec{VirtualMachineIPAddressRef: &v1alpha2.VirtualMachineIPAddressLeaseIPAddressRef{Name: "web-x7k2p", Namespace: "vms"}}},
	).Build()
	both, _ := ipam.NewPool([]string{"10.66.10.0/24", "10.66.20.0/24"})
	if err := checkLeasesInPool(context.Background(), c, both); err != nil {
		t.Fatalf("both ranges configured: %v", err)
	}
	one, _ := ipam.NewPool([]string{"10.66.10.0/24"})
	err := checkLeasesInPool(context.Background(), c, one)
	if err == nil || !strings.Contains(err.Error(), "ip-10-66-20-2 (vms/web-x7k2p)") || strings.Contains(err.Error(), "ip-10-66-10-2") {
		t.Fatalf("removed range: %v", err)
	}
}
