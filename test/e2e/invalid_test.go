package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// vm renders a VirtualMachine manifest; spec lines replace the defaults of
// the same top-level key.
func vm(name string, overrides map[string]string) string {
	spec := map[string]string{
		"virtualMachineClassName": "virtualMachineClassName: generic",
		"cpu":                     "cpu: {cores: 1, coreFraction: 10%}",
		"memory":                  "memory: {size: 1Gi}",
		"blockDeviceRefs":         "blockDeviceRefs: [{kind: VirtualDisk, name: linux-disk}]",
	}
	keys := []string{"virtualMachineClassName", "cpu", "memory", "blockDeviceRefs"}
	for k, v := range overrides {
		if _, ok := spec[k]; !ok {
			keys = append(keys, k)
		}
		spec[k] = v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachine\nmetadata:\n  name: %s\n  namespace: vms\nspec:\n", name)
	for _, k := range keys {
		if spec[k] == "" {
			continue
		}
		for _, line := range strings.Split(spec[k], "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

func vi(name, spec string) string {
	return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata:\n  name: %s\n  namespace: vms\nspec:\n%s", name, indent(spec))
}

func obj(kind, name, spec string) string {
	return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: %s\nmetadata:\n  name: %s\n  namespace: vms\nspec:\n%s", kind, name, indent(spec))
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

const httpSource = "dataSource:\n  type: HTTP\n  http: {url: \"https://example.com/disk.img\"}"

var longUserData = "userData: |\n  #cloud-config\n  runcmd:\n" + strings.Repeat("    - echo 0123456789012345678901234567890123456789\n", 50)

type invalidCase struct {
	name     string // test name
	resource string // kubectl resource to check nothing was created
	object   string
	manifest string
	want     string // substring of kubectl's error
}

var invalidCases = []invalidCase{
	// VirtualImage
	{"vi storage enum", "vi", "bad-storage", vi("bad-storage", "storage: Disk\n"+httpSource), `spec.storage: Unsupported value: "Disk"`},
	{"vi HTTP with containerImage", "vi", "http-ci", vi("http-ci", "storage: ContainerRegistry\ndataSource:\n  type: HTTP\n  http: {url: \"https://example.com/a.img\"}\n  containerImage: {image: \"registry.example.com/a:1\"}"),
		"HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."},
	{"vi HTTP without http", "vi", "http-none", vi("http-none", "storage: ContainerRegistry\ndataSource:\n  type: HTTP"), "HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."},
	{"vi ContainerImage with http", "vi", "ci-http", vi("ci-http", "storage: ContainerRegistry\ndataSource:\n  type: ContainerImage\n  containerImage: {image: \"registry.example.com/a:1\"}\n  http: {url: \"https://example.com/a.img\"}"),
		"ContainerImage requires containerImage and cannot have HTTP, ObjectRef or Upload."},
	{"vi Upload with http", "vi", "upload-http", vi("upload-http", "storage: ContainerRegistry\ndataSource:\n  type: Upload\n  http: {url: \"https://example.com/a.img\"}"), "Upload cannot have HTTP, ContainerImage or ObjectRef."},
	{"vi ftp url", "vi", "ftp-url", vi("ftp-url", "storage: ContainerRegistry\ndataSource:\n  type: HTTP\n  http: {url: \"ftp://example.com/a.img\"}"), "spec.dataSource.http.url: Invalid value"},
	{"vi short md5", "vi", "bad-md5", vi("bad-md5", "storage: ContainerRegistry\ndataSource:\n  type: HTTP\n  http: {url: \"https://example.com/a.img\", checksum: {md5: abc}}"), "spec.dataSource.http.checksum.md5"},
	{"vi name with a dot", "vi", "ubuntu.img", vi("ubuntu.img", "storage: ContainerRegistry\n"+httpSource), "VirtualImage names may contain only letters, digits and '-' (no dots)"},
	{"vi objectRef kind", "vi", "bad-ref", vi("bad-ref", "storage: ContainerRegistry\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: Pod, name: x}"), `spec.dataSource.objectRef.kind: Unsupported value: "Pod"`},
	{"vi type enum", "vi", "bad-type", vi("bad-type", "storage: ContainerRegistry\ndataSource:\n  type: FTP"), `spec.dataSource.type: Unsupported value: "FTP"`},
	// ClusterVirtualImage
	{"cvi objectRef VirtualImage without namespace", "cvi", "cvi-no-ns", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata:\n  name: cvi-no-ns\nspec:\n  dataSource:\n    type: ObjectRef\n    objectRef: {kind: VirtualImage, name: ubuntu}\n",
		"The namespace is required for VirtualDisk, VirtualImage and VirtualDiskSnapshot"},
	{"cvi name with a dot", "cvi", "a.b", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata:\n  name: a.b\nspec:\n  " + strings.ReplaceAll(httpSource, "\n", "\n  ") + "\n",
		"ClusterVirtualImage names may contain only letters, digits and '-' (no dots)"},
	// VirtualDisk
	{"vd blank without size", "vd", "no-size", obj("VirtualDisk", "no-size", "persistentVolumeClaim: {storageClassName: local-thin}"),
		"if the data source is not specified, it's necessary to set spec.PersistentVolumeClaim.size to create blank virtual disk"},
	{"vd size 0", "vd", "zero", obj("VirtualDisk", "zero", "persistentVolumeClaim: {size: \"0\"}"), "must be greater than 0"},
	{"vd size not a quantity", "vd", "banana", obj("VirtualDisk", "banana", "persistentVolumeClaim: {size: banana}"), `spec.persistentVolumeClaim.size: Invalid value: "banana": must be a quantity such as 10Gi`},
	{"vd negative size", "vd", "negative", obj("VirtualDisk", "negative", "persistentVolumeClaim: {size: \"-1Gi\"}"), "spec.persistentVolumeClaim.size"},
	{"vd objectRef VirtualDisk", "vd", "from-vd", obj("VirtualDisk", "from-vd", "dataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualDisk, name: linux-disk}"), `Unsupported value: "VirtualDisk"`},
	{"vd HTTP with objectRef", "vd", "http-ref", obj("VirtualDisk", "http-ref", "dataSource:\n  type: HTTP\n  http: {url: \"https://example.com/a.img\"}\n  objectRef: {kind: VirtualImage, name: ubuntu}"),
		"HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."},
	// VirtualMachine
	{"vm coreFraction 0%", "vm", "cf-zero", vm("cf-zero", map[string]string{"cpu": "cpu: {cores: 1, coreFraction: 0%}"}), "Core fraction must be 'Auto' or a percentage between 1% and 100%."},
	{"vm coreFraction 150%", "vm", "cf-150", vm("cf-150", map[string]string{"cpu": "cpu: {cores: 1, coreFraction: 150%}"}), "Core fraction must be 'Auto' or a percentage between 1% and 100%."},
	{"vm coreFraction 10", "vm", "cf-10", vm("cf-10", map[string]string{"cpu": "cpu: {cores: 1, coreFraction: \"10\"}"}), "Core fraction must be 'Auto' or a percentage between 1% and 100%."},
	{"vm coreFraction not in class", "vm", "cf-30", vm("cf-30", map[string]string{"cpu": "cpu: {cores: 1, coreFraction: 30%}"}), `VirtualMachineClass "generic" allows coreFraction 5%, 10%, 20%, 50%, 100% for 1 cores`},
	{"vm userData over 2048 bytes", "vm", "big-userdata", vm("big-userdata", map[string]string{"provisioning": "provisioning:\n  type: UserData\n" + indent(longUserData)}),
		"`userData` exceeds 2048 byte limit; should use `userDataRef` for larger data."},
	{"vm UserData with userDataRef", "vm", "prov-mix", vm("prov-mix", map[string]string{"provisioning": "provisioning:\n  type: UserData\n  userData: \"#cloud-config\"\n  userDataRef: {kind: Secret, name: s}"}), "spec.provisioning"},
	{"vm runPolicy enum", "vm", "bad-policy", vm("bad-policy", map[string]string{"runPolicy": "runPolicy: Sometimes"}), `spec.runPolicy: Unsupported value: "Sometimes"`},
	{"vm bootloader enum", "vm", "bad-boot", vm("bad-boot", map[string]string{"bootloader": "bootloader: UEFI"}), `spec.bootloader: Unsupported value: "UEFI"`},
	{"vm osType enum", "vm", "bad-os", vm("bad-os", map[string]string{"osType": "osType: Linux"}), `spec.osType: Unsupported value: "Linux"`},
	{"vm zero cores", "vm", "no-cores", vm("no-cores", map[string]string{"cpu": "cpu: {cores: 0}"}), "spec.cpu.cores"},
	{"vm 17 cores", "vm", "odd-cores", vm("odd-cores", map[string]string{"cpu": "cpu: {cores: 17}"}), "the requested number of cores must be a multiple of 2"},
	{"vm 300 cores", "vm", "many-cores", vm("many-cores", map[string]string{"cpu": "cpu: {cores: 300}"}), "spec.cpu.cores"},
	{"vm no block devices", "vm", "no-disks", vm("no-disks", map[string]string{"blockDeviceRefs": "blockDeviceRefs: []"}), "spec.blockDeviceRefs"},
	{"vm block device kind", "vm", "bad-kind", vm("bad-kind", map[string]string{"blockDeviceRefs": "blockDeviceRefs: [{kind: Pod, name: x}]"}), `Unsupported value: "Pod"`},
	{"vm duplicate block device", "vm", "dup-disk", vm("dup-disk", map[string]string{"blockDeviceRefs": "blockDeviceRefs: [{kind: VirtualDisk, name: a}, {kind: VirtualDisk, name: a}]"}), `is already listed at blockDeviceRefs[0]`},
	{"vm two approval spellings", "vm", "two-modes", vm("two-modes", map[string]string{"disruptions": "disruptions: {approvalMode: Automatic, restartApprovalMode: Manual}"}), "approvalMode"},
	{"vm approvalMode enum", "vm", "bad-mode", vm("bad-mode", map[string]string{"disruptions": "disruptions: {approvalMode: Sometimes}"}), `Unsupported value: "Sometimes"`},
	{"vm name too long", "vm", strings.Repeat("a", 64), vm(strings.Repeat("a", 64), nil), "metadata.name: Too long"},
	{"vm reserved label", "vm", "reserved", strings.Replace(vm("reserved", nil), "  namespace: vms\n", "  namespace: vms\n  labels: {virtualization.deckhouse.io/owner: me}\n", 1), "reserved for the platform"},
	{"vm memory not a quantity", "vm", "bad-mem", vm("bad-mem", map[string]string{"memory": "memory: {size: banana}"}), `spec.memory.size: Invalid value: "banana": must be a quantity such as 1Gi`},
	{"vm memory zero", "vm", "zero-mem", vm("zero-mem", map[string]string{"memory": "memory: {size: \"0\"}"}), "spec.memory.size"},
	// VirtualMachineClass
	{"vmclass Model without model", "vmclass", "no-model", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: no-model\nspec:\n  cpu: {type: Model}\n",
		"Model requires model and cannot have features or discovery"},
	{"vmclass Host with model", "vmclass", "host-model", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: host-model\nspec:\n  cpu: {type: Host, model: Nehalem}\n",
		"HostPassthrough and Host cannot have model, features or discovery"},
	{"vmclass overlapping policies", "vmclass", "overlap", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: overlap\nspec:\n  cpu: {type: Host}\n  sizingPolicies:\n  - cores: {min: 1, max: 4}\n  - cores: {min: 3, max: 8}\n",
		"size policy cpu crosses"},
	{"vmclass default fraction not allowed", "vmclass", "bad-default", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: bad-default\nspec:\n  cpu: {type: Host}\n  sizingPolicies:\n  - cores: {min: 1, max: 4}\n    coreFractions: [50, 100]\n    defaultCoreFraction: 10\n",
		"must be one of coreFractions (50%, 100%)"},
	{"vmclass cpu type enum", "vmclass", "bad-cpu", "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: bad-cpu\nspec:\n  cpu: {type: Fast}\n", `Unsupported value: "Fast"`},
	// VirtualMachineIPAddress
	{"vmip Static without address", "vmip", "no-ip", obj("VirtualMachineIPAddress", "no-ip", "type: Static"), "spec.staticIP"},
	{"vmip outside the CIDRs", "vmip", "outside", obj("VirtualMachineIPAddress", "outside", "type: Static\nstaticIP: \"192.168.1.10\""), "the requested address 192.168.1.10 is out of the valid range"},
	{"vmip network address", "vmip", "network", obj("VirtualMachineIPAddress", "network", "type: Static\nstaticIP: \"10.66.10.0\""), "the requested address 10.66.10.0 is out of the valid range"},
	{"vmip not an address", "vmip", "garbage", obj("VirtualMachineIPAddress", "garbage", "type: Static\nstaticIP: \"10.66.10\""), "spec.staticIP"},
	{"vmip type enum", "vmip", "bad-ip-type", obj("VirtualMachineIPAddress", "bad-ip-type", "type: DHCP"), `Unsupported value: "DHCP"`},
	// VirtualMachineOperation and attachments
	{"vmop forced Start", "vmop", "force-start", obj("VirtualMachineOperation", "force-start", "type: Start\nvirtualMachineName: linux-vm\nforce: true"), "The `Start` operation cannot be performed forcibly."},
	{"vmop type enum", "vmop", "reboot", obj("VirtualMachineOperation", "reboot", "type: Reboot\nvirtualMachineName: linux-vm"), `Unsupported value: "Reboot"`},
	{"vmop without VM", "vmop", "no-vm", obj("VirtualMachineOperation", "no-vm", "type: Stop"), "spec.virtualMachineName"},
	{"vmbda kind enum", "vmbda", "bad-bda", obj("VirtualMachineBlockDeviceAttachment", "bad-bda", "virtualMachineName: linux-vm\nblockDeviceRef: {kind: Pod, name: x}"), `Unsupported value: "Pod"`},
}

func testInvalidManifests(t *testing.T, srv *harness.Server) {
	if len(invalidCases) < 30 {
		t.Fatalf("only %d invalid cases", len(invalidCases))
	}
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			r := srv.KubectlStdin(tc.manifest, "create", "-f", "-")
			if r.Err == nil {
				t.Fatalf("accepted:\n%s", tc.manifest)
			}
			if !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("error does not contain %q:\n%s", tc.want, r.Stderr)
			}
			if strings.Contains(tc.want, "must be a quantity") && strings.Contains(r.Stderr, "should match") {
				t.Errorf("a quantity typo is answered with a regular expression:\n%s", r.Stderr)
			}
			get := srv.Kubectl("get", tc.resource, tc.object, "-n", "vms", "--ignore-not-found", "-o", "name")
			if get.Err != nil || get.Stdout != "" {
				t.Errorf("something was created: %s", get)
			}
		})
	}
}

// testInvalidUpdates checks rules that compare with the stored object: each
// update is refused and the stored object stays as it was.
func testInvalidUpdates(t *testing.T, srv *harness.Server) {
	setup := []string{
		obj("VirtualDisk", "grow-only", "persistentVolumeClaim: {size: 10Gi}"),
		obj("VirtualMachineOperation", "frozen-op", "type: Restart\nvirtualMachineName: linux-vm"),
		"apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: frozen-cpu\nspec:\n  cpu: {type: Model, model: Nehalem}\n",
	}
	for _, m := range setup {
		if r := srv.KubectlStdin(m, "create", "-f", "-"); r.Err != nil {
			t.Fatalf("setup: %s", r)
		}
	}
	for _, tc := range []struct {
		name, resource, object, patch, want, jsonpath, keep string
	}{
		{"disk shrink", "vd", "grow-only", `{"spec":{"persistentVolumeClaim":{"size":"9Gi"}}}`,
			"spec.persistentVolumeClaim.size value (9Gi) should be greater than or equal to the current value (10Gi)", "{.spec.persistentVolumeClaim.size}", "10Gi"},
		{"disk size 0", "vd", "grow-only", `{"spec":{"persistentVolumeClaim":{"size":"0"}}}`, "must be greater than 0", "{.spec.persistentVolumeClaim.size}", "10Gi"},
		{"disk size removed", "vd", "grow-only", `{"spec":{"persistentVolumeClaim":{"size":null}}}`, "the size cannot be removed once set", "{.spec.persistentVolumeClaim.size}", "10Gi"},
		{"vmop spec", "vmop", "frozen-op", `{"spec":{"type":"Stop"}}`, ".spec is immutable", "{.spec.type}", "Restart"},
		{"vmclass cpu", "vmclass", "frozen-cpu", `{"spec":{"cpu":{"model":"Haswell"}}}`, ".spec.cpu is immutable", "{.spec.cpu.model}", "Nehalem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := srv.Kubectl("-n", "vms", "patch", tc.resource, tc.object, "--type", "merge", "-p", tc.patch)
			if r.Err == nil {
				t.Fatalf("patch %s accepted", tc.patch)
			}
			if !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("error does not contain %q:\n%s", tc.want, r.Stderr)
			}
			if strings.Contains(tc.want, "must be a quantity") && strings.Contains(r.Stderr, "should match") {
				t.Errorf("a quantity typo is answered with a regular expression:\n%s", r.Stderr)
			}
			if got := srv.MustKubectl("-n", "vms", "get", tc.resource, tc.object, "-o", "jsonpath="+tc.jsonpath); got != tc.keep {
				t.Errorf("stored %s = %q, want %q unchanged", tc.jsonpath, got, tc.keep)
			}
		})
	}
	// Growing is allowed.
	srv.MustKubectl("-n", "vms", "patch", "vd", "grow-only", "--type", "merge", "-p", `{"spec":{"persistentVolumeClaim":{"size":"11Gi"}}}`)
}

