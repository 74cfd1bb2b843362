package webhook

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/config"
)

func disk(size string, phase v1alpha2.VirtualDiskPhase) *v1alpha2.VirtualDisk {
	vd := &v1alpha2.VirtualDisk{ObjectMeta: metav1.ObjectMeta{Name: "d"}}
	if size != "" {
		q := resource.MustParse(size)
		vd.Spec.PersistentVolumeClaim.Size = &q
	}
	vd.Status.Phase = phase
	return vd
}

func wantErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error %v", name, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: error %v, want it to contain %q", name, err, want)
	}
}

func TestDiskUpdate(t *testing.T) {
	v := &diskValidator{}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		old, new *v1alpha2.VirtualDisk
		want     string
	}{
		{"grow", disk("10Gi", v1alpha2.VirtualDiskPhaseReady), disk("11Gi", ""), ""},
		{"same", disk("10Gi", v1alpha2.VirtualDiskPhaseReady), disk("10Gi", ""), ""},
		{"shrink ready", disk("10Gi", v1alpha2.VirtualDiskPhaseReady), disk("9Gi", ""), "should be greater than or equal to the current value (10Gi)"},
		{"shrink provisioning", disk("10Gi", v1alpha2.VirtualDiskPhaseProvisioning), disk("9Gi", ""), "should be greater than or equal"},
		{"remove", disk("10Gi", ""), disk("", ""), "cannot be removed"},
		{"set later", disk("", ""), disk("1Gi", ""), ""},
		{"zero", disk("", ""), disk("0", ""), "must be greater than 0"},
		{"migrating", disk("10Gi", v1alpha2.VirtualDiskPhaseMigrating), disk("11Gi", ""), "while the disk is migrating"},
	} {
		_, err := v.ValidateUpdate(ctx, tc.old, tc.new)
		wantErr(t, tc.name, err, tc.want)
	}
	// The data source is frozen once provisioned, free before.
	old := disk("1Gi", v1alpha2.VirtualDiskPhaseReady)
	changed := disk("1Gi", "")
	changed.Spec.DataSource = &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeUpload}
	_, err := v.ValidateUpdate(ctx, old, changed)
	wantErr(t, "data source after Ready", err, "data source cannot be changed if the VirtualDisk has already been provisioned")
	old.Status.Phase = v1alpha2.VirtualDiskPhasePending
	_, err = v.ValidateUpdate(ctx, old, changed)
	wantErr(t, "data source while pending", err, "")
	// A disk from HTTP may change its source while it imports; once the
	// data is in DVCR and its claim made, it may not.
	old.Spec.DataSource = &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeHTTP, HTTP: &v1alpha2.DataSourceHTTP{URL: "http://example.com/a.img"}}
	old.Status.Phase = v1alpha2.VirtualDiskPhaseProvisioning
	_, err = v.ValidateUpdate(ctx, old, changed)
	wantErr(t, "HTTP source while importing", err, "")
	old.Status.Phase, old.Status.Target.PersistentVolumeClaim = v1alpha2.VirtualDiskPhaseWaitForFirstConsumer, "vd-d-uid"
	_, err = v.ValidateUpdate(ctx, old, changed)
	wantErr(t, "HTTP source once imported", err, "data source cannot be changed once the VirtualDisk's PersistentVolumeClaim has been made for it")
	_, err = v.ValidateUpdate(ctx, old, old.DeepCopy())
	wantErr(t, "unchanged HTTP source", err, "")
}

func ip(typ v1alpha2.VirtualMachineIPAddressType, static string, phase v1alpha2.VirtualMachineIPAddressPhase, addr string) *v1alpha2.VirtualMachineIPAddress {
	o := &v1alpha2.VirtualMachineIPAddress{ObjectMeta: metav1.ObjectMeta{Name: "ip"}}
	o.Spec.Type, o.Spec.StaticIP = typ, static
	o.Status.Phase, o.Status.Address = phase, addr
	return o
}

