package vmclass

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// Finalizer keeps a class while machines use it.
const Finalizer = "virtualization.deckhouse.io/vmclass-protection"

// Reconciler reconciles VirtualMachineClasses.
type Reconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler; machines and nodes coming and
// going change what a class reports.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list v1alpha2.VirtualMachineClassList
		if err := r.Client.List(ctx, &list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, c := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: c.Name}})
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).Named("vmclass").
		For(&v1alpha2.VirtualMachineClass{}).
		Watches(&corev1.Node{}, all).
		Watches(&v1alpha2.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			vm, ok := o.(*v1alpha2.VirtualMachine)
			if !ok || vm.Spec.VirtualMachineClassName == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: vm.Spec.VirtualMachineClassName}}}
		})).
		Complete(ctrlreconcile.QuietConflicts(r))
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	class := &v1alpha2.VirtualMachineClass{}
	if err := r.Client.Get(ctx, req.NamespacedName, class); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := ctrlreconcile.SnapshotStatus(r.Client, class, func() any { return *class.Status.DeepCopy() }, &class.Status.ObservedGeneration)
	defer status.Write(ctx, &retErr)
	users, err := r.users(ctx, class.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(users) > 0 {
		ctrlreconcile.SetCondition(&class.Status.Conditions, class.Generation, "InUse", true, "VirtualMachineClassInUse", fmt.Sprintf("used by %d machine(s): %s", len(users), strings.Join(firstN(users, 5), ", ")))
	} else {
		ctrlreconcile.RemoveCondition(&class.Status.Conditions, "InUse")
	}
	if !class.DeletionTimestamp.IsZero() {
		class.Status.Phase = v1alpha2.VirtualMachineClassPhaseTerminating
		if len(users) > 0 {
			return ctrl.Result{}, nil
		}
		if removed, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, class, Finalizer); err != nil || !removed {
			return ctrl.Result{}, err
		}
		log.Info("class released for deletion: no machine uses it")
		return ctrl.Result{}, nil
	}
	if _, err := ctrlreconcile.EnsureFinalizer(ctx, r.Client, class, Finalizer); err != nil {
		return ctrl.Result{}, err
	}
	nodes, err := r.suitableNodes(ctx, class)
	if err != nil {
		return ctrl.Result{}, err
	}
	if class.Spec.CPU.Type != v1alpha2.CPUTypeHost && class.Spec.CPU.Type != v1alpha2.CPUTypeHostPassthrough {
		class.Status.AvailableNodes = nodes
	}
	if len(nodes) == 0 {
		if class.Status.Phase == v1alpha2.VirtualMachineClassPhaseReady {
			log.Info("class not ready: no node matches it any more")
		}
		class.Status.Phase = v1alpha2.VirtualMachineClassPhasePending
		ctrlreconcile.SetCondition(&class.Status.Conditions, class.Generation, "Ready", false, "NoSuitableNodesFound", "no node matches the class's nodeSelector")
		return ctrl.Result{}, nil
	}
	if class.Status.Phase != v1alpha2.VirtualMachineClassPhaseReady {
		log.Info("class ready", "nodes", len(nodes))
	}
	class.Status.Phase = v1alpha2.VirtualMachineClassPhaseReady
	ctrlreconcile.SetCondition(&class.Status.Conditions, class.Generation, "Ready", true, "SuitableNodesFound", "")
	return ctrl.Result{}, nil
}

func (r *Reconciler) users(ctx context.Context, class string) ([]string, error) {
	var list v1alpha2.VirtualMachineList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	var out []string
	for _, vm := range list.Items {
		if vm.Spec.VirtualMachineClassName == class {
			out = append(out, vm.Namespace+"/"+vm.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (r *Reconciler) suitableNodes(ctx context.Context, class *v1alpha2.VirtualMachineClass) ([]string, error) {
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return nil, err
	}
	sel := labels.SelectorFromSet(class.Spec.NodeSelector.MatchLabels)
	var out []string
	for _, n := range nodes.Items {
		if !sel.Matches(labels.Set(n.Labels)) || !matchesExpressions(n.Labels, class.Spec.NodeSelector.MatchExpressions) {
			continue
		}
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out, nil
}

func matchesExpressions(l map[string]string, exprs []corev1.NodeSelectorRequirement) bool {
	for _, e := range exprs {
		v, has := l[e.Key]
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			if !has || !contains(e.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if has && contains(e.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpExists:
			if !has {
				return false
			}
		case corev1.NodeSelectorOpDoesNotExist:
			if has {
				return false
			}
		}
	}
	return true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
