package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// TestUpload uploads an image with the command the status prints, refuses a
// wrong token, and expires an image nobody uploads to.
func TestUpload(t *testing.T) {
	file := uploadFixture(t)
	srv := harness.Start(t, harness.Options{Config: "upload: {waitTimeout: 20s}\n"})
	srv.MustKubectl("create", "ns", "vms")
	upload := func(name string) string {
		return "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata:\n  name: " + name + "\n  namespace: vms\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: Upload\n"
	}
	srv.MustKubectlStdin(upload("some-image"), "apply", "-f", "-")
	srv.MustKubectlStdin(upload("never-uploaded"), "apply", "-f", "-")

	waitFor(t, srv, "WaitForUserUpload", "-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.phase}")
	if r := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`); r != "WaitForUserUpload" {
		t.Errorf("Ready reason %q", r)
	}
	cmd := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.uploadCommand}")
	ext := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.imageUploadURLs.external}")
	if cmd == "" || ext == "" || !strings.Contains(cmd, ext) || !strings.Contains(cmd, "example.iso") {
		t.Fatalf("uploadCommand %q, external URL %q", cmd, ext)
	}
	t.Logf("uploadCommand: %s", cmd)

	t.Run("WrongToken", func(t *testing.T) {
		bad := ext[:strings.LastIndex(ext, "/")+1] + strings.Repeat("A", 43)
		ca := filepath.Join(srv.DataDir, "pki", "ca.crt")
		r := srv.Run("", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, bad, "-T", file)
		if r.Err != nil || r.Stdout != "404" {
			t.Errorf("wrong token: %s", r)
		}
		if p := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.phase}"); p != "WaitForUserUpload" {
			t.Errorf("phase after a wrong token: %q", p)
		}
	})

	t.Run("Upload", func(t *testing.T) {
		run := strings.Replace(cmd, "example.iso", file, 1) + " --fail-with-body -sS"
		if r := srv.Run("", "sh", "-c", run); r.Err != nil {
			t.Fatalf("%s: %s", run, r)
		} else {
			t.Logf("upload answered: %s", strings.TrimSpace(r.Stdout))
		}
		waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.phase}")
		if f := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.format}/{.status.size.unpacked}/{.status.size.unpackedBytes}/{.status.progress}"); f != "qcow2/16Mi/16777216/100%" {
			t.Errorf("format/unpacked/progress = %q", f)
		}
		if u := srv.MustKubectl("-n", "vms", "get", "vi", "some-image", "-o", "jsonpath={.status.target.registryURL}"); u != "dvcr.d8-virtualization.svc/vi/vms/some-image" {
			t.Errorf("registryURL %q", u)
		}
		// The token is dead once the image is Ready.
		if r := srv.Run("", "sh", "-c", strings.Replace(cmd, "example.iso", file, 1)+" -s -o /dev/null -w %{http_code}"); r.Stdout != "404" {
			t.Errorf("second upload: %s", r)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", "never-uploaded", "-o", "jsonpath={.status.phase}")
		reason := srv.MustKubectl("-n", "vms", "get", "vi", "never-uploaded", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		msg := srv.MustKubectl("-n", "vms", "get", "vi", "never-uploaded", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
		if reason != "WaitForUserUploadTimeout" || !strings.Contains(msg, "20s") || !strings.Contains(msg, "recreate") {
			t.Errorf("reason %q message %q", reason, msg)
		}
	})

	t.Run("DeleteRemovesSecret", func(t *testing.T) {
		srv.MustKubectl("-n", "vms", "delete", "vi", "never-uploaded")
		waitFor(t, srv, "", "-n", "vms", "get", "secret", "-l", "app.kubernetes.io/component=upload", "-o", "jsonpath={.items[?(@.metadata.name==\"vi-upload-never-uploaded\")].metadata.name}")
	})
}

// uploadFixture makes a small qcow2 to upload, skipping the test without
// qemu-img or curl.
func uploadFixture(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found: install qemu-utils")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	file := filepath.Join(t.TempDir(), "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", file, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	return file
}
