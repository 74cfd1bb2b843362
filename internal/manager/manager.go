package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/subresources"
	"github.com/virtlab/dvp/internal/upload"
	"github.com/virtlab/dvp/internal/webhook"
)

// Options configure one manager.
type Options struct {
	RESTConfig *rest.Config
	Config     *config.Config
	// WebhookHost and WebhookPort are where admission webhooks listen.
	WebhookHost string
	WebhookPort int
	// CertDir holds the webhook serving certificate (pki.PlatformServing).
	CertDir string
	// WebhookClientCA, when set, is a PEM file of the CA that signed the
	// apiserver's webhook client certificate; requests without a client
	// certificate from it with WebhookClientCN are refused.
	WebhookClientCA string
	WebhookClientCN string
	// Images, when set, enables the VirtualImage and ClusterVirtualImage
	// controllers, which import into DVCR.
	Images *importjob.Env
	// Uploads, with Images, serves the upload gateway for images with
	// dataSource.type: Upload.
	Uploads *UploadOptions
	// Subresources, when set, serves the aggregated API (the console) on
	// the webhook server.
	Subresources *SubresourceOptions
}

// SubresourceOptions configure the aggregated API.
type SubresourceOptions struct {
	// FrontProxyCA (PEM file) signed kube-apiserver's proxy client
	// certificate, whose common name must be one of AllowedNames.
	FrontProxyCA string
	AllowedNames []string
	// NodeCert/NodeKey authenticate to the nodes' API, whose serving
	// certificates NodeCA signed.
	NodeCert, NodeKey, NodeCA string
}

// UploadOptions configure the upload gateway.
type UploadOptions struct {
	// Addr is host:port the gateway listens on; BaseURL (https://host:port)
	// is how users reach it, shown in status.imageUploadURLs.
	Addr, BaseURL string
	// CertFile and KeyFile are its serving certificate, CAFile the CA that
	// signed it (printed in status.uploadCommand) and DVCR's certificate.
	CertFile, KeyFile, CAFile string
	// ScratchDir holds an upload while it is inspected.
	ScratchDir string
}

// Run starts the manager and blocks until ctx is done. ready, if not nil, is
// closed once the webhook server accepts TLS connections.
func Run(ctx context.Context, o Options, ready chan<- struct{}) error {
	log := klog.FromContext(ctx)
	ctrl.SetLogger(log)
	scheme := platform.Scheme()
	var tlsOpts []func(*tls.Config)
	if o.WebhookClientCA != "" {
		pem, err := os.ReadFile(o.WebhookClientCA)
		if err != nil {
			return fmt.Errorf("reading webhook client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", o.WebhookClientCA)
		}
		if sr := o.Subresources; sr != nil {
			// The aggregated API shares the listener: kube-apiserver
			// presents its front-proxy certificate there.
			fp, err := os.ReadFile(sr.FrontProxyCA)
			if err != nil {
				return fmt.Errorf("reading front proxy CA: %w", err)
			}
			pool.AppendCertsFromPEM(fp)
		}
		// "If given": the readiness probe connects without a certificate;
		// the handlers refuse such requests (webhook.RequireClient).
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			c.ClientCAs = pool
			c.ClientAuth = tls.VerifyClientCertIfGiven
		})
	}
	mgr, err := ctrl.NewManager(o.RESTConfig, ctrl.Options{
		Scheme:                 scheme,
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host:     o.WebhookHost,
			Port:     o.WebhookPort,
			CertDir:  o.CertDir,
			CertName: pki.PlatformServing + ".crt",
			KeyName:  pki.PlatformServing + ".key",
			TLSOpts:  tlsOpts,
		}),
	})
	if err != nil {
		return fmt.Errorf("creating controller manager: %w", err)
	}
	webhook.Register(mgr.GetWebhookServer(), scheme, mgr.GetAPIReader(), o.Config, o.WebhookClientCN)
	if o.Subresources != nil {
		h, err := newSubresources(mgr, *o.Subresources)
		if err != nil {
			return err
		}
		mgr.GetWebhookServer().Register("/apis/"+subresources.Group+"/", h)
		mgr.GetWebhookServer().Register("/apis/"+subresources.Group, h)
		mgr.GetWebhookServer().Register("/openapi/v2", h)
		mgr.GetWebhookServer().Register("/openapi/v3", h)
	}
	if o.Images != nil {
		var uploads *importjob.Uploads
		if u := o.Uploads; u != nil {
			if u.ScratchDir != "" {
				if err := os.MkdirAll(u.ScratchDir, 0o700); err != nil {
					return err
				}
			}
			gw := upload.New(mgr.GetAPIReader(), mgr.GetClient(), o.Images.DVCRAddress, o.Images.DVCRSecret, u.CAFile, u.ScratchDir)
			gw.MaxBytes = o.Images.MaxImageSize
			if err := mgr.Add(ctrlmanager.RunnableFunc(func(ctx context.Context) error {
				return gw.Serve(ctx, u.Addr, u.CertFile, u.KeyFile)
			})); err != nil {
				return err
			}
			uploads = &importjob.Uploads{Gateway: gw, Wait: o.Config.Upload.WaitTimeout.Duration, BaseURL: u.BaseURL, CAFile: u.CAFile}
		}
		if err := setupImageControllers(mgr, o, uploads); err != nil {
			return err
		}
	}
	if err := setupMachineControllers(mgr, o); err != nil {
		return err
	}
	if err := setupAddressControllers(ctx, mgr, o.Config); err != nil {
		return err
	}

	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	if ready != nil {
		check := mgr.GetWebhookServer().StartedChecker()
		for {
			if check(&http.Request{}) == nil {
				close(ready)
				break
			}
			select {
			case err := <-errc:
				return fmt.Errorf("controller manager: %w", err)
			case <-ctx.Done():
				return <-errc
			case <-time.After(50 * time.Millisecond):
			}
		}
		log.Info("Admission webhooks serving", "address", fmt.Sprintf("%s:%d", o.WebhookHost, o.WebhookPort))
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	return nil
}

// eventRecorder is the core/v1 Events recorder the controllers are written
// against. controller-runtime deprecates it for the events.k8s.io API, whose
// recorder takes other arguments at every call site; moving is one change
// for all controllers, not one to make piecemeal.
func eventRecorder(mgr ctrl.Manager, name string) record.EventRecorder {
	//lint:ignore SA1019 see above: every controller moves to the new API at once.
	return mgr.GetEventRecorderFor(name)
}
