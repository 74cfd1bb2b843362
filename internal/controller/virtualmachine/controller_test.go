package virtualmachine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/platform"
)

// These tests run whole reconciles against controller-runtime's fake
// client: the phases in order, the finalizer, and the one status write.
// The end-to-end suite covers the same against a real API server.

type harness struct {
	t      *testing.T
	c      client.Client
	events *record.FakeRecorder
	r      *Reconciler
	logs   []string
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	// Every machine here uses an address that is bound already; addresses
	// are the vmip controller's, tested in its package.
	objs = append(objs, boundAddress())
	c := fake.NewClientBuilder().WithScheme(platform.Scheme()).WithObjects(objs...).
		WithStatusSubresource(&v1alpha2.VirtualMachine{}).Build()
	events := record.NewFakeRecorder(100)
	return &harness{t: t, c: c, events: events, r: &Reconciler{Client: c, Reader: c, Recorder: events}}
}

func (h *harness) reconcile() ctrl.Result {
	h.t.Helper()
	ctx := log.IntoContext(context.Background(), funcr.New(func(_, args string) { h.logs = append(h.logs, args) }, funcr.Options{}))
	res, err := h.r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "vms", Name: "m"}})
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (h *harness) vm() *v1alpha2.VirtualMachine {
	h.t.Helper()
	vm := &v1alpha2.VirtualMachine{}
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: "m"}, vm); err != nil {
		h.t.Fatal(err)
	}
	return vm
}

func (h *harness) pods() []corev1.Pod {
	h.t.Helper()
	var list corev1.PodList
	if err := h.c.List(context.Background(), &list, client.InNamespace("vms")); err != nil {
		h.t.Fatal(err)
	}
	return list.Items
}

// logged returns the log lines written so far, and forgets them.
func (h *harness) logged() string {
	out := strings.Join(h.logs, "\n")
	h.logs = nil
	return out
}

// drain returns the events recorded so far.
func (h *harness) drain() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) condition(t v1alpha2.VirtualMachineConditionType) metav1.Condition {
	h.t.Helper()
	c := ctrlreconcile.Condition(h.vm().Status.Conditions, t)
	if c == nil {
		h.t.Fatalf("no condition %s in %+v", t, h.vm().Status.Conditions)
	}
	return *c
}

func machine(policy v1alpha2.RunPolicy) *v1alpha2.VirtualMachine {
	vm := testVM()
	vm.Generation, vm.UID, vm.Spec.CPU.Cores, vm.Spec.RunPolicy = 1, "uid-m", 1, policy
	vm.Spec.VirtualMachineIPAddress = "m-ip"
	return vm
}

func boundAddress() *v1alpha2.VirtualMachineIPAddress {
	ip := &v1alpha2.VirtualMachineIPAddress{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "m-ip"}}
	ip.Spec.Type = v1alpha2.VirtualMachineIPAddressTypeAuto
	ip.Status.Address, ip.Status.Phase = "10.66.10.2", v1alpha2.VirtualMachineIPAddressPhaseBound
	ip.Status.Conditions = []metav1.Condition{{Type: "Bound", Status: metav1.ConditionTrue, Reason: "Bound"}}
	return ip
}

func generic() *v1alpha2.VirtualMachineClass {
	return &v1alpha2.VirtualMachineClass{ObjectMeta: metav1.ObjectMeta{Name: "generic"}}
}

// runningLauncher is a launcher pod of vm built from spec, whose guest runs.
func runningLauncher(t *testing.T, vm *v1alpha2.VirtualMachine, spec v1alpha2.VirtualMachineSpec) *corev1.Pod {
	t.Helper()
	applied, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := launcherPod(vm, &plan{cores: 1, fraction: 100, sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	pod.Name, pod.Annotations[AppliedSpecAnnotation] = "virt-launcher-m-1", string(applied)
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha2.SchemeGroupVersion.String(), Kind: "VirtualMachine",
		Name: vm.Name, UID: vm.UID, Controller: ptrTo(true)}}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{guest(corev1.ConditionTrue, "Running", "")}
	return pod
}

func ptrTo[T any](v T) *T { return &v }

func TestReconcileWaitsForTheClass(t *testing.T) {
	h := newHarness(t, machine(""))
	h.reconcile()
	vm := h.vm()
	if !strings.Contains(strings.Join(vm.Finalizers, ","), Finalizer) {
		t.Errorf("finalizers %v", vm.Finalizers)
	}
	if vm.Status.Phase != v1alpha2.VirtualMachinePhasePending || vm.Status.ObservedGeneration != 1 {
		t.Errorf("phase %s, observedGeneration %d", vm.Status.Phase, vm.Status.ObservedGeneration)
	}
	const missing = `VirtualMachineClass "generic" not found`
	if c := h.condition(v1alpha2.VirtualMachineConditionRunning); c.Reason != "NotRunning" || c.Message != missing {
		t.Errorf("Running %+v", c)
	}
	if ev := h.drain(); len(ev) != 1 || ev[0] != "Warning VirtualMachineClassNotReady Waiting: "+missing {
		t.Errorf("events %q", ev)
	}
	if l := h.logged(); l != "" {
		t.Errorf("a machine that only waits logged:\n%s", l)
	}
	// Another reconcile: no new event, no write.
	rv := vm.ResourceVersion
	h.reconcile()
	if ev := h.drain(); len(ev) != 0 {
		t.Errorf("events of a second reconcile %q", ev)
	}
	if now := h.vm().ResourceVersion; now != rv {
		t.Errorf("a reconcile that changed nothing wrote the machine (%s -> %s)", rv, now)
	}
}

