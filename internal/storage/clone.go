package storage

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

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
// cached copy of the image ref names.
func (p *Provisioner) populateClone(ctx context.Context, claim *corev1.PersistentVolumeClaim, ref *corev1.TypedObjectReference, dir string, size int64) error {
	if p.clones == nil || p.cache == nil {
		return fmt.Errorf("%w: this provisioner has no image cache", ErrCloneNotSupported)
	}
	src, err := p.clones.ResolveClone(ctx, claim.Namespace, ref.Kind, ref.Name)
	if err != nil {
		return fmt.Errorf("%s %s: %w", ref.Kind, ref.Name, err)
	}
	e, unpin, err := p.cache.Ensure(ctx, src)
	if err != nil {
		return err
	}
	defer unpin()
	return imagecache.CreateOverlay(ctx, dir, e, size)
}
