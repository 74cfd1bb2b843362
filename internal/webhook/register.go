package webhook

import (
	"net/http"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/config"
)

// hook is one webhook endpoint and the resources it admits.
type hook struct {
	name       string
	path       string
	resource   string
	mutating   bool
	operations []admissionv1.OperationType
}

var (
	createUpdate = []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}
	hooks        = []hook{
		{"vd.validate.virtualization.deckhouse.io", "/validate-virtualdisk", "virtualdisks", false, createUpdate},
		{"vi.validate.virtualization.deckhouse.io", "/validate-virtualimage", "virtualimages", false, createUpdate},
		{"cvi.validate.virtualization.deckhouse.io", "/validate-clustervirtualimage", "clustervirtualimages", false, createUpdate},
		{"vm.validate.virtualization.deckhouse.io", "/validate-virtualmachine", "virtualmachines", false, createUpdate},
		{"vm.mutate.virtualization.deckhouse.io", "/mutate-virtualmachine", "virtualmachines", true, []admissionv1.OperationType{admissionv1.Create}},
		{"vmclass.validate.virtualization.deckhouse.io", "/validate-virtualmachineclass", "virtualmachineclasses", false, createUpdate},
		{"vmip.validate.virtualization.deckhouse.io", "/validate-virtualmachineipaddress", "virtualmachineipaddresses", false, createUpdate},
	}
)

// Register mounts every webhook on srv. reader must read from the API
// directly (not a cache), so that two concurrent requests see each other's
// committed objects as soon as possible.
//
// clientCN, when set, is the common name every caller's verified client
// certificate must carry: the apiserver's. Others get 403 before any handler
// runs, so nothing but the apiserver can call the webhooks.
func Register(srv ctrlwebhook.Server, scheme *runtime.Scheme, reader client.Reader, cfg *config.Config, clientCN string) {
	handlers := map[string]*admission.Webhook{
		"/validate-virtualdisk":             admission.WithValidator[*v1alpha2.VirtualDisk](scheme, &diskValidator{}),
		"/validate-virtualimage":            admission.WithValidator[*v1alpha2.VirtualImage](scheme, &imageValidator{}),
		"/validate-clustervirtualimage":     admission.WithValidator[*v1alpha2.ClusterVirtualImage](scheme, &clusterImageValidator{}),
		"/validate-virtualmachine":          admission.WithValidator[*v1alpha2.VirtualMachine](scheme, &vmValidator{reader: reader}),
		"/mutate-virtualmachine":            &admission.Webhook{Handler: &vmDefaulter{reader: reader}},
		"/validate-virtualmachineclass":     admission.WithValidator[*v1alpha2.VirtualMachineClass](scheme, &classValidator{reader: reader}),
		"/validate-virtualmachineipaddress": admission.WithValidator[*v1alpha2.VirtualMachineIPAddress](scheme, newIPAddressValidator(cfg, reader)),
	}
	for _, h := range hooks {
		var handler http.Handler = handlers[h.path]
		if clientCN != "" {
			handler = RequireClient(clientCN, handler)
		}
		srv.Register(h.path, handler)
	}
}

// RequireClient refuses requests whose TLS client certificate (verified by
// the server's ClientCAs) is missing or has another common name.
func RequireClient(cn string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != cn {
			http.Error(w, "forbidden: only kube-apiserver may call admission webhooks", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Configurations returns the webhook registrations for the apiserver. base is
// the https URL of the webhook server; caPEM verifies its certificate.
func Configurations(base string, caPEM []byte) (*admissionv1.ValidatingWebhookConfiguration, *admissionv1.MutatingWebhookConfiguration) {
	const name = "dvp-virtualization"
	fail := admissionv1.Fail
	none := admissionv1.SideEffectClassNone
	timeout := int32(10)
	never := admissionv1.NeverReinvocationPolicy
	v := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	m := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, h := range hooks {
		url := base + h.path
		cc := admissionv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
		rules := []admissionv1.RuleWithOperations{{
			Operations: h.operations,
			Rule: admissionv1.Rule{
				APIGroups:   []string{v1alpha2.GroupVersion.Group},
				APIVersions: []string{v1alpha2.GroupVersion.Version},
				Resources:   []string{h.resource},
			},
		}}
		if h.mutating {
			m.Webhooks = append(m.Webhooks, admissionv1.MutatingWebhook{
				Name: h.name, ClientConfig: cc, Rules: rules, FailurePolicy: &fail, SideEffects: &none,
				AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: &timeout, ReinvocationPolicy: &never,
			})
			continue
		}
		v.Webhooks = append(v.Webhooks, admissionv1.ValidatingWebhook{
			Name: h.name, ClientConfig: cc, Rules: rules, FailurePolicy: &fail, SideEffects: &none,
			AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: &timeout,
		})
	}
	return v, m
}
