package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnnotationDefaultVirtualMachineClass marks (with the value "true") the class that
// machines without virtualMachineClassName get.
const AnnotationDefaultVirtualMachineClass = "virtualmachineclass.virtualization.deckhouse.io/is-default-class"

// VirtualMachineClass describes a family of machines: CPU model, allowed sizes and
// placement.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vmc;vmclass,categories=virtualization-cluster
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:metadata:labels="backup.deckhouse.io/cluster-config=true"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="IsDefault",type=string,JSONPath=`.metadata.annotations.virtualmachineclass\.virtualization\.deckhouse\.io\/is-default-class`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualMachineClassSpec `json:"spec"`
	// +optional
	Status VirtualMachineClassStatus `json:"status,omitempty"`
}

// VirtualMachineClassList is a list of VirtualMachineClasses.
//
// +kubebuilder:object:root=true
type VirtualMachineClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineClass `json:"items"`
}

// CPUType says how the class's virtual CPU model is chosen.
// +kubebuilder:validation:Enum=Host;HostPassthrough;Discovery;Model;Features
type CPUType string

const (
	// CPUTypeHost uses a virtual CPU close to the node's, with its features.
	CPUTypeHost CPUType = "Host"
	// CPUTypeHostPassthrough passes the node's CPU through unchanged.
	CPUTypeHostPassthrough CPUType = "HostPassthrough"
	// CPUTypeDiscovery uses the features common to the selected nodes.
	CPUTypeDiscovery CPUType = "Discovery"
	// CPUTypeModel uses a named CPU model.
	CPUTypeModel CPUType = "Model"
	// CPUTypeFeatures uses a base model plus the listed features.
	CPUTypeFeatures CPUType = "Features"
)

// VirtualMachineClassSpec is the desired state of a VirtualMachineClass.
type VirtualMachineClassSpec struct {
	// NodeSelector restricts the nodes the class's machines may run on.
	// +optional
	NodeSelector NodeSelector `json:"nodeSelector,omitempty"`
	// Tolerations added to the class's machines; a machine's own entries win.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// CPU of the class. It cannot be changed.
	CPU CPU `json:"cpu"`
	// SizingPolicies list the allowed machine sizes, by ranges of cores.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	SizingPolicies []SizingPolicy `json:"sizingPolicies,omitempty"`
}

// NodeSelector selects nodes by labels.
type NodeSelector struct {
	// MatchLabels the node must carry.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// MatchExpressions the node labels must satisfy.
	// +optional
	MatchExpressions []corev1.NodeSelectorRequirement `json:"matchExpressions,omitempty"`
}

// CPU is the virtual CPU of a class. Only the members that fit type may be set.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message=".spec.cpu is immutable"
// +kubebuilder:validation:XValidation:rule="self.type == 'HostPassthrough' || self.type == 'Host' ? !has(self.model) && !has(self.features) && !has(self.discovery) : true",message="HostPassthrough and Host cannot have model, features or discovery"
// +kubebuilder:validation:XValidation:rule="self.type == 'Discovery' ? !has(self.model) && !has(self.features) : true",message="Discovery cannot have model or features"
// +kubebuilder:validation:XValidation:rule="self.type == 'Model' ? has(self.model) && !has(self.features) && !has(self.discovery) : true",message="Model requires model and cannot have features or discovery"
// +kubebuilder:validation:XValidation:rule="self.type == 'Features' ? has(self.features) && !has(self.model) && !has(self.discovery): true",message="Features requires features and cannot have model or discovery"
type CPU struct {
	// Type says how the CPU model is chosen.
	Type CPUType `json:"type"`
	// Model is the CPU model name, for the Model type.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Model string `json:"model,omitempty"`
	// Features are the required CPU features, for the Features type.
	// +kubebuilder:validation:MinItems=1
	// +optional
	Features []string `json:"features,omitempty"`
	// Discovery selects the nodes whose common features make up the CPU, for the
	// Discovery type.
	// +optional
	Discovery *CPUDiscovery `json:"discovery,omitempty"`
}