func TestIPAddress(t *testing.T) {
	v := newIPAddressValidator(&config.Config{VirtualMachineCIDRs: []string{"10.66.10.0/24", "10.66.20.0/30"}}, nil)
	ctx := context.Background()
	static, auto := v1alpha2.VirtualMachineIPAddressTypeStatic, v1alpha2.VirtualMachineIPAddressTypeAuto
	for _, tc := range []struct {
		addr, want string
	}{
		{"10.66.10.20", ""}, {"10.66.20.2", ""}, {"10.66.20.1", "gateway of 10.66.20.0/30"}, {"10.66.10.1", "gateway"},
		{"10.66.10.0", "out of the valid range"}, {"10.66.10.255", "out of the valid range"}, {"10.66.20.3", "out of the valid range"},
		{"192.168.0.1", "out of the valid range"}, {"10.66.10", "must be an IPv4 address"}, {"fd00::1", "must be an IPv4 address"},
	} {
		_, err := v.ValidateCreate(ctx, ip(static, tc.addr, "", ""))
		wantErr(t, tc.addr, err, tc.want)
	}
	_, err := v.ValidateCreate(ctx, ip(auto, "", "", ""))
	wantErr(t, "auto", err, "")
	_, err = v.ValidateCreate(ctx, ip(auto, "10.66.10.20", "", ""))
	wantErr(t, "auto with an address", err, "The 'Static IP' field is set for the ip IP address with the 'Auto' type")
	_, err = v.ValidateCreate(ctx, ip(static, "", "", ""))
	wantErr(t, "static without an address", err, "the 'Static IP' field should be set")

	bound := v1alpha2.VirtualMachineIPAddressPhaseBound
	_, err = v.ValidateUpdate(ctx, ip(auto, "", bound, "10.66.10.5"), ip(static, "10.66.10.5", "", ""))
	wantErr(t, "pin the bound address", err, "")
	_, err = v.ValidateUpdate(ctx, ip(auto, "", bound, "10.66.10.5"), ip(static, "10.66.10.6", "", ""))
	wantErr(t, "pin another address", err, "can't change current IP 10.66.10.5 to the specified 10.66.10.6")
	_, err = v.ValidateUpdate(ctx, ip(static, "10.66.10.5", bound, "10.66.10.5"), ip(static, "10.66.10.7", "", ""))
	wantErr(t, "change a bound static address", err, "only type change Auto->Static is allowed")
	_, err = v.ValidateUpdate(ctx, ip(static, "10.66.10.5", bound, "10.66.10.5"), ip(auto, "", "", ""))
	wantErr(t, "static back to auto", err, "type cannot be changed")
	_, err = v.ValidateUpdate(ctx, ip(static, "10.66.10.5", "", ""), ip(static, "10.66.10.7", "", ""))
	wantErr(t, "change before bound", err, "")

	unconfigured := newIPAddressValidator(&config.Config{}, nil)
	_, err = unconfigured.ValidateCreate(ctx, ip(auto, "", "", ""))
	wantErr(t, "no CIDRs", err, "virtualMachineCIDRs setting is not configured")
}

func TestReservedMeta(t *testing.T) {
	vm := &v1alpha2.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
		"virtualization.deckhouse.io/x": "1", "vm.virtualization.deckhouse.io/y": "1", "example.com/z": "1", "vm": "linux",
	}}}
	if errs := validateReservedMeta(nil, vm); len(errs) != 2 {
		t.Errorf("want 2 reserved keys refused, got %v", errs)
	}
	if errs := validateReservedMeta(vm.DeepCopy(), vm); len(errs) != 0 {
		t.Errorf("unchanged reserved keys must pass: %v", errs)
	}
}

func TestConfigurationsCoverEveryHook(t *testing.T) {
	v, m := Configurations("https://10.77.0.2:9443", []byte("ca"))
	if len(v.Webhooks)+len(m.Webhooks) != len(hooks) {
		t.Fatalf("%d+%d webhooks for %d hooks", len(v.Webhooks), len(m.Webhooks), len(hooks))
	}
	for _, w := range v.Webhooks {
		if *w.FailurePolicy != "Fail" || !strings.HasPrefix(*w.ClientConfig.URL, "https://10.77.0.2:9443/validate-") {
			t.Errorf("webhook %s: policy %s url %s", w.Name, *w.FailurePolicy, *w.ClientConfig.URL)
		}
	}
}
