package subresources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// Group and Version of the aggregated API.
	Group   = "subresources.virtualization.deckhouse.io"
	Version = "v1alpha2"
	// ServiceName is the Service the APIService points at (in the
	// platform namespace); the serving certificate names it.
	ServiceName = "dvp-subresources"
)

// Options configure the server.
type Options struct {
	// Reader reads VirtualMachines, pods and nodes.
	Reader client.Reader
	// Kube creates SubjectAccessReviews.
	Kube kubernetes.Interface
	// FrontProxyCA verifies kube-apiserver's proxy client certificate;
	// AllowedNames are the common names it may have.
	FrontProxyCA *x509.CertPool
	AllowedNames []string
	// NodeTLS dials the nodes' API (kubelet client certificate, cluster CA).
	NodeTLS *tls.Config
}

// Server is the aggregated API handler.
type Server struct {
	o        Options
	mu       sync.Mutex
	sessions map[string]*session
}

// New returns the handler; mount it under /apis/<Group>/ and /healthz.
func New(o Options) *Server {
	return &Server{o: o, sessions: map[string]*session{}}
}

// user is who kube-apiserver says is asking.
type user struct {
	Name   string
	Groups []string
	Extra  map[string]authzv1.ExtraValue
}

// authenticate trusts a request only when it carries kube-apiserver's
// front-proxy certificate, then takes the user from the X-Remote headers.
func (s *Server) authenticate(r *http.Request) (user, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return user{}, fmt.Errorf("no client certificate")
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.o.FrontProxyCA, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return user{}, fmt.Errorf("client certificate is not the front proxy's: %w", err)
	}
	if len(s.o.AllowedNames) > 0 && !slices.Contains(s.o.AllowedNames, leaf.Subject.CommonName) {
		return user{}, fmt.Errorf("client certificate %q is not an allowed front proxy", leaf.Subject.CommonName)
	}
	u := user{Name: r.Header.Get("X-Remote-User"), Groups: r.Header.Values("X-Remote-Group"), Extra: map[string]authzv1.ExtraValue{}}
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Remote-Extra-"); ok {
			u.Extra[strings.ToLower(name)] = v
		}
	}
	return u, nil
}

// authorize asks kube-apiserver whether the user may use the subresource.
func (s *Server) authorize(ctx context.Context, u user, verb, ns, name, sub string) (bool, string, error) {
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Name, Groups: u.Groups, Extra: u.Extra,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: Group, Version: Version, Resource: "virtualmachines", Subresource: sub, Name: name},
	}}
	out, err := s.o.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	return out.Status.Allowed, out.Status.Reason, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/livez", "/readyz":
		_, _ = w.Write([]byte("ok"))
		return
	case "/openapi/v2":
		// The apiserver merges every aggregated API's OpenAPI document
		// and logs an error each minute for one it cannot fetch. Streams
		// have no schema to describe: an empty document says so.
		writeJSON(w, map[string]any{"swagger": "2.0", "info": map[string]string{"title": Group, "version": Version}, "paths": map[string]any{}})
		return
	case "/openapi/v3":
		writeJSON(w, map[string]any{"paths": map[string]any{}})
		return
	}
	u, err := s.authenticate(r)
	if err != nil {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", err.Error())
		return
	}
	base := "/apis/" + Group
	switch path := strings.TrimSuffix(r.URL.Path, "/"); {
	case path == base:
		writeJSON(w, metav1.APIGroup{
			TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
			Name:             Group,
			Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: Group + "/" + Version, Version: Version}},
			PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: Group + "/" + Version, Version: Version},
		})
	case path == base+"/"+Version:
		writeJSON(w, metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: Group + "/" + Version,
			// The parent is listed with no verbs, as aggregated subresource
			// APIs do, so kubectl's RBAC helpers (`create role
			// --resource=virtualmachines.<group>/console`) find it; the
			// group's low priority keeps `kubectl get virtualmachine` on
			// the CRD group.
			APIResources: []metav1.APIResource{
				{Name: "virtualmachines", Namespaced: true, Kind: "VirtualMachine", Verbs: []string{}},
				{Name: "virtualmachines/console", Namespaced: true, Kind: "VirtualMachine", Verbs: []string{"get"}},
			},
		})
	default:
		ns, name, sub, ok := parseSubresource(strings.TrimPrefix(path, base+"/"+Version))
		if !ok {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("the server could not find the requested resource %s", r.URL.Path))
			return
		}
		switch sub {
		case "console":
			s.serveConsole(w, r, u, ns, name)
		default:
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("virtualmachines/%s is not served by this platform", sub))
		}
	}
}

// parseSubresource splits /namespaces/<ns>/virtualmachines/<name>/<sub>.
func parseSubresource(p string) (ns, name, sub string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 5 || parts[0] != "namespaces" || parts[2] != "virtualmachines" || parts[1] == "" || parts[3] == "" {
		return "", "", "", false
	}
	return parts[1], parts[3], parts[4], true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus answers with a Kubernetes Status, which kubectl and client-go
// print as the error message.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	})
}

func logger(r *http.Request) klog.Logger { return klog.FromContext(r.Context()) }

var pingInterval = 30 * time.Second
