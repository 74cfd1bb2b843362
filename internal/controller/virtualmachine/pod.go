package virtualmachine

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/launcher"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/version"
)

// Memory the launcher and QEMU need beyond guest RAM: 8 MiB per vCPU (as
// upstream counts) plus a fixed part for QEMU itself, its TCG translation
// cache and the launcher.
const (
	overheadPerCPU = 8 << 20
	overheadFixed  = 96 << 20
)

func memoryOverhead(cores int) int64 { return int64(cores)*overheadPerCPU + overheadFixed }

// launcherConfig completes the plan's config with the machine's own fields.
func launcherConfig(vm *v1alpha2.VirtualMachine, p *plan) launcher.Config {
	c := p.config
	c.Namespace, c.Name, c.UID = vm.Namespace, vm.Name, string(vm.UID)
	c.OSType = string(vm.Spec.OsType)
	if c.OSType == "" {
		c.OSType = string(v1alpha2.OsTypeGeneric)
	}
	c.Bootloader = string(vm.Spec.Bootloader)
	if c.Bootloader == "" {
		c.Bootloader = string(v1alpha2.BootloaderBIOS)
	}
	c.Paravirtualization = vm.Spec.EnableParavirtualization == nil || *vm.Spec.EnableParavirtualization
	c.CPU = launcher.CPU{Cores: p.cores, Sockets: p.sockets, CoresPerSocket: p.cores / p.sockets}
	if p.class != nil {
		c.CPU.Type, c.CPU.Model, c.CPU.Features = string(p.class.Spec.CPU.Type), p.class.Spec.CPU.Model, p.class.Spec.CPU.Features
	}
	c.MemoryMiB = vm.Spec.Memory.Size.Value() >> 20
	// With a bound address the node plugs the machine into its VM network
	// (a tap on its bridge, DHCP answering this MAC with this address) and
	// names the tap to the launcher; without one, or on a node that has no
	// VM network, QEMU's user-mode networking.
	c.Network = &launcher.Network{Mode: launcher.NetworkUser, MAC: macFor(vm)}
	if p.address.address != "" {
		c.Network.Mode = launcher.NetworkTap
	}
	return c
}

// macFor derives a stable locally administered MAC address from the UID.
func macFor(vm *v1alpha2.VirtualMachine) string {
	s := sha256.Sum256([]byte(vm.UID))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", s[0], s[1], s[2], s[3], s[4])
}

// launcherPod builds the pod of one start of the machine.
func launcherPod(vm *v1alpha2.VirtualMachine, p *plan) (*corev1.Pod, error) {
	cfg, err := json.Marshal(launcherConfig(vm, p))
	if err != nil {
		return nil, err
	}
	applied, err := json.Marshal(vm.Spec)
	if err != nil {
		return nil, err
	}
	grace := int64(60)
	if vm.Spec.TerminationGracePeriodSeconds != nil {
		grace = *vm.Spec.TerminationGracePeriodSeconds
	}
	milli := int64(p.cores) * int64(p.fraction) * 10
	mem := vm.Spec.Memory.Size.Value() + memoryOverhead(p.cores)
	labels := map[string]string{}
	for k, v := range vm.Labels {
		labels[k] = v
	}
	labels[LabelName] = vm.Name
	labels["app.kubernetes.io/managed-by"] = "dvp"
	labels["app.kubernetes.io/component"] = "virt-launcher"

	volumes := append([]corev1.Volume(nil), p.volumes...)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: vm.Namespace, GenerateName: PodPrefix(vm.Name), Labels: labels,
			Annotations: map[string]string{AppliedSpecAnnotation: string(applied)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			NodeSelector:                  nodeSelector(vm, p.class),
			Tolerations:                   tolerations(vm, p.class),
			Affinity:                      affinity(vm, p.class),
			PriorityClassName:             vm.Spec.PriorityClassName,
			TopologySpreadConstraints:     vm.Spec.TopologySpreadConstraints,
			Containers: []corev1.Container{{
				Name:    ContainerName,
				Image:   platform.Image + ":" + version.Version,
				Command: []string{"dvp-worker", "launch"},
				Env: []corev1.EnvVar{
					{Name: launcher.ConfigEnv, Value: string(cfg)},
					{Name: "DVP_GRACE_SECONDS", Value: strconv.FormatInt(grace, 10)},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
						corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    *resource.NewQuantity(int64(p.cores), resource.DecimalSI),
						corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
					},
				},
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				VolumeMounts:             p.mounts,
				VolumeDevices:            p.devices,
			}},
			Volumes: volumes,
		},
	}
	if a := p.address.address; a != "" {
		pod.Annotations[launcher.IPAddressAnnotation] = a
		pod.Annotations[launcher.MACAddressAnnotation] = macFor(vm)
	}
	if len(p.pullScopes) > 0 {
		c := &pod.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: image.DVCRScopeEnv, Value: image.FormatDVCRScopes(p.pullScopes...)})
	}
	return pod, nil
}

