package vmip_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/vmip"
	"github.com/virtlab/dvp/internal/controller/vmiplease"
	"github.com/virtlab/dvp/internal/ipam"
)

// staleCache is a client whose lease lists show nothing, the worst a cache
// can lag: safety must come from the lease names alone.
type staleCache struct{ client.Client }

func (s staleCache) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	if _, ok := l.(*v1alpha2.VirtualMachineIPAddressLeaseList); ok {
		return nil
	}
	return s.Client.List(ctx, l, opts...)
}

type env struct {
	t      *testing.T
	c      client.Client
	now    time.Time
	leases *vmiplease.Reconciler
}

func newEnv(t *testing.T, objs ...client.Object) *env {
	s := runtime.NewScheme()
	if err := v1alpha2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithStatusSubresource(&v1alpha2.VirtualMachineIPAddress{}, &v1alpha2.VirtualMachineIPAddressLease{}).Build()
	e := &env{t: t, c: c, now: time.Now()}
	e.leases = &vmiplease.Reconciler{Client: c, Reader: c, Recorder: record.NewFakeRecorder(10000), Retention: 10 * time.Minute,
		Now: func() time.Time { return e.now }}
	return e
}

func (e *env) controller(cidrs ...string) *vmip.Reconciler {
	pool, err := ipam.NewPool(cidrs)
	if err != nil {
		e.t.Fatal(err)
	}
	return &vmip.Reconciler{Client: staleCache{e.c}, Reader: e.c, Recorder: record.NewFakeRecorder(10000), Pool: pool}
}

func address(ns, name string, uid int, static string) *v1alpha2.VirtualMachineIPAddress {
	ip := &v1alpha2.VirtualMachineIPAddress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%d", name, uid))},
		Spec:       v1alpha2.VirtualMachineIPAddressSpec{Type: v1alpha2.VirtualMachineIPAddressTypeAuto},
	}
	if static != "" {
		ip.Spec = v1alpha2.VirtualMachineIPAddressSpec{Type: v1alpha2.VirtualMachineIPAddressTypeStatic, StaticIP: static}
	}
	return ip
}

// settle runs the reconcilers round-robin until nothing changes.
func (e *env) settle(ctrls ...*vmip.Reconciler) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		var ips v1alpha2.VirtualMachineIPAddressList
		if err := e.c.List(ctx, &ips); err != nil {
			e.t.Fatal(err)
		}
		for i, ip := range ips.Items {
			r := ctrls[(i+round)%len(ctrls)]
			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&ip)}); err != nil {
				e.t.Logf("vmip %s: %v", ip.Name, err)
			}
		}
		var leases v1alpha2.VirtualMachineIPAddressLeaseList
		if err := e.c.List(ctx, &leases); err != nil {
			e.t.Fatal(err)
		}
		for _, l := range leases.Items {
			if _, err := e.leases.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&l)}); err != nil {
				e.t.Logf("lease %s: %v", l.Name, err)
			}
		}
	}
}

func (e *env) get(ns, name string) *v1alpha2.VirtualMachineIPAddress {
	ip := &v1alpha2.VirtualMachineIPAddress{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ip); err != nil {
		e.t.Fatal(err)
	}
	return ip
}

func TestTwoControllersWithStaleCachesNeverShareAnAddress(t *testing.T) {
	const n = 60
	var objs []client.Object
	for i := range n {
		objs = append(objs, address("vms", fmt.Sprintf("vm-%02d", i), i, ""))
	}
	e := newEnv(t, objs...)
	e.settle(e.controller("10.66.10.0/24"), e.controller("10.66.10.0/24"))

	seen := map[string]string{}
	for i := range n {
		ip := e.get("vms", fmt.Sprintf("vm-%02d", i))
		if ip.Status.Phase != v1alpha2.VirtualMachineIPAddressPhaseBound {
			t.Fatalf("%s: phase %q, conditions %+v", ip.Name, ip.Status.Phase, ip.Status.Conditions)
		}
		if other, dup := seen[ip.Status.Address]; dup {
			t.Fatalf("%s and %s share %s", ip.Name, other, ip.Status.Address)
		}
		seen[ip.Status.Address] = ip.Name
	}
	var leases v1alpha2.VirtualMachineIPAddressLeaseList
	_ = e.c.List(context.Background(), &leases)
	if len(leases.Items) != n {
		t.Fatalf("%d leases for %d addresses", len(leases.Items), n)
	}
	if _, ok := seen["10.66.10.1"]; ok {
		t.Fatal("the gateway was handed out")
	}
}

