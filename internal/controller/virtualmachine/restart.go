package virtualmachine

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// restartFields are the spec fields whose change needs a new launcher
// (the rest, such as runPolicy and disruptions, apply at once).
var restartFields = []string{
	"virtualMachineClassName", "cpu", "memory", "blockDeviceRefs", "provisioning", "enableParavirtualization",
	"osType", "bootloader", "terminationGracePeriodSeconds", "nodeSelector", "tolerations", "affinity",
	"priorityClassName", "topologySpreadConstraints", "virtualMachineIPAddressName", "networks",
}

// reconcileRestart compares the spec the running launcher was built from
// with the current one: the changes that need a restart are recorded for
// the status, and applied at once under restartApprovalMode Automatic. The
// launcher deleted here still counts as running in this reconcile's status;
// the next one, woken by the deletion, sees it stopping.
func (r *Reconciler) reconcileRestart(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	p.changes = pendingChanges(vm, p.active)
	p.restartChecked = true
	if len(p.changes) == 0 || vm.Spec.Disruptions.EffectiveApprovalMode() != v1alpha2.RestartApprovalModeAutomatic || !p.active.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	r.Recorder.Event(vm, corev1.EventTypeNormal, "ChangesApplied", "Restarting the machine to apply changes (restartApprovalMode: Automatic)")
	if err := r.Client.Delete(ctx, p.active); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting launcher pod %s to apply changes: %w", p.active.Name, err)
	}
	log.FromContext(ctx).Info("Deleted the launcher pod to apply changes that need a restart (restartApprovalMode: Automatic)",
		"pod", p.active.Name, "changes", len(p.changes))
	r.Recorder.Event(vm, corev1.EventTypeNormal, "Restarted", "Launcher "+p.active.Name+" stopped; a new one starts with the current configuration")
	return ctrl.Result{}, nil
}

// pendingChanges lists, as {operation, path, currentValue, desiredValue},
// the restart fields in which the spec differs from the one the active
// launcher was built from.
func pendingChanges(vm *v1alpha2.VirtualMachine, active *corev1.Pod) []runtimeRaw {
	if active == nil || !active.DeletionTimestamp.IsZero() {
		return nil
	}
	applied, ok := active.Annotations[AppliedSpecAnnotation]
	if !ok {
		return nil
	}
	var was, now map[string]json.RawMessage
	if json.Unmarshal([]byte(applied), &was) != nil {
		return nil
	}
	b, _ := json.Marshal(vm.Spec)
	_ = json.Unmarshal(b, &now)
	var out []runtimeRaw
	for _, f := range restartFields {
		a, b := was[f], now[f]
		if equalJSON(a, b) {
			continue
		}
		op := "replace"
		switch {
		case len(a) == 0:
			op = "add"
		case len(b) == 0:
			op = "remove"
		}
		change := map[string]any{"operation": op, "path": f}
		if len(a) > 0 {
			change["currentValue"] = json.RawMessage(a)
		}
		if len(b) > 0 {
			change["desiredValue"] = json.RawMessage(b)
		}
		raw, _ := json.Marshal(change)
		out = append(out, runtimeRaw{Raw: raw})
	}
	return out
}

func equalJSON(a, b json.RawMessage) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return equality.Semantic.DeepEqual(x, y)
}
