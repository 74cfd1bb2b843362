package manager

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/virtlab/dvp/internal/controller/virtualmachine"
	"github.com/virtlab/dvp/internal/controller/vmclass"
	"github.com/virtlab/dvp/internal/controller/vmop"
	"github.com/virtlab/dvp/internal/subresources"
)

// setupMachineControllers registers the reconcilers of machines, their
// classes and their operations.
func setupMachineControllers(mgr ctrl.Manager, o Options) error {
	vm := &virtualmachine.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: eventRecorder(mgr, "virtualmachine-controller")}
	if o.Images != nil {
		env := *o.Images
		env.Client = mgr.GetClient()
		vm.DVCR = &env
	}
	if err := vm.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("virtualmachine controller: %w", err)
	}
	if err := (&vmop.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: eventRecorder(mgr, "vmop-controller")}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("vmop controller: %w", err)
	}
	if err := (&vmclass.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("vmclass controller: %w", err)
	}
	return nil
}

func newSubresources(mgr ctrl.Manager, o SubresourceOptions) (*subresources.Server, error) {
	fp, err := os.ReadFile(o.FrontProxyCA)
	if err != nil {
		return nil, fmt.Errorf("reading front proxy CA: %w", err)
	}
	fpPool := x509.NewCertPool()
	if !fpPool.AppendCertsFromPEM(fp) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.FrontProxyCA)
	}
	cert, err := tls.LoadX509KeyPair(o.NodeCert, o.NodeKey)
	if err != nil {
		return nil, fmt.Errorf("node client certificate: %w", err)
	}
	ca, err := os.ReadFile(o.NodeCA)
	if err != nil {
		return nil, err
	}
	nodePool := x509.NewCertPool()
	nodePool.AppendCertsFromPEM(ca)
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, err
	}
	return subresources.New(subresources.Options{
		Reader: mgr.GetAPIReader(), Kube: kube,
		FrontProxyCA: fpPool, AllowedNames: o.AllowedNames,
		NodeTLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: nodePool, MinVersion: tls.VersionTLS12},
	}), nil
}