// CPUDiscovery selects nodes for CPU feature discovery.
type CPUDiscovery struct {
	// NodeSelector selects the nodes; all nodes when empty.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
}

// SizingPolicy lists what a machine with a number of cores in a range may have.
type SizingPolicy struct {
	// Cores is the range of cores the policy applies to.
	Cores *SizingPolicyCores `json:"cores"`
	// Memory limits for such machines.
	// +optional
	Memory *SizingPolicyMemory `json:"memory,omitempty"`
	// CoreFractions allowed, in percent.
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=100
	// +optional
	CoreFractions []int `json:"coreFractions,omitempty"`
	// DefaultCoreFraction applies when a machine sets none: a number from 1 to 100,
	// or "Auto".
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 && self <= 100 : self == 'Auto'",message="The default core fraction must be a number from 1 to 100, or 'Auto'."
	// +optional
	DefaultCoreFraction *intstr.IntOrString `json:"defaultCoreFraction,omitempty"`
	// DedicatedCores lists the allowed values of dedicated cores.
	// +optional
	DedicatedCores []bool `json:"dedicatedCores,omitempty"`
}

// SizingPolicyCores is a range of cores.
//
// +kubebuilder:validation:XValidation:rule="self.max > self.min",message="The maximum must be greater than the minimum"
// +kubebuilder:validation:XValidation:rule="has(self.step) ? self.max > self.step : true",message="The maximum must be greater than the step"
type SizingPolicyCores struct {
	// Min cores.
	// +kubebuilder:validation:Minimum=1
	Min int `json:"min"`
	// Max cores.
	// +kubebuilder:validation:Maximum=1024
	Max int `json:"max"`
	// Step between allowed core counts.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Step int `json:"step,omitempty"`
}

// SizingPolicyMemory limits a machine's memory.
type SizingPolicyMemory struct {
	// Min memory.
	// +optional
	Min *resource.Quantity `json:"min,omitempty"`
	// Max memory.
	// +optional
	Max *resource.Quantity `json:"max,omitempty"`
	// Step between allowed memory sizes.
	// +optional
	Step *resource.Quantity `json:"step,omitempty"`
	// PerCore limits memory per core.
	// +optional
	PerCore *SizingPolicyMemoryPerCore `json:"perCore,omitempty"`
}

// SizingPolicyMemoryPerCore limits memory per core.
type SizingPolicyMemoryPerCore struct {
	// Min memory per core.
	// +optional
	Min *resource.Quantity `json:"min,omitempty"`
	// Max memory per core.
	// +optional
	Max *resource.Quantity `json:"max,omitempty"`
}

// CPUFeatures lists the CPU features of a Discovery or Features class.
type CPUFeatures struct {
	// Enabled features of the class's CPU.
	// +optional
	Enabled []string `json:"enabled,omitempty"`
	// NotEnabledCommon are features present on all suitable nodes but not enabled.
	// +optional
	NotEnabledCommon []string `json:"notEnabledCommon,omitempty"`
}

// VirtualMachineClassStatus is the observed state of a VirtualMachineClass.
type VirtualMachineClassStatus struct {
	// Phase of the class.
	Phase VirtualMachineClassPhase `json:"phase"`
	// CPUFeatures of the class's CPU.
	// +optional
	CPUFeatures CPUFeatures `json:"cpuFeatures,omitempty"`
	// AvailableNodes lists the nodes that can run the class's machines.
	// +optional
	AvailableNodes []string `json:"availableNodes,omitempty"`
	// MaxAllocatableResources is the most a single machine can get on those nodes.
	// +optional
	MaxAllocatableResources corev1.ResourceList `json:"maxAllocatableResources,omitempty"`
	// Conditions of the class.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