// testDefaultClass checks that one class may be the default, a second one is
// refused, and a VM without a class gets the default.
func testDefaultClass(t *testing.T, srv *harness.Server) {
	class := func(name string) string {
		return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineClass\nmetadata:\n  name: %s\n  annotations:\n    virtualmachineclass.virtualization.deckhouse.io/is-default-class: \"true\"\nspec:\n  cpu: {type: Host}\n", name)
	}
	if r := srv.KubectlStdin(class("first-default"), "create", "-f", "-"); r.Err != nil {
		t.Fatalf("first default class: %s", r)
	}
	// A class in use is kept until its machines are gone: delete the
	// machine first.
	t.Cleanup(func() {
		srv.Kubectl("-n", "vms", "delete", "vm", "classless", "--ignore-not-found")
		srv.Kubectl("delete", "vmclass", "first-default", "--ignore-not-found", "--wait=false")
	})
	r := srv.KubectlStdin(class("second-default"), "create", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "multiple default virtual machine classes are prohibited") {
		t.Fatalf("second default class: %s", r)
	}
	r = srv.Kubectl("annotate", "vmclass", "generic", "virtualmachineclass.virtualization.deckhouse.io/is-default-class=true")
	if r.Err == nil || !strings.Contains(r.Stderr, "multiple default virtual machine classes are prohibited") {
		t.Fatalf("annotating generic as a second default: %s", r)
	}
	m := vm("classless", map[string]string{"virtualMachineClassName": "", "cpu": "cpu: {cores: 1}"})
	if r := srv.KubectlStdin(m, "create", "-f", "-"); r.Err != nil {
		t.Fatalf("VM without a class: %s", r)
	}
	if got := srv.MustKubectl("-n", "vms", "get", "vm", "classless", "-o", "jsonpath={.spec.virtualMachineClassName}"); got != "first-default" {
		t.Errorf("VM without a class got class %q, want the default first-default", got)
	}
}
