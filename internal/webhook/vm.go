package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/sizing"
)

const (
	maxVMNameLength = 63
	// reservedGroup is the label and annotation domain the platform owns on
	// VirtualMachines; user values there would confuse the controllers.
	reservedGroup = "virtualization.deckhouse.io"
)

// vmValidator admits VirtualMachines.
type vmValidator struct{ reader client.Reader }

var _ admission.Validator[*v1alpha2.VirtualMachine] = (*vmValidator)(nil)

func (v *vmValidator) ValidateCreate(ctx context.Context, vm *v1alpha2.VirtualMachine) (admission.Warnings, error) {
	errs := validateVMName(vm.Name)
	errs = append(errs, validateReservedMeta(nil, vm)...)
	errs = append(errs, validateVMSpec(&vm.Spec)...)
	more, err := v.validateAgainstCluster(ctx, vm)
	if err != nil {
		return nil, err
	}
	return nil, invalid("VirtualMachine", vm.Name, append(errs, more...))
}

func (v *vmValidator) ValidateUpdate(ctx context.Context, old, vm *v1alpha2.VirtualMachine) (admission.Warnings, error) {
	var errs field.ErrorList
	if !byPlatform(ctx) {
		// The platform keeps its own bookkeeping (the power intent) in
		// its domain; users may not.
		errs = validateReservedMeta(old, vm)
	}
	// Metadata-only updates (finalizers, labels) must always pass, or a class
	// edited under a VM could block its deletion.
	if equality.Semantic.DeepEqual(old.Spec, vm.Spec) {
		return nil, invalid("VirtualMachine", vm.Name, errs)
	}
	errs = append(errs, validateVMSpec(&vm.Spec)...)
	more, err := v.validateAgainstCluster(ctx, vm)
	if err != nil {
		return nil, err
	}
	return nil, invalid("VirtualMachine", vm.Name, append(errs, more...))
}

func (v *vmValidator) ValidateDelete(context.Context, *v1alpha2.VirtualMachine) (admission.Warnings, error) {
	return nil, nil
}

// byPlatform says whether the request comes from the platform's controllers.
func byPlatform(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && req.UserInfo.Username == platform.ControllerUser
}

func validateVMName(name string) field.ErrorList {
	if len(name) > maxVMNameLength {
		return field.ErrorList{field.TooLong(field.NewPath("metadata", "name"), name, maxVMNameLength)}
	}
	return nil
}

func isReservedKey(k string) bool {
	domain, _, ok := strings.Cut(k, "/")
	return ok && (domain == reservedGroup || strings.HasSuffix(domain, "."+reservedGroup))
}

// validateReservedMeta refuses labels and annotations in the platform's own
// domain that the request adds or changes. Keys already on the object stay
// untouched, so objects written by the platform itself remain editable.
func validateReservedMeta(old, vm *v1alpha2.VirtualMachine) field.ErrorList {
	var errs field.ErrorList
	check := func(path *field.Path, cur map[string]string, prev map[string]string) {
		for k, val := range cur {
			if !isReservedKey(k) {
				continue
			}
			if p, ok := prev[k]; ok && p == val {
				continue
			}
			errs = append(errs, field.Forbidden(path.Key(k), fmt.Sprintf("keys in the %s domain are reserved for the platform", reservedGroup)))
		}
	}
	var oldLabels, oldAnnotations map[string]string
	if old != nil {
		oldLabels, oldAnnotations = old.Labels, old.Annotations
	}
	check(field.NewPath("metadata", "labels"), vm.Labels, oldLabels)
	check(field.NewPath("metadata", "annotations"), vm.Annotations, oldAnnotations)
	return errs
}

