package crds_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/crds"
)

type schemaCase struct {
	doc, old string // old, if set, makes the case an update (for transition rules)
	want     string // "" means the object must be accepted; else a substring of an expected error
}

type loadedCRD struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

// loadCRDs validates every embedded CRD the way the apiserver does on create
// (structural schema, CEL compilation and cost) and prepares its validators.
func loadCRDs(t *testing.T) map[string]*loadedCRD {
	t.Helper()
	files, err := fs.Glob(crds.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*loadedCRD{}
	for _, f := range files {
		data, err := crds.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v1 apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &v1); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		v1.Status.StoredVersions = []string{v1.Spec.Versions[0].Name}
		var in apiextensions.CustomResourceDefinition
		if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &in, nil); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range crdvalidation.ValidateCustomResourceDefinition(context.Background(), &in) {
			t.Errorf("%s: invalid CRD: %v", f, e)
		}
		sch := in.Spec.Validation.OpenAPIV3Schema // single version: the schema is hoisted
		s, err := structuralschema.NewStructural(sch)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		val, _, err := apiservervalidation.NewSchemaValidator(sch)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[in.Spec.Names.Kind] = &loadedCRD{structural: s, validator: val}
	}
	return out
}

func decode(t *testing.T, doc string) map[string]interface{} {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(j, &obj); err != nil { // integers as int64, as the apiserver does
		t.Fatal(err)
	}
	return obj
}

// admit runs pruning, defaulting, OpenAPI validation and CEL rules on obj and
// returns every complaint.
func admit(t *testing.T, c *loadedCRD, obj, old map[string]interface{}) []string {
	var out []string
	for _, p := range pruning.PruneWithOptions(obj, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		out = append(out, "unknown field "+p)
	}
	structuraldefaulting.Default(obj, c.structural)
	for _, e := range apiservervalidation.ValidateCustomResource(nil, obj, c.validator) {
		out = append(out, e.Error())
	}
	var oldObj interface{}
	if old != nil {
		pruning.Prune(old, c.structural, true)
		structuraldefaulting.Default(old, c.structural)
		oldObj = old
	}
	errs, _ := cel.NewValidator(c.structural, true, celconfig.PerCallLimit).
		Validate(context.Background(), nil, c.structural, obj, oldObj, celconfig.RuntimeCELCostBudget)
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestSchema(t *testing.T) {
	loaded := loadCRDs(t)
	for name, tc := range schemaCases {
		t.Run(name, func(t *testing.T) {
			obj := decode(t, tc.doc)
			c := loaded[obj["kind"].(string)]
			if c == nil {
				t.Fatalf("no CRD for kind %v", obj["kind"])
			}
			var old map[string]interface{}
			if tc.old != "" {
				old = decode(t, tc.old)
			}
			errs := admit(t, c, obj, old)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("rejected:\n  %s", strings.Join(errs, "\n  "))
				}
				return
			}
			for _, e := range errs {
				if strings.Contains(e, tc.want) {
					return
				}
			}
			t.Fatalf("want an error containing %q, got: %q", tc.want, errs)
		})
	}
}

// TestSchemaDefaults checks the defaults the schema fills in, and that
// spec.disruptions gets none.
func TestSchemaDefaults(t *testing.T) {
	loaded := loadCRDs(t)
	obj := decode(t, vmBase)
	if errs := admit(t, loaded["VirtualMachine"], obj, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	spec := obj["spec"].(map[string]interface{})
	want := map[string]interface{}{
		"runPolicy":                     "AlwaysOnUnlessStoppedManually",
		"enableParavirtualization":      true,
		"osType":                        "Generic",
		"bootloader":                    "BIOS",
		"terminationGracePeriodSeconds": int64(60),
		"liveMigrationPolicy":           "PreferSafe",
	}
	for k, v := range want {
		if spec[k] != v {
			t.Errorf("spec.%s = %#v, want %#v", k, spec[k], v)
		}
	}
	if _, ok := spec["disruptions"]; ok {
		t.Errorf("spec.disruptions was defaulted: %v", spec["disruptions"])
	}

	vi := decode(t, "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: x, namespace: vms}\nspec:\n  dataSource: {type: Upload}\n")
	if errs := admit(t, loaded["VirtualImage"], vi, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := vi["spec"].(map[string]interface{})["storage"]; got != "ContainerRegistry" {
		t.Errorf("VirtualImage spec.storage = %v, want ContainerRegistry", got)
	}
}
