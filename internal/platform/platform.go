package platform

import (
	_ "embed"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/api/v1alpha2"
)

const (
	// Namespace is where the platform keeps its own objects, as upstream.
	Namespace = "d8-virtualization"
	// BootstrapConfigMap records one-time actions of the first start.
	BootstrapConfigMap = "dvp-bootstrap"
	// BootstrapGenericClassKey is set once the generic class was created.
	BootstrapGenericClassKey = "genericClassCreated"
	// DefaultClassAnnotation marks the default VirtualMachineClass.
	DefaultClassAnnotation = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"
)

// Scheme returns a scheme with the core Kubernetes types and our API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail at run time
	}
	if err := v1alpha2.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

//go:embed generic-class.yaml
var genericClassYAML []byte

// GenericClass returns the built-in `generic` VirtualMachineClass.
func GenericClass() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(genericClassYAML, &u.Object); err != nil {
		panic(fmt.Sprintf("embedded generic-class.yaml: %v", err))
	}
	return u
}
