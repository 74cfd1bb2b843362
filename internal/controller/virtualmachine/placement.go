package virtualmachine

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// LabelPlacementFor marks the placement pod of a machine.
const LabelPlacementFor = "vm.virtualization.deckhouse.io/placement-for"

// placementName is the machine's placement pod.
func placementName(vm string) string { return "d8v-placement-" + vm }

// reconcilePlacement keeps a placement pod while, and only while, a machine
// that should run waits for WaitForFirstConsumer disks to be placed.
func (r *Reconciler) reconcilePlacement(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	if !p.run || p.active != nil || p.ready() || len(p.placing) == 0 {
		return ctrl.Result{}, r.removePlacement(ctx, vm)
	}
	return ctrl.Result{}, r.ensurePlacement(ctx, vm, p)
}

// ensurePlacement creates the machine's placement pod: the launcher pod's
// scheduling constraints and requests and its disks, running nothing but an
// idle process. kube-scheduler places it as it would place the machine, so
// WaitForFirstConsumer volumes are provisioned on a node the machine can
// run on; their data is then written there, and the launcher follows the
// volumes to that node. The importer never chooses the node itself.
func (r *Reconciler) ensurePlacement(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) error {
	cur := &corev1.Pod{}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: placementName(vm.Name)}, cur)
	if err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading placement pod: %w", err)
	}
	pod, err := launcherPod(vm, p)
	if err != nil {
		return fmt.Errorf("building placement pod: %w", err)
	}
	pod.GenerateName, pod.Name = "", placementName(vm.Name)
	pod.Labels = map[string]string{LabelPlacementFor: vm.Name, "app.kubernetes.io/managed-by": "dvp", "app.kubernetes.io/component": "placement"}
	pod.Annotations = nil
	grace := int64(1)
	pod.Spec.TerminationGracePeriodSeconds = &grace
	c := &pod.Spec.Containers[0]
	c.Name, c.Command, c.Env, c.VolumeMounts = "placement", []string{"dvp-worker", "idle"}, nil, nil
	var vols []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
	if err := controllerutil.SetControllerReference(vm, pod, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating placement pod: %w", err)
	}
	log.FromContext(ctx).Info("Created a placement pod for WaitForFirstConsumer disks", "pod", pod.Name, "disks", p.placing)
	r.Recorder.Eventf(vm, corev1.EventTypeNormal, "Placing",
		"Placing the machine (pod %s) so that WaitForFirstConsumer disks %s are provisioned and filled where it will run",
		pod.Name, strings.Join(p.placing, ", "))
	return nil
}

// removePlacement deletes the placement pod once it has served (the disks
// are bound and filled, or the machine no longer should run).
func (r *Reconciler) removePlacement(ctx context.Context, vm *v1alpha2.VirtualMachine) error {
	pod := &corev1.Pod{}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: placementName(vm.Name)}, pod)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading placement pod: %w", err)
	}
	if !pod.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := r.Client.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting placement pod: %w", err)
	}
	log.FromContext(ctx).Info("Deleted the placement pod, which has served", "pod", pod.Name)
	return nil
}
