package manager

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/virtlab/dvp/internal/controller/clustervirtualimage"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/controller/virtualdisk"
	"github.com/virtlab/dvp/internal/controller/virtualimage"
)

// setupImageControllers registers one reconciler per image kind.
// uploads, when not nil, serves images and disks with an Upload data source.
func setupImageControllers(mgr ctrl.Manager, o Options, uploads *importjob.Uploads) error {
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	env := *o.Images
	env.Client, env.Kube = mgr.GetClient(), kube
	if err := (&virtualimage.Reconciler{Client: mgr.GetClient(), Jobs: &env, Recorder: eventRecorder(mgr, "virtualimage-controller"), Uploads: uploads}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("virtualimage controller: %w", err)
	}
	if err := (&clustervirtualimage.Reconciler{Client: mgr.GetClient(), Jobs: &env, Recorder: eventRecorder(mgr, "clustervirtualimage-controller"), Uploads: uploads}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("clustervirtualimage controller: %w", err)
	}
	// Disks are reconciled wherever images are: both belong to the same
	// storage side of the platform.
	if err := (&virtualdisk.Reconciler{Client: mgr.GetClient(), Recorder: eventRecorder(mgr, "virtualdisk-controller"), Jobs: &env, Uploads: uploads}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("virtualdisk controller: %w", err)
	}
	return nil
}
