package storage

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"

	"github.com/virtlab/dvp/internal/imagecache"
)

// Provisioner creates and deletes the backing of PersistentVolumes for
// claims of StorageClasses whose provisioner is ProvisionerName.
type Provisioner struct {
	store volumeStore
	nodes []string
	// cache and clones make thin clones of images (nil: clones refused).
	cache  *imagecache.Cache
	clones CloneResolver
	// deleted is told after a volume was removed (may be nil).
	deleted func()
	// kube records on a claim why its image was refused (may be nil).
	kube kubernetes.Interface
}

var (
	_ controller.Provisioner      = (*Provisioner)(nil)
	_ controller.BlockProvisioner = (*Provisioner)(nil)
)

// NewProvisioner returns a provisioner that keeps volumes under
// <dataDir>/volumes. nodes are the simulated nodes: node-local volumes of an
// Immediate class, which have no node chosen by the scheduler, go to the
// first.
func NewProvisioner(dataDir string, nodes []string) (*Provisioner, error) {
	store, err := newVolumeStore(dataDir)
	if err != nil {
		return nil, err
	}
	return &Provisioner{store: store, nodes: append([]string(nil), nodes...)}, nil
}

// SupportsBlock tells the library that Block claims are welcome.
func (p *Provisioner) SupportsBlock(context.Context) bool { return true }

// Provision creates the volume for opts.PVC and returns its PV. Errors are
// final (ProvisioningFinished): nothing continues in the background, and the
// library retries the claim with back-off.
func (p *Provisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	pv, err := p.provision(ctx, opts)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	return pv, controller.ProvisioningFinished, nil
}

func (p *Provisioner) provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, error) {
	claim, class := opts.PVC, opts.StorageClass
	if claim == nil || class == nil {
		return nil, fmt.Errorf("provisioning %s: claim and storage class are required", opts.PVName)
	}
	clone, err := cloneRef(claim)
	if err != nil {
		return nil, err
	}
	if claim.Spec.Selector != nil {
		return nil, ErrSelectorNotSupported
	}
	if err := checkAccessModes(claim.Spec.AccessModes); err != nil {
		return nil, err
	}
	if len(class.MountOptions) > 0 {
		return nil, fmt.Errorf("storage class %s: mountOptions are not supported by %s (volumes are plain directories and files)", class.Name, ProvisionerName)
	}
	params, err := parseClassParameters(class)
	if err != nil {
		return nil, err
	}
	nodeLocal := params.nodeLocal
	request, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("claim %s/%s has no storage request", claim.Namespace, claim.Name)
	}
	capacity, size, err := RoundCapacity(request)
	if err != nil {
		return nil, err
	}
	node := ""
	if nodeLocal {
		if node, err = p.nodeFor(opts.SelectedNodeName); err != nil {
			return nil, err
		}
	}

	block := claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock
	var path string
	if block {
		path, err = p.store.createBlock(opts.PVName, size)
	} else if clone != nil {
		var unpin func()
		path, err = p.store.createDirectoryWith(opts.PVName, func(dir string) (err error) {
			unpin, err = p.populateClone(ctx, claim, clone, dir, size)
			return err
		})
		if unpin != nil {
			unpin() // the overlay is published: collections see it now
		}
	} else {
		path, err = p.store.createDirectory(opts.PVName)
	}
	if err != nil {
		return nil, fmt.Errorf("creating volume %s: %w", opts.PVName, err)
	}
	return newPV(opts.PVName, path, claim, class, capacity, block, node), nil
}

// nodeFor picks the node a node-local volume is pinned to: the scheduler's
// choice under WaitForFirstConsumer, else the first configured node.
func (p *Provisioner) nodeFor(selected string) (string, error) {
	if selected != "" {
		return selected, nil
	}
	if len(p.nodes) == 0 {
		return "", ErrNoNode
	}
	return p.nodes[0], nil
}

// Delete removes the backing of pv. The path is derived from the PV's name,
// never read from the object, so an edited annotation cannot point the
// deletion elsewhere.
func (p *Provisioner) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if err := p.store.remove(pv.Name); err != nil {
		return fmt.Errorf("deleting volume %s: %w", pv.Name, err)
	}
	if p.deleted != nil {
		p.deleted()
	}
	return nil
}

// checkAccessModes accepts the modes every volume here can honour: all
// consumers run on one host, so a volume can be shared read-write.
// ReadWriteOncePod is refused because nothing would enforce it.
func checkAccessModes(modes []corev1.PersistentVolumeAccessMode) error {
	for _, m := range modes {
		switch m {
		case corev1.ReadWriteOnce, corev1.ReadWriteMany, corev1.ReadOnlyMany:
		default:
			return fmt.Errorf("%w %s: %s supports ReadWriteOnce, ReadWriteMany and ReadOnlyMany", ErrAccessMode, m, ProvisionerName)
		}
	}
	return nil
}

// classParameters are a class's parameters, parsed.
type classParameters struct {
	nodeLocal bool
	// thinClones is false when the class opts out of thin clones: disks
	// from images are then full copies on Block volumes.
	thinClones bool
}

// parseClassParameters reads the class parameters. Unknown parameters are
// refused so that a typo does not silently give another kind of volume.
func parseClassParameters(class *storagev1.StorageClass) (classParameters, error) {
	out := classParameters{thinClones: true}
	keys := make([]string, 0, len(class.Parameters))
	for k := range class.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := class.Parameters[k]
		var dst *bool
		switch k {
		case ParameterNodeLocal:
			dst = &out.nodeLocal
		case ParameterThinClones:
			dst = &out.thinClones
		default:
			return out, fmt.Errorf("storage class %s: unknown parameter %q (known: %s, %s)", class.Name, k, ParameterNodeLocal, ParameterThinClones)
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return out, fmt.Errorf("storage class %s: parameter %s=%q is not true or false", class.Name, k, v)
		}
		*dst = b
	}
	return out, nil
}

// ThinClones reports whether disks made from images on class are thin
// clones: the class is served here and does not opt out.
func ThinClones(class *storagev1.StorageClass) bool {
	if class == nil || class.Provisioner != ProvisionerName {
		return false
	}
	p, err := parseClassParameters(class)
	return err == nil && p.thinClones
}

// newPV describes a provisioned volume. The library fills in the claim
// reference, the class name and the provisioned-by annotation.
func newPV(name, path string, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass,
	capacity resource.Quantity, block bool, node string) *corev1.PersistentVolume {
	mode := corev1.PersistentVolumeFilesystem
	if block {
		mode = corev1.PersistentVolumeBlock
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{LabelManagedBy: managedByValue},
			Annotations: map[string]string{AnnotationVolumePath: path},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: capacity},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), claim.Spec.AccessModes...),
			PersistentVolumeReclaimPolicy: reclaim,
			VolumeMode:                    &mode,
		},
	}
	if node == "" {
		// Shared: every node reaches the path, so no affinity.
		hostType := corev1.HostPathDirectoryOrCreate
		if block {
			hostType = corev1.HostPathFile
		}
		pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: path, Type: &hostType}
		return pv
	}
	pv.Spec.Local = &corev1.LocalVolumeSource{Path: path}
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{
		Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key:      corev1.LabelHostname,
				Operator: corev1.NodeSelectorOpIn,
				Values:   []string{node},
			}},
		}}},
	}
	return pv
}

// isOurs reports whether pv was provisioned here.
func isOurs(pv *corev1.PersistentVolume) bool {
	return pv.Annotations[annProvisionedBy] == ProvisionerName
}
