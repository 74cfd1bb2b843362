package client_test

import (
	"context"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtlab/dvp/api/client/clientset/versioned"
	"github.com/virtlab/dvp/api/v1alpha2"
)

// The example in api/README.md; being compiled here keeps it correct.
func Example() {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		panic(err)
	}
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.TODO()

	vms, err := cs.VirtualizationV1alpha2().VirtualMachines("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		panic(err)
	}
	for _, vm := range vms.Items {
		fmt.Println(vm.Name, vm.Status.Phase)
	}

	// Restart the machine "web".
	_, err = cs.VirtualizationV1alpha2().VirtualMachineOperations("default").Create(ctx, &v1alpha2.VirtualMachineOperation{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "restart-web-"},
		Spec: v1alpha2.VirtualMachineOperationSpec{
			Type:               v1alpha2.VirtualMachineOperationTypeRestart,
			VirtualMachineName: "web",
		},
	}, metav1.CreateOptions{})
	if err != nil {
		panic(err)
	}

	// Cluster-scoped kinds take no namespace.
	classes, err := cs.VirtualizationV1alpha2().VirtualMachineClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(classes.Items), "classes")
}
