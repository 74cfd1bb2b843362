package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/virtlab/dvp/internal/pki"
)

// serviceCIDR is the cluster IP range. Nothing routes it in all-in-one mode
// (there is no kube-proxy); the platform reaches its own endpoints directly.
const serviceCIDR = "10.96.0.0/16"

func (s *Server) apiserverArgs() []string {
	p := func(name string) string { return filepath.Join(s.pkiDir(), name) }
	return []string{
		fmt.Sprintf("--etcd-servers=https://127.0.0.1:%d", s.cfg.EtcdPort),
		"--etcd-cafile=" + p(pki.EtcdCACert),
		"--etcd-certfile=" + p(pki.EtcdAPIClient+".crt"),
		"--etcd-keyfile=" + p(pki.EtcdAPIClient+".key"),
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", s.cfg.APIPort),
		"--advertise-address=" + s.nodeIP.String(),
		"--tls-cert-file=" + p(pki.APIServerServing+".crt"),
		"--tls-private-key-file=" + p(pki.APIServerServing+".key"),
		"--client-ca-file=" + p(pki.CACert),
		"--anonymous-auth=false",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p(pki.ServiceAccountPub),
		"--service-account-signing-key-file=" + p(pki.ServiceAccountKey),
		"--enable-admission-plugins=NodeRestriction",
		"--admission-control-config-file=" + s.admissionConfigPath(),
		// Aggregated APIs (the console subresource) are reached by the
		// endpoint address, since there is no kube-proxy for service IPs.
		"--enable-aggregator-routing=true",
		"--requestheader-client-ca-file=" + p(pki.FrontProxyCACert),
		"--requestheader-allowed-names=" + pki.FrontProxyClient,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p(pki.FrontProxyClient+".crt"),
		"--proxy-client-key-file=" + p(pki.FrontProxyClient+".key"),
		"--kubelet-client-certificate=" + p(pki.APIServerKubelet+".crt"),
		"--kubelet-client-key=" + p(pki.APIServerKubelet+".key"),
		"--kubelet-certificate-authority=" + p(pki.CACert),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--profiling=false",
		"--event-ttl=1h",
	}
}

// runAPIServer runs kube-apiserver in this process until ctx is done. It goes
// through the same options -> complete -> validate -> Run path as the upstream
// command, minus the command's own signal handler (the server owns signals).
func runAPIServer(ctx context.Context, args []string) error {
	// The apiserver logs through its context too: give it klog's global
	// logger, which internal/logging filters for embedded components,
	// rather than the platform's own.
	ctx = klog.NewContext(ctx, klog.Background())
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-apiserver feature gates: %w", err)
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	if err := app.Run(ctx, completed); err != nil && !strings.Contains(err.Error(), "context canceled") {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	return nil
}

func (s *Server) admissionConfigPath() string {
	return filepath.Join(s.dataDir, "kubeconfigs", "admission.yaml")
}

// writeAdmissionConfig makes kube-apiserver present a client certificate to
// every admission webhook, so the platform's webhooks can refuse callers
// other than the apiserver.
func (s *Server) writeAdmissionConfig() error {
	kc := filepath.Join(s.dataDir, "kubeconfigs", "webhook-client.kubeconfig")
	p := func(name string) string { return filepath.Join(s.pkiDir(), name) }
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: %s
    client-key: %s
`, p(pki.WebhookClient+".crt"), p(pki.WebhookClient+".key"))
	plugin := func(name string) string {
		return fmt.Sprintf(`- name: %s
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %s
`, name, kc)
	}
	admission := "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n" +
		plugin("ValidatingAdmissionWebhook") + plugin("MutatingAdmissionWebhook")
	if err := pki.WriteFile(kc, []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	return pki.WriteFile(s.admissionConfigPath(), []byte(admission), 0o600)
}