// validateVMSpec holds the rules that need nothing but the spec.
func validateVMSpec(spec *v1alpha2.VirtualMachineSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, sizing.ValidateTopology(field.NewPath("spec", "cpu", "cores"), spec.CPU.Cores)...)
	if spec.Memory.Size.Sign() <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "memory", "size"), spec.Memory.Size.String(), "must be greater than 0"))
	}
	seen := map[string]int{}
	orders := map[int]int{}
	for i, ref := range spec.BlockDeviceRefs {
		p := field.NewPath("spec", "blockDeviceRefs").Index(i)
		key := string(ref.Kind) + "/" + ref.Name
		if j, ok := seen[key]; ok {
			errs = append(errs, field.Invalid(p, ref.Name, fmt.Sprintf("%s %q is already listed at blockDeviceRefs[%d]", ref.Kind, ref.Name, j)))
		}
		seen[key] = i
		if ref.BootOrder != nil {
			if j, ok := orders[*ref.BootOrder]; ok {
				errs = append(errs, field.Invalid(p.Child("bootOrder"), *ref.BootOrder, fmt.Sprintf("bootOrder %d is already used by blockDeviceRefs[%d]; boot orders must be unique", *ref.BootOrder, j)))
			}
			orders[*ref.BootOrder] = i
		}
	}
	return errs
}

// validateAgainstCluster applies the VM's class sizing policy and the
// first-device rule. Objects that do not exist yet are not an error: the VM
// waits for them and says so in its conditions.
func (v *vmValidator) validateAgainstCluster(ctx context.Context, vm *v1alpha2.VirtualMachine) (field.ErrorList, error) {
	var errs field.ErrorList
	if name := vm.Spec.VirtualMachineClassName; name != "" {
		class := &v1alpha2.VirtualMachineClass{}
		switch err := v.reader.Get(ctx, client.ObjectKey{Name: name}, class); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading VirtualMachineClass %s: %w", name, err)
		default:
			errs = append(errs, sizing.Check(class, &vm.Spec, field.NewPath("spec"))...)
		}
	}
	if len(vm.Spec.BlockDeviceRefs) > 0 {
		first := vm.Spec.BlockDeviceRefs[0]
		if first.BootOrder == nil {
			var cdrom, ready bool
			switch first.Kind {
			case v1alpha2.BlockDeviceKindVirtualImage:
				vi := &v1alpha2.VirtualImage{}
				if err := v.reader.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: first.Name}, vi); err == nil {
					cdrom, ready = vi.Status.CDROM, vi.Status.Phase == v1alpha2.VirtualImagePhaseReady
				}
			case v1alpha2.BlockDeviceKindClusterVirtualImage:
				cvi := &v1alpha2.ClusterVirtualImage{}
				if err := v.reader.Get(ctx, client.ObjectKey{Name: first.Name}, cvi); err == nil {
					cdrom, ready = cvi.Status.CDROM, cvi.Status.Phase == v1alpha2.ClusterVirtualImagePhaseReady
				}
			}
			if ready && !cdrom {
				errs = append(errs, field.Invalid(field.NewPath("spec", "blockDeviceRefs").Index(0), first.Name,
					fmt.Sprintf("a non-CDROM %s cannot occupy the first position in block devices: put a VirtualDisk first", first.Kind)))
			}
		}
	}
	return errs, nil
}

// vmDefaulter fills the class of a VM that names none from the default class.
// It reads only the one field it needs instead of decoding the whole object:
// mutating webhooks run before schema validation, and a malformed field
// elsewhere (memory: lots) must reach the schema, which names it, rather
// than fail here with a decoding error.
type vmDefaulter struct{ reader client.Reader }

var _ admission.Handler = (*vmDefaulter)(nil)

func (d *vmDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	var partial struct {
		Spec struct {
			VirtualMachineClassName string `json:"virtualMachineClassName"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(req.Object.Raw, &partial); err != nil || partial.Spec.VirtualMachineClassName != "" {
		return admission.Allowed("")
	}
	name, err := d.defaultClass(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if name == "" {
		// No default class: the schema reports the missing field.
		return admission.Allowed("")
	}
	return admission.Patched("virtualMachineClassName set from the default class", jsonpatch.NewOperation("add", "/spec/virtualMachineClassName", name))
}

func (d *vmDefaulter) defaultClass(ctx context.Context) (string, error) {
	var classes v1alpha2.VirtualMachineClassList
	if err := d.reader.List(ctx, &classes); err != nil {
		return "", fmt.Errorf("listing VirtualMachineClasses: %w", err)
	}
	for _, c := range classes.Items {
		if c.Annotations[platform.DefaultClassAnnotation] == "true" && c.DeletionTimestamp == nil {
			return c.Name, nil
		}
	}
	return "", nil
}
