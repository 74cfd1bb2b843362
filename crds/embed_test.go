package crds

import (
	"io/fs"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/api/v1alpha2"
)

type crdHead struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind   string `json:"kind"`
			Plural string `json:"plural"`
		} `json:"names"`
		Versions []struct {
			Name    string `json:"name"`
			Served  bool   `json:"served"`
			Storage bool   `json:"storage"`
		} `json:"versions"`
	} `json:"spec"`
}

// TestEmbeddedCRDsMatchScheme checks that every embedded CRD belongs to the API
// group, carries the module labels and describes a kind that the Go scheme knows.
func TestEmbeddedCRDsMatchScheme(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 9 {
		t.Fatalf("want 9 CRDs, got %d: %v", len(files), files)
	}
	for _, f := range files {
		data, err := FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h crdHead
		if err := yaml.Unmarshal(data, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if h.Spec.Group != v1alpha2.GroupName {
			t.Errorf("%s: group %q", f, h.Spec.Group)
		}
		if h.Metadata.Name != h.Spec.Names.Plural+"."+v1alpha2.GroupName {
			t.Errorf("%s: name %q", f, h.Metadata.Name)
		}
		if h.Metadata.Labels["heritage"] != "deckhouse" || h.Metadata.Labels["module"] != "virtualization" {
			t.Errorf("%s: labels %v", f, h.Metadata.Labels)
		}
		if len(h.Spec.Versions) != 1 || h.Spec.Versions[0].Name != v1alpha2.Version ||
			!h.Spec.Versions[0].Served || !h.Spec.Versions[0].Storage {
			t.Errorf("%s: versions %+v", f, h.Spec.Versions)
		}
		if !scheme.Recognizes(v1alpha2.GroupVersion.WithKind(h.Spec.Names.Kind)) {
			t.Errorf("%s: kind %q is not registered", f, h.Spec.Names.Kind)
		}
	}
}
