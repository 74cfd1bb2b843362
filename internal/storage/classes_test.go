package storage

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/virtlab/dvp/internal/config"
)

// classRow is what `kubectl get storageclass` shows, plus what decides
// behaviour.
type classRow struct {
	Provisioner, Reclaim, Binding string
	Expansion, Default, Managed   bool
	NodeLocal                     string
}

func classRows(t *testing.T, c *fake.Clientset) map[string]classRow {
	t.Helper()
	list, err := c.StorageV1().StorageClasses().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]classRow{}
	for _, sc := range list.Items {
		r := classRow{
			Provisioner: sc.Provisioner,
			Default:     sc.Annotations[annDefaultClass] == "true",
			Managed:     sc.Labels[LabelManagedBy] == "dvp",
			NodeLocal:   sc.Parameters[ParameterNodeLocal],
		}
		if sc.ReclaimPolicy != nil {
			r.Reclaim = string(*sc.ReclaimPolicy)
		}
		if sc.VolumeBindingMode != nil {
			r.Binding = string(*sc.VolumeBindingMode)
		}
		r.Expansion = sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		rows[sc.Name] = r
	}
	return rows
}

func TestEnsureStorageClasses(t *testing.T) {
	ctx := context.Background()
	foreign := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "nfs", Annotations: map[string]string{"team": "infra"}},
		Provisioner: "nfs.csi.k8s.io",
	}
	c := fake.NewClientset(foreign)
	ours := func(binding, nodeLocal string, def bool) classRow {
		return classRow{Provisioner: ProvisionerName, Reclaim: "Delete", Binding: binding, Expansion: true, Default: def, Managed: true, NodeLocal: nodeLocal}
	}
	nfs := classRow{Provisioner: "nfs.csi.k8s.io"}

	steps := []struct {
		name    string
		classes []config.StorageClass
		want    map[string]classRow
	}{
		{
			name: "created",
			classes: []config.StorageClass{
				{Name: "local-thin", VolumeBindingMode: "WaitForFirstConsumer", Default: true},
				{Name: "linstor-thin-r2", VolumeBindingMode: "Immediate"},
			},
			want: map[string]classRow{
				"local-thin":      ours("WaitForFirstConsumer", "false", true),
				"linstor-thin-r2": ours("Immediate", "false", false),
				"nfs":             nfs,
			},
		},
		{
			name: "unchanged",
			classes: []config.StorageClass{
				{Name: "local-thin", VolumeBindingMode: "WaitForFirstConsumer", Default: true},
				{Name: "linstor-thin-r2", VolumeBindingMode: "Immediate"},
			},
			want: map[string]classRow{
				"local-thin":      ours("WaitForFirstConsumer", "false", true),
				"linstor-thin-r2": ours("Immediate", "false", false),
				"nfs":             nfs,
			},
		},
		{
			name: "default moves, binding mode and nodeLocal change by recreation",
			classes: []config.StorageClass{
				{Name: "local-thin", VolumeBindingMode: "Immediate", NodeLocal: true},
				{Name: "linstor-thin-r2", VolumeBindingMode: "Immediate", Default: true},
			},
			want: map[string]classRow{
				"local-thin":      ours("Immediate", "true", false),
				"linstor-thin-r2": ours("Immediate", "false", true),
				"nfs":             nfs,
			},
		},
		{
			name: "a class no longer listed goes, a foreign one stays",
			classes: []config.StorageClass{
				{Name: "linstor-thin-r2", VolumeBindingMode: "Immediate", Default: true},
			},
			want: map[string]classRow{
				"linstor-thin-r2": ours("Immediate", "false", true),
				"nfs":             nfs,
			},
		},
	}
	for _, st := range steps {
		if err := EnsureStorageClasses(ctx, c, st.classes); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, classRows(t, c)); diff != "" {
			t.Errorf("%s: classes (-want +got):\n%s", st.name, diff)
		}
	}
	got, err := c.StorageV1().StorageClasses().Get(ctx, "nfs", metav1.GetOptions{})
	if err != nil || got.Annotations["team"] != "infra" {
		t.Errorf("foreign class changed: %+v %v", got, err)
	}
}

// A class an administrator created under a configured name is taken over,
// keeping labels and annotations that do not conflict.
func TestEnsureStorageClassesAdoptsAndKeepsExtras(t *testing.T) {
	ctx := context.Background()
	expand := false
	mode := storagev1.VolumeBindingImmediate
	existing := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "linstor-thin-r2",
			Labels:      map[string]string{"tier": "gold"},
			Annotations: map[string]string{annDefaultClass: "true", annBetaDefaultClass: "true", "note": "keep"},
		},
		Provisioner:          ProvisionerName,
		Parameters:           map[string]string{ParameterNodeLocal: "false"},
		VolumeBindingMode:    &mode,
		AllowVolumeExpansion: &expand,
	}
	c := fake.NewClientset(existing)
	if err := EnsureStorageClasses(ctx, c, []config.StorageClass{{Name: "linstor-thin-r2", VolumeBindingMode: "Immediate"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.StorageV1().StorageClasses().Get(ctx, "linstor-thin-r2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"tier": "gold", LabelManagedBy: "dvp"}
	wantAnn := map[string]string{"note": "keep"}
	if diff := cmp.Diff(wantLabels, got.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAnn, got.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if got.AllowVolumeExpansion == nil || !*got.AllowVolumeExpansion {
		t.Error("allowVolumeExpansion not turned on")
	}
}

func TestEnsureStorageClassesRefusesBadMode(t *testing.T) {
	c := fake.NewClientset()
	err := EnsureStorageClasses(context.Background(), c, []config.StorageClass{{Name: "x", VolumeBindingMode: "Later"}})
	if err == nil {
		t.Fatal("accepted volumeBindingMode Later")
	}
	list, _ := c.StorageV1().StorageClasses().List(context.Background(), metav1.ListOptions{})
	names := []string{}
	for _, sc := range list.Items {
		names = append(names, sc.Name)
	}
	sort.Strings(names)
	if len(names) != 0 {
		t.Errorf("classes created despite the error: %v", names)
	}
}
