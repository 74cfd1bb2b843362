package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/virtlab/dvp/internal/storage"
)

// errUnsupportedVolume marks a pod the node can never start, as opposed to
// one whose volumes are not ready yet.
var errUnsupportedVolume = errors.New("unsupported volume type")

// volumeSource resolves the pod's volumes to host paths, creating the
// directories of the ones the node materializes itself.
type volumeSource struct {
	kube kubernetes.Interface
}

// prepare materializes every volume of pod under dir and returns the host
// path of each, by volume name.
func (v *volumeSource) prepare(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, vol := range pod.Spec.Volumes {
		p, err := v.prepareOne(ctx, pod, vol, filepath.Join(dir, vol.Name))
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		paths[vol.Name] = p
	}
	return paths, nil
}

func (v *volumeSource) prepareOne(ctx context.Context, pod *corev1.Pod, vol corev1.Volume, dir string) (string, error) {
	s := vol.VolumeSource
	switch {
	case s.EmptyDir != nil:
		return dir, os.MkdirAll(dir, 0o750)
	case s.PersistentVolumeClaim != nil:
		return v.pvcPath(ctx, pod.Namespace, s.PersistentVolumeClaim.ClaimName)
	case s.Secret != nil:
		sec, err := v.kube.CoreV1().Secrets(pod.Namespace).Get(ctx, s.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return dir, writeKeys(dir, sec.Data, s.Secret.Items)
	case s.ConfigMap != nil:
		cm, err := v.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, s.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return dir, writeKeys(dir, configMapData(cm), s.ConfigMap.Items)
	case s.DownwardAPI != nil:
		return dir, writeDownward(dir, pod, s.DownwardAPI.Items)
	case s.Projected != nil:
		return dir, v.writeProjected(ctx, pod, dir, s.Projected)
	}
	return "", fmt.Errorf("%w (the dvp node runtime supports emptyDir, persistentVolumeClaim, secret, configMap, downwardAPI and projected)", errUnsupportedVolume)
}

func (v *volumeSource) pvcPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := v.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("PersistentVolumeClaim %s is not bound yet", claim)
	}
	pv, err := v.kube.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Annotations[storage.AnnotationVolumePath] != "":
		return pv.Annotations[storage.AnnotationVolumePath], nil
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("PersistentVolume %s has no local path: it is not served by this node", pv.Name)
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	return out
}

// writeKeys writes data (all keys, or the listed items) as files under dir.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if len(items) == 0 {
		for k, b := range data {
			if err := writeFile(dir, k, b); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %q not found", it.Key)
		}
		if err := writeFile(dir, it.Path, b); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(dir, rel string, b []byte) error {
	if strings.Contains(rel, "..") || filepath.IsAbs(rel) {
		return fmt.Errorf("path %q leaves the volume", rel)
	}
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o640)
}

func writeDownward(dir string, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) error {
	data := map[string][]byte{}
	var list []corev1.KeyToPath
	for _, it := range items {
		if it.FieldRef == nil {
			continue // resourceFieldRef: not needed by the platform's pods
		}
		val, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		data[it.Path] = []byte(val)
		list = append(list, corev1.KeyToPath{Key: it.Path, Path: it.Path})
	}
	return writeKeys(dir, data, list)
}

func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	return "", fmt.Errorf("unsupported field %q", path)
}

// writeProjected handles the projected volume every pod gets for its service
// account (token, ca.crt, namespace) and any other projection.
func (v *volumeSource) writeProjected(ctx context.Context, pod *corev1.Pod, dir string, p *corev1.ProjectedVolumeSource) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, src := range p.Sources {
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
				ExpirationSeconds: &exp,
				BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			}}
			if t.Audience != "" {
				req.Spec.Audiences = []string{t.Audience}
			}
			sa := pod.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			tok, err := v.kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("requesting a token for service account %s: %w", sa, err)
			}
			if err := writeFile(dir, t.Path, []byte(tok.Status.Token)); err != nil {
				return err
			}
		case src.ConfigMap != nil:
			cm, err := v.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := writeKeys(dir, configMapData(cm), src.ConfigMap.Items); err != nil {
				return err
			}
		case src.Secret != nil:
			sec, err := v.kube.CoreV1().Secrets(pod.Namespace).Get(ctx, src.Secret.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := writeKeys(dir, sec.Data, src.Secret.Items); err != nil {
				return err
			}
		case src.DownwardAPI != nil:
			if err := writeDownward(dir, pod, src.DownwardAPI.Items); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildRoot makes root/<mountPath> a symlink to each mounted volume, so a
// process finds its files at DVP_ROOT + the path a container would use.
func buildRoot(root string, c *corev1.Container, paths map[string]string) error {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return err
	}
	link := func(target, at string) error {
		if strings.Contains(at, "..") {
			return fmt.Errorf("path %q leaves the container root", at)
		}
		dst := filepath.Join(root, at)
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		_ = os.Remove(dst)
		return os.Symlink(target, dst)
	}
	for _, m := range c.VolumeMounts {
		p, ok := paths[m.Name]
		if !ok {
			return fmt.Errorf("volume mount %q names no volume", m.Name)
		}
		if m.SubPath != "" {
			p = filepath.Join(p, m.SubPath)
		}
		if err := link(p, m.MountPath); err != nil {
			return err
		}
	}
	for _, d := range c.VolumeDevices {
		p, ok := paths[d.Name]
		if !ok {
			return fmt.Errorf("volume device %q names no volume", d.Name)
		}
		if err := link(p, d.DevicePath); err != nil {
			return err
		}
	}
	return nil
}
