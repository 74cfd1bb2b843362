package controlplane

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/crds"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/subresources"
	"github.com/virtlab/dvp/internal/webhook"
)

// bootstrapAPI installs or updates the CRDs (every start, so an upgraded
// binary brings its schema) and the platform namespace.
func (s *Server) bootstrapAPI(ctx context.Context, cfg *rest.Config) error {
	ext, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := fs.Glob(crds.FS, "*.yaml")
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		b, err := crds.FS.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := applyCRD(ctx, ext, &crd); err != nil {
			return err
		}
		names = append(names, crd.Name)
	}
	for _, n := range names {
		if err := waitEstablished(ctx, ext, n); err != nil {
			return err
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := ensureImagePolicy(ctx, cfg); err != nil {
		return err
	}
	if err := ensureUserRoles(ctx, cfg); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platform.Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", platform.Namespace, err)
	}
	// kube-controller-manager creates every namespace's default service
	// account, but only seconds after a cold start; until then any pod in
	// "default" is refused. Creating it here (the controller accepts an
	// existing one) makes the platform usable as soon as it says ready.
	for _, n := range []string{metav1.NamespaceDefault, platform.Namespace} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: n}}
		if _, err := cs.CoreV1().ServiceAccounts(n).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating service account %s/default: %w", n, err)
		}
	}
	return nil
}

func applyCRD(ctx context.Context, ext apiextclient.Interface, crd *apiextv1.CustomResourceDefinition) error {
	api := ext.ApiextensionsV1().CustomResourceDefinitions()
	return wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 8}, func(ctx context.Context) (bool, error) {
		cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, crd, metav1.CreateOptions{})
		case err == nil:
			crd.ResourceVersion = cur.ResourceVersion
			_, err = api.Update(ctx, crd, metav1.UpdateOptions{})
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("installing CRD %s: %w", crd.Name, err)
		}
		return true, nil
	})
}

func waitEstablished(ctx context.Context, ext apiextclient.Interface, name string) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// registerWebhooks points the apiserver at the platform's admission webhooks.
// It uses URL client configs on the node address: there is no kube-proxy to
// route a Service in all-in-one mode.
func (s *Server) registerWebhooks(ctx context.Context, cfg *rest.Config) error {
	caPEM, err := os.ReadFile(filepath.Join(s.pkiDir(), pki.CACert))
	if err != nil {
		return err
	}
	base := fmt.Sprintf("https://%s:%d", s.nodeIP, s.cfg.WebhookPort)
	validating, mutating := webhook.Configurations(base, caPEM)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{validating, mutating} {
		if err := upsert(ctx, c, obj); err != nil {
			return err
		}
	}
	return s.registerSubresources(ctx, cfg, caPEM)
}

// registerSubresources points the aggregated API (the console) at the
// platform's webhook listener: a Service without selector, an EndpointSlice
// with the node address (the apiserver routes to endpoints, there is no
// kube-proxy), and the APIService.
func (s *Server) registerSubresources(ctx context.Context, cfg *rest.Config, caPEM []byte) error {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiregv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	port := int32(s.cfg.WebhookPort)
	portName := "https"
	proto := corev1.ProtocolTCP
	ready := true
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: platform.Namespace, Name: subresources.ServiceName},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: 443, TargetPort: intstr.FromInt32(port), Protocol: proto}}},
	}
	if err := c.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: platform.Namespace, Name: subresources.ServiceName,
			Labels: map[string]string{discoveryv1.LabelServiceName: subresources.ServiceName, discoveryv1.LabelManagedBy: "dvp"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{s.nodeIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	if err := upsert(ctx, c, slice); err != nil {
		return fmt.Errorf("endpoints of %s: %w", svc.Name, err)
	}
	api := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: subresources.Version + "." + subresources.Group},
		Spec: apiregv1.APIServiceSpec{
			Service:              &apiregv1.ServiceReference{Namespace: platform.Namespace, Name: subresources.ServiceName, Port: ptr(int32(443))},
			Group:                subresources.Group,
			Version:              subresources.Version,
			CABundle:             caPEM,
			GroupPriorityMinimum: 100, // below the CRD groups: never the default for a short name
			VersionPriority:      15,
		},
	}
	if err := upsert(ctx, c, api); err != nil {
		return fmt.Errorf("APIService %s: %w", api.Name, err)
	}
	return nil
}

// upsert creates obj or replaces the spec-like content of an existing one.
func upsert(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur := obj.DeepCopyObject().(client.Object)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	return c.Update(ctx, obj)
}

// bootstrapObjects creates objects the platform ships once, on the first
// start only: a user who edits or deletes them keeps that choice. The record
// of what was done lives in the API (a ConfigMap), not on local disk.
func (s *Server) bootstrapObjects(ctx context.Context, cfg *rest.Config) error {
	log := klog.FromContext(ctx)
	c, err := client.New(cfg, client.Options{Scheme: platform.Scheme()})
	if err != nil {
		return err
	}
	record := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: platform.Namespace, Name: platform.BootstrapConfigMap}
	if err := c.Get(ctx, key, record); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if record.Data[platform.BootstrapGenericClassKey] == "true" {
		return nil
	}
	class := platform.GenericClass()
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Create(ctx, class)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return true, nil
		}
		// The webhook may take a moment to be reachable from the apiserver.
		log.V(1).Info("Creating the generic VirtualMachineClass", "error", err)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("creating VirtualMachineClass %s: %w", class.GetName(), err)
	}
	record.Namespace, record.Name = key.Namespace, key.Name
	record.Data = map[string]string{platform.BootstrapGenericClassKey: "true"}
	if record.ResourceVersion == "" {
		return c.Create(ctx, record)
	}
	return c.Update(ctx, record)
}

// ensureImagePolicy lets only the platform's controllers (and cluster
// admins, who can do anything anyway) create pods of the platform image:
// the node runtime runs such pods as host processes, so anyone else who may
// create pods in some namespace must not be able to name it.
func ensureImagePolicy(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	const name = "dvp-platform-image"
	img := platform.Image
	uses := fmt.Sprintf("(c.image == '%s' || c.image.startsWith('%s:') || c.image.startsWith('%s@'))", img, img, img)
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("request.userInfo.username == '%s' || 'system:masters' in request.userInfo.groups || "+
					"(!object.spec.containers.exists(c, %s) && !(has(object.spec.initContainers) && object.spec.initContainers.exists(c, %s)))",
					platform.ControllerUser, uses, uses),
				Message: "pods of the image " + img + " run as host processes of the virtualization platform: only the platform itself may create them",
				Reason:  ptr(metav1.StatusReasonForbidden),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := upsert(ctx, c, obj); err != nil {
			return fmt.Errorf("installing admission policy %s: %w", name, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