func nodeSelector(vm *v1alpha2.VirtualMachine, class *v1alpha2.VirtualMachineClass) map[string]string {
	out := map[string]string{}
	if class != nil {
		for k, v := range class.Spec.NodeSelector.MatchLabels {
			out[k] = v
		}
	}
	for k, v := range vm.Spec.NodeSelector {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// tolerations merges the class's tolerations with the machine's; an entry
// of the machine wins over the class entry with the same key and effect.
func tolerations(vm *v1alpha2.VirtualMachine, class *v1alpha2.VirtualMachineClass) []corev1.Toleration {
	var out []corev1.Toleration
	own := map[string]bool{}
	for _, t := range vm.Spec.Tolerations {
		own[t.Key+"/"+string(t.Effect)] = true
	}
	if class != nil {
		for _, t := range class.Spec.Tolerations {
			if !own[t.Key+"/"+string(t.Effect)] {
				out = append(out, t)
			}
		}
	}
	return append(out, vm.Spec.Tolerations...)
}

// affinity maps the machine's affinity (and the class's node selector
// expressions) onto the pod's. The machine-and-pod terms have the shape of
// pod affinity terms under another name, so they convert through JSON.
func affinity(vm *v1alpha2.VirtualMachine, class *v1alpha2.VirtualMachineClass) *corev1.Affinity {
	out := &corev1.Affinity{}
	a := vm.Spec.Affinity
	if a != nil && a.NodeAffinity != nil {
		out.NodeAffinity = a.NodeAffinity.DeepCopy()
	}
	if class != nil && len(class.Spec.NodeSelector.MatchExpressions) > 0 {
		if out.NodeAffinity == nil {
			out.NodeAffinity = &corev1.NodeAffinity{}
		}
		req := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		if req == nil {
			req = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}
		}
		for i := range req.NodeSelectorTerms {
			req.NodeSelectorTerms[i].MatchExpressions = append(req.NodeSelectorTerms[i].MatchExpressions, class.Spec.NodeSelector.MatchExpressions...)
		}
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = req
	}
	if a != nil && a.VirtualMachineAndPodAffinity != nil {
		out.PodAffinity = &corev1.PodAffinity{}
		convertTerms(a.VirtualMachineAndPodAffinity, out.PodAffinity)
	}
	if a != nil && a.VirtualMachineAndPodAntiAffinity != nil {
		out.PodAntiAffinity = &corev1.PodAntiAffinity{}
		convertTerms(a.VirtualMachineAndPodAntiAffinity, out.PodAntiAffinity)
	}
	if out.NodeAffinity == nil && out.PodAffinity == nil && out.PodAntiAffinity == nil {
		return nil
	}
	return out
}

func convertTerms(in, out any) {
	b, err := json.Marshal(in)
	if err != nil {
		return
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return
	}
	if pref, ok := m["preferredDuringSchedulingIgnoredDuringExecution"].([]any); ok {
		for _, e := range pref {
			if w, ok := e.(map[string]any); ok {
				if t, ok := w["virtualMachineAndPodAffinityTerm"]; ok {
					w["podAffinityTerm"] = t
					delete(w, "virtualMachineAndPodAffinityTerm")
				}
			}
		}
	}
	b, _ = json.Marshal(m)
	_ = json.Unmarshal(b, out)
}
