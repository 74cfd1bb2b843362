package importjob

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
)

// PullSecret names an image pull secret.
type PullSecret struct{ Namespace, Name string }

// Source is a data source in a form common to all image kinds.
type Source struct {
	Type       v1alpha2.DataSourceType
	HTTP       *v1alpha2.DataSourceHTTP
	Image      string
	CABundle   []byte
	PullSecret *PullSecret
	// RefKind/RefName/RefNamespace: an ObjectRef source.
	RefKind, RefName, RefNamespace string
}

// DescribeSource fills the job from src and records DatasourceReady. It
// returns false while the source cannot be used yet.
func DescribeSource(ctx context.Context, c client.Client, job *Job, st ImageStatus, src Source) (bool, error) {
	switch src.Type {
	case v1alpha2.DataSourceTypeHTTP:
		job.Kind, job.URL, job.CABundle = SourceHTTP, src.HTTP.URL, src.HTTP.CABundle
		job.Checksums = src.HTTP.Checksum.Pairs()
	case v1alpha2.DataSourceTypeContainerImage:
		job.Kind, job.URL, job.CABundle = SourceRegistry, src.Image, src.CABundle
		if ps := src.PullSecret; ps != nil && ps.Name != "" {
			cfg, err := DockerConfig(ctx, c, ps.Namespace, ps.Name)
			if err != nil {
				st.SetDatasource(false, "ContainerRegistrySecretNotFound", err.Error())
				return false, nil
			}
			job.DockerConfig = cfg
		}
	case v1alpha2.DataSourceTypeObjectRef:
		if src.RefKind == string(v1alpha2.ObjectRefKindVirtualDisk) {
			if ok, err := describeDisk(ctx, c, job, st, src.RefNamespace, src.RefName); !ok || err != nil {
				return ok, err
			}
			break
		}
		ref, ok, msg := ResolveImageRef(ctx, c, src.RefKind, src.RefNamespace, src.RefName)
		if !ok {
			reason := "ImageNotReady"
			if src.RefKind == string(v1alpha2.ObjectRefKindClusterVirtualImage) {
				reason = "ClusterImageNotReady"
			}
			st.SetDatasource(false, reason, msg)
			return false, nil
		}
		job.Kind, job.SourceRepository = SourceDVCR, ref.Repository
		job.URL = ref.Pinned(job.dvcrAddress)
	default:
		st.SetDatasource(false, "DatasourceNotReady", fmt.Sprintf("data source type %s is not supported by this platform yet", src.Type))
		return false, nil
	}
	st.SetDatasource(true, "DatasourceReady", "")
	return true, nil
}

// Reasons of DatasourceReady for a VirtualDisk source (same strings for
// both image kinds, as upstream).
const (
	reasonDiskNotReady = "VirtualDiskNotReady"
	reasonDiskAttached = "VirtualDiskAttachedToVirtualMachine"
	reasonDiskInUse    = "VirtualDiskNotReadyForUse"
)

// describeDisk makes the job read a VirtualDisk's claim (job.Namespace
// must be the disk's: a pod mounts claims of its own namespace only). The
// import waits while the disk is not Ready or a running machine has it
// attached: the copy must not change under qemu-img. An import that has
// started goes on.
func describeDisk(ctx context.Context, c client.Client, job *Job, st ImageStatus, ns, name string) (bool, error) {
	if job.Namespace != ns {
		return false, fmt.Errorf("the importer of a VirtualDisk must run in the disk's namespace %q, not %q", ns, job.Namespace)
	}
	pod := &corev1.Pod{}
	err := c.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Name}, pod)
	if err == nil && metav1.IsControlledBy(pod, job.Owner) && pod.DeletionTimestamp == nil {
		job.Kind = SourceVolume
		return true, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	vd := &v1alpha2.VirtualDisk{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vd); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, err
		}
		st.SetDatasource(false, reasonDiskNotReady, fmt.Sprintf("VirtualDisk %s/%s not found: create it or correct spec.dataSource.objectRef", ns, name))
		return false, nil
	}
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseReady {
		st.SetDatasource(false, reasonDiskNotReady, fmt.Sprintf("waiting for VirtualDisk %s/%s to be Ready (now %q)", ns, name, vd.Status.Phase))
		return false, nil
	}
	if vms := mountedBy(vd); len(vms) > 0 {
		st.SetDatasource(false, reasonDiskAttached, fmt.Sprintf("VirtualDisk %s/%s is attached to the running VirtualMachine %s: stop the VirtualMachine to make the image; the import starts once it is stopped", ns, name, strings.Join(vms, ", ")))
		return false, nil
	}
	claim := vd.Status.Target.PersistentVolumeClaim
	pvc := &corev1.PersistentVolumeClaim{}
	if claim != "" {
		err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim}, pvc)
	}
	if claim == "" || apierrors.IsNotFound(err) {
		st.SetDatasource(false, reasonDiskNotReady, fmt.Sprintf("VirtualDisk %s/%s has no PersistentVolumeClaim %q", ns, name, claim))
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A stopping machine's QEMU holds the disk after the machine stopped
	// counting as attached; qemu-img would find it locked.
	users, err := claimUsers(ctx, c, ns, claim, job.Name)
	if err != nil {
		return false, err
	}
	if len(users) > 0 {
		st.SetDatasource(false, reasonDiskInUse, fmt.Sprintf("the PersistentVolumeClaim %s of VirtualDisk %s/%s is in use by pod %s: the import starts once it has stopped", claim, ns, name, strings.Join(users, ", ")))
		return false, nil
	}
	block := pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock
	job.Kind, job.Claim = SourceVolume, &Claim{Name: claim, Block: block}
	job.URL = volumeMount + "/" + image.VolumeDiskFile
	if block {
		job.URL = volumeDevice
	}
	return true, nil
}

// mountedBy names the machines running with the disk attached.
func mountedBy(vd *v1alpha2.VirtualDisk) []string {
	var out []string
	for _, a := range vd.Status.AttachedToVirtualMachines {
		if a.Mounted {
			out = append(out, a.Name)
		}
	}
	return out
}

// claimUsers names the pods in ns other than except that have claim
// mounted and have not finished.
func claimUsers(ctx context.Context, c client.Client, ns, claim, except string) ([]string, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.Name == except || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out, nil
}

// ImageCreators names the unfinished importer pods in ns that read claim to
// make a VirtualImage or ClusterVirtualImage from its disk.
func ImageCreators(ctx context.Context, c client.Client, ns, claim string) ([]string, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels())); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed ||
			!(strings.HasPrefix(p.Name, "vi-importer-") || strings.HasPrefix(p.Name, "cvi-importer-")) {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out, nil
}
