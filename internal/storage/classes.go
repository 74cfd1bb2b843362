package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/virtlab/dvp/internal/config"
)

// EnsureStorageClasses makes the cluster's StorageClasses match the settings
// file: one class per entry, served by ProvisionerName. Classes this package
// created earlier (labelled managed-by dvp) that are no longer listed are
// deleted; any other class is left alone. A class whose immutable fields
// (provisioner, parameters, reclaim policy, binding mode) differ is deleted
// and created again, which is safe because a class holds no data: bound
// volumes keep working and pending claims are retried.
func EnsureStorageClasses(ctx context.Context, c kubernetes.Interface, classes []config.StorageClass) error {
	wanted := make([]*storagev1.StorageClass, 0, len(classes))
	listed := make(map[string]bool, len(classes))
	for _, sc := range classes {
		obj, err := desiredClass(sc)
		if err != nil {
			return err
		}
		wanted = append(wanted, obj)
		listed[sc.Name] = true
	}

	api := c.StorageV1().StorageClasses()
	managed, err := api.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedByValue})
	if err != nil {
		return fmt.Errorf("listing storage classes: %w", err)
	}
	var errs []error
	for _, sc := range managed.Items {
		if listed[sc.Name] {
			continue
		}
		if err := api.Delete(ctx, sc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting storage class %s that is no longer configured: %w", sc.Name, err))
		}
	}
	// The default class goes last, so the previous default has already lost
	// its annotation and two classes are never default at the same time.
	slices.SortStableFunc(wanted, func(a, b *storagev1.StorageClass) int {
		return boolCmp(isDefaultClass(a), isDefaultClass(b))
	})
	for _, want := range wanted {
		if err := ensureClass(ctx, c, want); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

func desiredClass(sc config.StorageClass) (*storagev1.StorageClass, error) {
	var mode storagev1.VolumeBindingMode
	switch sc.VolumeBindingMode {
	case "", string(storagev1.VolumeBindingWaitForFirstConsumer):
		mode = storagev1.VolumeBindingWaitForFirstConsumer
	case string(storagev1.VolumeBindingImmediate):
		mode = storagev1.VolumeBindingImmediate
	default:
		return nil, fmt.Errorf("storage class %s: volumeBindingMode %q is not one of Immediate, WaitForFirstConsumer", sc.Name, sc.VolumeBindingMode)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	expand := true
	obj := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:   sc.Name,
			Labels: map[string]string{LabelManagedBy: managedByValue},
		},
		Provisioner:          ProvisionerName,
		Parameters:           map[string]string{ParameterNodeLocal: strconv.FormatBool(sc.NodeLocal)},
		ReclaimPolicy:        &reclaim,
		AllowVolumeExpansion: &expand,
		VolumeBindingMode:    &mode,
	}
	if sc.ThinClones != nil && !*sc.ThinClones {
		obj.Parameters[ParameterThinClones] = "false"
	}
	if sc.Default {
		obj.Annotations = map[string]string{annDefaultClass: "true"}
	}
	return obj, nil
}

func isDefaultClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[annDefaultClass] == "true"
}

func ensureClass(ctx context.Context, c kubernetes.Interface, want *storagev1.StorageClass) error {
	api := c.StorageV1().StorageClasses()
	// A few rounds absorb conflicts with someone editing the class meanwhile.
	var err error
	for range 5 {
		var cur *storagev1.StorageClass
		cur, err = api.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
		case err != nil:
		case !sameImmutable(cur, want):
			uid := cur.UID
			err = api.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err == nil || apierrors.IsNotFound(err) {
				_, err = api.Create(ctx, want, metav1.CreateOptions{})
			}
		default:
			if upd, changed := mergeMutable(cur, want); changed {
				_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
			}
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("storage class %s: %w", want.Name, err)
	}
	return nil
}

// sameImmutable compares the fields the API refuses to update. The API
// defaults reclaimPolicy to Delete and volumeBindingMode to Immediate.
func sameImmutable(cur, want *storagev1.StorageClass) bool {
	reclaim := func(sc *storagev1.StorageClass) corev1.PersistentVolumeReclaimPolicy {
		if sc.ReclaimPolicy == nil {
			return corev1.PersistentVolumeReclaimDelete
		}
		return *sc.ReclaimPolicy
	}
	binding := func(sc *storagev1.StorageClass) storagev1.VolumeBindingMode {
		if sc.VolumeBindingMode == nil {
			return storagev1.VolumeBindingImmediate
		}
		return *sc.VolumeBindingMode
	}
	return cur.Provisioner == want.Provisioner &&
		maps.Equal(cur.Parameters, want.Parameters) &&
		reclaim(cur) == reclaim(want) &&
		binding(cur) == binding(want) &&
		slices.Equal(cur.MountOptions, want.MountOptions) &&
		len(cur.AllowedTopologies) == 0 && len(want.AllowedTopologies) == 0
}

// mergeMutable returns cur with the label, default-class annotation and
// expansion flag of want, and whether anything changed. Other labels and
// annotations an administrator added are kept.
func mergeMutable(cur, want *storagev1.StorageClass) (*storagev1.StorageClass, bool) {
	upd := cur.DeepCopy()
	changed := false
	if upd.Labels[LabelManagedBy] != managedByValue {
		if upd.Labels == nil {
			upd.Labels = map[string]string{}
		}
		upd.Labels[LabelManagedBy] = managedByValue
		changed = true
	}
	if isDefaultClass(want) {
		if upd.Annotations[annDefaultClass] != "true" {
			if upd.Annotations == nil {
				upd.Annotations = map[string]string{}
			}
			upd.Annotations[annDefaultClass] = "true"
			changed = true
		}
		// The beta key is still read by admission; one key, one answer.
		if _, ok := upd.Annotations[annBetaDefaultClass]; ok {
			delete(upd.Annotations, annBetaDefaultClass)
			changed = true
		}
	} else {
		for _, k := range []string{annDefaultClass, annBetaDefaultClass} {
			if _, ok := upd.Annotations[k]; ok {
				delete(upd.Annotations, k)
				changed = true
			}
		}
	}
	if upd.AllowVolumeExpansion == nil || !*upd.AllowVolumeExpansion {
		upd.AllowVolumeExpansion = want.AllowVolumeExpansion
		changed = true
	}
	return upd, changed
}
