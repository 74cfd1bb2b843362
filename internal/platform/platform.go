package platform

import (
	_ "embed"
	"fmt"
	"strings"

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
	// Image is the container image of every pod the platform creates. In
	// all-in-one mode the node runtime maps it to the platform's own binaries;
	// on a cluster it is the real image. The tag may vary (versions).
	Image = "virtualization.deckhouse.io/dvp"
	// ControllerUser is the identity of the platform's controllers; only it
	// (and cluster admins) may create pods of Image.
	ControllerUser = "dvp:controller"
	// DefaultClassAnnotation marks the default VirtualMachineClass.
	DefaultClassAnnotation = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"
)

// IsPlatformImage reports whether ref names Image, with or without a tag.
func IsPlatformImage(ref string) bool {
	if ref == Image {
		return true
	}
	rest, ok := strings.CutPrefix(ref, Image)
	return ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "@")) && !strings.ContainsAny(rest[1:], "/")
}

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
