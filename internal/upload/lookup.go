package upload

import (
	"context"
	"crypto/subtle"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/registry"
)

// target is the image (or disk) an upload Secret belongs to.
type target struct {
	uid        types.UID
	kind, name string
	repository string
	checksums  string
}

// lookup finds the Secret of token and its image. It returns a nil Secret
// when the token names no live upload.
func (g *Gateway) lookup(ctx context.Context, token string) (*corev1.Secret, target, error) {
	list := &corev1.SecretList{}
	if err := g.Reader.List(ctx, list, client.MatchingLabels{LabelTokenHash: TokenHash(token), LabelComponent: Component}); err != nil {
		return nil, target{}, err
	}
	var matches []*corev1.Secret
	for i := range list.Items {
		s := &list.Items[i]
		if subtle.ConstantTimeCompare(s.Data[KeyToken], []byte(token)) == 1 && s.DeletionTimestamp == nil {
			matches = append(matches, s)
		}
	}
	if len(matches) != 1 {
		return nil, target{}, nil
	}
	sec := matches[0]
	tgt, ok, err := g.resolve(ctx, sec)
	if err != nil || !ok {
		return nil, target{}, err
	}
	return sec, tgt, nil
}

// resolve finds the image or disk that owns sec. The DVCR repository comes
// from the owner, never from the Secret, so a Secret a user forges in a
// namespace can only reach images and disks of that namespace.
func (g *Gateway) resolve(ctx context.Context, sec *corev1.Secret) (target, bool, error) {
	ref := metav1.GetControllerOf(sec)
	if ref == nil || !strings.HasPrefix(ref.APIVersion, v1alpha2.GroupName+"/") {
		return target{}, false, nil
	}
	var obj client.Object
	key := client.ObjectKey{Name: ref.Name}
	tgt := target{uid: ref.UID, kind: ref.Kind, name: ref.Name}
	switch ref.Kind {
	case "VirtualImage":
		if sec.Name != SecretName("vi", ref.Name) {
			return target{}, false, nil
		}
		key.Namespace, obj = sec.Namespace, &v1alpha2.VirtualImage{}
		tgt.repository = registry.VIRepository(sec.Namespace, ref.Name)
	case "ClusterVirtualImage":
		if sec.Namespace != platform.Namespace || sec.Name != SecretName("cvi", ref.Name) {
			return target{}, false, nil
		}
		obj = &v1alpha2.ClusterVirtualImage{}
		tgt.repository = registry.CVIRepository(ref.Name)
	case "VirtualDisk":
		// A disk's upload lands in its own staging repository; the disk
		// controller then writes it onto the disk's volume.
		if sec.Name != SecretName("vd", ref.Name) {
			return target{}, false, nil
		}
		key.Namespace, obj = sec.Namespace, &v1alpha2.VirtualDisk{}
		tgt.repository = registry.VDRepository(sec.Namespace, ref.Name)
	default:
		return target{}, false, nil
	}
	if err := g.Reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return target{}, false, nil
		}
		return target{}, false, err
	}
	if obj.GetUID() != ref.UID || obj.GetDeletionTimestamp() != nil {
		return target{}, false, nil
	}
	return g.finish(obj, tgt)
}

func (g *Gateway) finish(obj client.Object, tgt target) (target, bool, error) {
	var up *v1alpha2.DataSourceUpload
	var typ v1alpha2.DataSourceType
	var phase string
	switch o := obj.(type) {
	case *v1alpha2.VirtualImage:
		typ, up, phase = o.Spec.DataSource.Type, o.Spec.DataSource.Upload, string(o.Status.Phase)
	case *v1alpha2.ClusterVirtualImage:
		typ, up, phase = o.Spec.DataSource.Type, o.Spec.DataSource.Upload, string(o.Status.Phase)
	case *v1alpha2.VirtualDisk:
		if ds := o.Spec.DataSource; ds != nil {
			typ, up = ds.Type, ds.Upload
		}
		phase = string(o.Status.Phase)
	}
	if typ != v1alpha2.DataSourceTypeUpload || phase == "Ready" || phase == "Failed" {
		return target{}, false, nil
	}
	if up != nil {
		tgt.checksums = up.Checksum.Pairs()
	}
	return tgt, true, nil
}
