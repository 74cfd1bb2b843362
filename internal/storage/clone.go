package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtlab/dvp/internal/imagecache"
)

// CloneGroup is the API group of the objects a claim may name in
// spec.dataSourceRef to be provisioned as a thin clone of an image.
const CloneGroup = "virtualization.deckhouse.io"

// Kinds a thin clone is made from.
const (
	CloneKindVirtualImage        = "VirtualImage"
	CloneKindClusterVirtualImage = "ClusterVirtualImage"
)

// ErrImageNotReady: a clone of an image that is not Ready (yet); the
// library retries the claim.
var ErrImageNotReady = errors.New("image is not ready")

// CloneResolver finds the image a claim's dataSourceRef names. VirtualImages
// are looked up in the claim's namespace, so a claim can only clone what
// its namespace could read anyway.
type CloneResolver interface {
	ResolveClone(ctx context.Context, namespace, kind, name string) (imagecache.Source, error)
}

// cloneRef returns the image a claim asks to be cloned from, nil when it
// asks for none, or an error for data sources this provisioner cannot fill.
func cloneRef(claim *corev1.PersistentVolumeClaim) (*corev1.TypedObjectReference, error) {
	ref := claim.Spec.DataSourceRef
	if ref == nil {
		if claim.Spec.DataSource != nil {
			return nil, ErrCloneNotSupported
		}
		return nil, nil
	}
	if ref.APIGroup == nil || *ref.APIGroup != CloneGroup ||
		(ref.Kind != CloneKindVirtualImage && ref.Kind != CloneKindClusterVirtualImage) {
		return nil, ErrCloneNotSupported
	}
	if ref.Namespace != nil && *ref.Namespace != "" && *ref.Namespace != claim.Namespace {
		return nil, fmt.Errorf("%w: a clone from another namespace (%s)", ErrCloneNotSupported, *ref.Namespace)
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, fmt.Errorf("%w: a thin clone of an image is a qcow2 file and needs volumeMode Filesystem", ErrCloneNotSupported)
	}
	return ref, nil
}

// populateClone fills the new volume directory dir with an overlay on the
// cached copy of the image ref names. The entry stays pinned until the
// caller calls unpin (non-nil on success), which it does only once the
// volume is published: until then the image-cache collector's scan of the
// volumes may not see the overlay, and the pin keeps the entry.
func (p *Provisioner) populateClone(ctx context.Context, claim *corev1.PersistentVolumeClaim, ref *corev1.TypedObjectReference, dir string, size int64) (unpin func(), err error) {
	if p.clones == nil || p.cache == nil {
		return nil, fmt.Errorf("%w: this provisioner has no image cache", ErrCloneNotSupported)
	}
	src, err := p.clones.ResolveClone(ctx, claim.Namespace, ref.Kind, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", ref.Kind, ref.Name, err)
	}
	e, unpin, err := p.cache.Ensure(ctx, src)
	if err != nil {
		if errors.Is(err, imagecache.ErrRefused) {
			p.recordRefusal(ctx, claim, fmt.Sprintf("%s %s cannot be cloned: %v", ref.Kind, ref.Name, err))
		}
		return nil, err
	}
	if err := imagecache.CreateOverlay(ctx, dir, e, size); err != nil {
		unpin()
		return nil, err
	}
	return unpin, nil
}

// RefusedAnnotation on a claim says why the image it clones was refused
// (imagecache.ErrRefused); the VirtualDisk controller fails the disk with
// it. Retries do not help: the image's bytes will not change.
const RefusedAnnotation = "virtualization.deckhouse.io/clone-refused"

func (p *Provisioner) recordRefusal(ctx context.Context, claim *corev1.PersistentVolumeClaim, msg string) {
	if p.kube == nil || claim.Annotations[RefusedAnnotation] == msg {
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RefusedAnnotation: msg}}})
	// Best effort: the library's ProvisioningFailed event says it too.
	_, _ = p.kube.CoreV1().PersistentVolumeClaims(claim.Namespace).Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}
