package image

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDVCRScopes(t *testing.T) {
	s, err := ParseDVCRScopes("push:vi/ns/a, pull:cvi/b")
	if err != nil || len(s) != 2 || s[0] != (DVCRScope{"vi/ns/a", true}) || s[1] != (DVCRScope{"cvi/b", false}) {
		t.Fatalf("ParseDVCRScopes = %v, %v", s, err)
	}
	if got := FormatDVCRScopes(s...); got != "push:vi/ns/a,pull:cvi/b" {
		t.Errorf("FormatDVCRScopes = %q", got)
	}
	for _, bad := range []string{"delete:vi/a", "vi/a", "push:", "push:vi/a@pod=x", "pull:a:b"} {
		if _, err := ParseDVCRScopes(bad); err == nil {
			t.Errorf("ParseDVCRScopes(%q) accepted", bad)
		}
	}
}

func TestDVCRCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.json")
	b, _ := json.Marshal(map[string]DVCRCredential{
		"push:vi/ns/a": {Username: "push@vi/ns/a@pod=u", Password: "p1"},
		"pull:cvi/b":   {Username: "pull@cvi/b@pod=u", Password: "p2"},
	})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == DVCRCredentialsEnv {
			return path
		}
		return ""
	}
	for _, tc := range []struct {
		ref        string
		push       bool
		user, pass string
	}{
		{"10.0.0.1:5000/vi/ns/a:uid", true, "push@vi/ns/a@pod=u", "p1"},
		{"10.0.0.1:5000/vi/ns/a@sha256:" + sixtyFour, false, "push@vi/ns/a@pod=u", "p1"}, // push covers pull
		{"10.0.0.1:5000/cvi/b@sha256:" + sixtyFour, false, "pull@cvi/b@pod=u", "p2"},
	} {
		u, p, err := DVCRCredentials(env, tc.ref, tc.push)
		if err != nil || u != tc.user || p != tc.pass {
			t.Errorf("DVCRCredentials(%s, %v) = %q, %q, %v", tc.ref, tc.push, u, p, err)
		}
	}
	if _, _, err := DVCRCredentials(env, "10.0.0.1:5000/cvi/b:uid", true); !errors.Is(err, ErrNoDVCRCredentials) {
		t.Errorf("push with a pull scope: %v", err)
	}
	if _, _, err := DVCRCredentials(env, "10.0.0.1:5000/vi/ns/other:uid", false); !errors.Is(err, ErrNoDVCRCredentials) {
		t.Errorf("another repository: %v", err)
	}
	if _, _, err := DVCRCredentials(func(string) string { return "" }, "10.0.0.1:5000/vi/ns/a:uid", false); !errors.Is(err, ErrNoDVCRCredentials) {
		t.Errorf("no file: %v", err)
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
