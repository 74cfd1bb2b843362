package v1alpha2

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAddToSchemeRegistersEveryKind(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatalf("AddToScheme: %v", err)
	}
	for _, kind := range []string{
		ClusterVirtualImageKind, VirtualImageKind, VirtualDiskKind, VirtualMachineKind,
		VirtualMachineBlockDeviceAttachmentKind, VirtualMachineIPAddressKind,
		VirtualMachineIPAddressLeaseKind, VirtualMachineOperationKind, VirtualMachineClassKind,
	} {
		for _, k := range []string{kind, kind + "List"} {
			if !scheme.Recognizes(GroupVersion.WithKind(k)) {
				t.Errorf("scheme does not recognize %s", k)
			}
		}
	}
}