func TestReconcileStartsAndStops(t *testing.T) {
	h := newHarness(t, machine(v1alpha2.RunPolicyAlwaysOn), generic())
	h.reconcile()
	pods := h.pods()
	if len(pods) != 1 || !strings.HasPrefix(pods[0].Name, "virt-launcher-m-") {
		t.Fatalf("launcher pods %+v", pods)
	}
	vm := h.vm()
	if vm.Status.Phase != v1alpha2.VirtualMachinePhaseStarting || len(vm.Status.VirtualMachinePods) != 1 || vm.Status.VirtualMachinePods[0].Name != pods[0].Name {
		t.Errorf("status after the start %+v", vm.Status)
	}
	for _, c := range []v1alpha2.VirtualMachineConditionType{v1alpha2.VirtualMachineConditionClassReady, v1alpha2.VirtualMachineConditionBlockDevicesReady} {
		if cond := h.condition(c); cond.Status != metav1.ConditionTrue {
			t.Errorf("%s %+v", c, cond)
		}
	}
	if c := h.condition(v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration); c.Reason != "NoRestartRequired" {
		t.Errorf("restart condition %+v", c)
	}
	if ev := h.drain(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal Starting ") {
		t.Errorf("events %q", ev)
	}
	if l := h.logged(); strings.Count(l, "\n") != 0 || !strings.Contains(l, `"msg"="Created a launcher pod to start the machine" "pod"="`+pods[0].Name) {
		t.Errorf("log of the start:\n%s", l)
	}

	vm.Spec.RunPolicy = v1alpha2.RunPolicyAlwaysOff
	if err := h.c.Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if pods := h.pods(); len(pods) != 0 {
		t.Errorf("launcher pods of an AlwaysOff machine %+v", pods)
	}
	if p := h.vm().Status.Phase; p != v1alpha2.VirtualMachinePhaseStopping {
		t.Errorf("phase %s, want Stopping", p)
	}
	if ev := h.drain(); len(ev) != 1 || ev[0] != "Normal Stopping Stop initiated by controller to ensure AlwaysOff policy" {
		t.Errorf("events %q", ev)
	}
	if l := h.logged(); strings.Count(l, "\n") != 0 || !strings.Contains(l, "Deleted the launcher pod to stop the machine") {
		t.Errorf("log of the stop:\n%s", l)
	}
	h.reconcile()
	if p := h.vm().Status.Phase; p != v1alpha2.VirtualMachinePhaseStopped {
		t.Errorf("phase %s, want Stopped", p)
	}
	if l := h.logged(); l != "" {
		t.Errorf("a reconcile that did nothing logged:\n%s", l)
	}
}

func TestReconcileAppliesChangesAutomatically(t *testing.T) {
	vm := machine(v1alpha2.RunPolicyAlwaysOn)
	pod := runningLauncher(t, vm, vm.Spec)
	vm.Spec.Memory.Size.Add(vm.Spec.Memory.Size) // doubled since the start
	vm.Spec.Disruptions = &v1alpha2.Disruptions{RestartApprovalMode: v1alpha2.RestartApprovalModeAutomatic}
	h := newHarness(t, vm, generic(), pod)
	h.reconcile()
	st := h.vm().Status
	// This reconcile still shows the launcher it deleted, with its changes.
	if st.Phase != v1alpha2.VirtualMachinePhaseRunning || len(st.RestartAwaitingChanges) != 1 ||
		!strings.Contains(string(st.RestartAwaitingChanges[0].Raw), `"path":"memory"`) {
		t.Errorf("status %+v", st)
	}
	if c := h.condition(v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration); c.Status != metav1.ConditionTrue || c.Reason != "ChangesPendingRestart" {
		t.Errorf("restart condition %+v", c)
	}
	if err := h.c.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("the launcher was not deleted: %v", err)
	}
	if ev := strings.Join(h.drain(), "\n"); !strings.Contains(ev, "Normal ChangesApplied") || !strings.Contains(ev, "Normal Restarted Launcher virt-launcher-m-1 stopped") {
		t.Errorf("events %q", ev)
	}
}

func TestReconcileDelete(t *testing.T) {
	vm := machine(v1alpha2.RunPolicyAlwaysOn)
	vm.Finalizers = []string{Finalizer}
	vm.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	pod := runningLauncher(t, vm, vm.Spec)
	// The node holds the pod until QEMU is gone.
	pod.Finalizers = []string{"test/qemu-running"}
	h := newHarness(t, vm, pod)
	if res := h.reconcile(); res.RequeueAfter == 0 {
		t.Errorf("result %+v, want a requeue while the launcher runs", res)
	}
	if p := h.vm().Status.Phase; p != v1alpha2.VirtualMachinePhaseTerminating {
		t.Errorf("phase %s", p)
	}
	gone := &corev1.Pod{}
	if err := h.c.Get(context.Background(), client.ObjectKeyFromObject(pod), gone); err != nil || gone.DeletionTimestamp.IsZero() {
		t.Fatalf("launcher of a deleted machine: %v %+v", err, gone.ObjectMeta)
	}
	gone.Finalizers, gone.Status.Phase = nil, corev1.PodSucceeded
	if err := h.c.Update(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if err := h.c.Get(context.Background(), client.ObjectKeyFromObject(vm), &v1alpha2.VirtualMachine{}); !apierrors.IsNotFound(err) {
		t.Errorf("the machine is still there once its launcher is gone: %v", err)
	}
}