func TestStaticAddresses(t *testing.T) {
	e := newEnv(t,
		address("vms", "taken", 1, "10.66.10.20"),
		address("vms", "outside", 2, "10.66.11.5"),
		address("vms", "gateway", 3, "10.66.10.1"))
	r := e.controller("10.66.10.0/24")
	e.settle(r)
	if ip := e.get("vms", "taken"); ip.Status.Address != "10.66.10.20" || ip.Status.Phase != v1alpha2.VirtualMachineIPAddressPhaseBound {
		t.Fatalf("static: %+v", ip.Status)
	}
	for _, name := range []string{"outside", "gateway"} {
		ip := e.get("vms", name)
		c := ip.Status.Conditions
		if ip.Status.Phase != v1alpha2.VirtualMachineIPAddressPhasePending || len(c) == 0 || !hasReason(c, "VirtualMachineIPAddressIsOutOfTheValidRange") {
			t.Fatalf("%s: %+v", name, ip.Status)
		}
	}

	// A second address asking for the same static IP waits, named reason.
	if err := e.c.Create(context.Background(), address("vms", "second", 4, "10.66.10.20")); err != nil {
		t.Fatal(err)
	}
	e.settle(r)
	if ip := e.get("vms", "second"); !hasReason(ip.Status.Conditions, "VirtualMachineIPAddressLeaseAlreadyExists") {
		t.Fatalf("second claim of a taken address: %+v", ip.Status)
	}
}

func TestReleasedAddressStaysWithItsNamespace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, address("vms", "first", 1, "10.66.10.30"))
	r := e.controller("10.66.10.0/24")
	e.settle(r)
	if err := e.c.Delete(ctx, e.get("vms", "first")); err != nil {
		t.Fatal(err)
	}
	e.settle(r)
	l := &v1alpha2.VirtualMachineIPAddressLease{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: "ip-10-66-10-30"}, l); err != nil {
		t.Fatal(err)
	}
	if l.Status.Phase != v1alpha2.VirtualMachineIPAddressLeasePhaseReleased || l.Spec.VirtualMachineIPAddressRef.Namespace != "vms" ||
		l.Spec.VirtualMachineIPAddressRef.Name != "" {
		t.Fatalf("released lease: %+v %+v", l.Spec, l.Status)
	}

	// Another namespace cannot take it; the same namespace can.
	_ = e.c.Create(ctx, address("other", "thief", 2, "10.66.10.30"))
	e.settle(r)
	if ip := e.get("other", "thief"); ip.Status.Phase == v1alpha2.VirtualMachineIPAddressPhaseBound || !hasMessage(ip.Status.Conditions, "belongs to a different namespace") {
		t.Fatalf("other namespace: %+v", ip.Status)
	}
	_ = e.c.Create(ctx, address("vms", "again", 3, "10.66.10.30"))
	e.settle(r)
	if ip := e.get("vms", "again"); ip.Status.Phase != v1alpha2.VirtualMachineIPAddressPhaseBound || ip.Status.Address != "10.66.10.30" {
		t.Fatalf("same namespace: %+v", ip.Status)
	}

	// Released again and past retention, the lease goes.
	if err := e.c.Delete(ctx, e.get("vms", "again")); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(ctx, e.get("other", "thief")); err != nil {
		t.Fatal(err)
	}
	e.settle(r)
	if err := e.c.Get(ctx, client.ObjectKey{Name: "ip-10-66-10-30"}, l); err != nil {
		t.Fatalf("deleted before retention: %v", err)
	}
	e.now = e.now.Add(11 * time.Minute)
	e.settle(r)
	if err := e.c.Get(ctx, client.ObjectKey{Name: "ip-10-66-10-30"}, l); err == nil {
		t.Fatalf("lease kept after retention: %+v", l.Status)
	}
}

func hasReason(conds []metav1.Condition, reason string) bool {
	for _, c := range conds {
		if c.Reason == reason {
			return true
		}
	}
	return false
}

func hasMessage(conds []metav1.Condition, part string) bool {
	for _, c := range conds {
		if strings.Contains(c.Message, part) {
			return true
		}
	}
	return false
}

func TestConcurrentWorkersReserveDistinctAddresses(t *testing.T) {
	const n = 40
	var objs []client.Object
	for i := range n {
		objs = append(objs, address("vms", fmt.Sprintf("w-%02d", i), i, ""))
	}
	e := newEnv(t, objs...)
	r := e.controller("10.66.10.0/24")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "vms", Name: fmt.Sprintf("w-%02d", i)}})
		}()
	}
	wg.Wait()
	e.settle(r)
	seen := map[string]bool{}
	for i := range n {
		ip := e.get("vms", fmt.Sprintf("w-%02d", i))
		if ip.Status.Phase != v1alpha2.VirtualMachineIPAddressPhaseBound || seen[ip.Status.Address] {
			t.Fatalf("%s: %+v (duplicate: %v)", ip.Name, ip.Status, seen[ip.Status.Address])
		}
		seen[ip.Status.Address] = true
	}
}
