package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/image/imagetest"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/test/harness"
)

// TestImagePoisonedTag is the attack of a namespace editor on an image:
// read the importer's DVCR credentials while it runs, push over the image's
// tag a qcow2 whose backing file is a host file (standing in for /dev/sda),
// then make a disk of the image and read the host's bytes through it.
// Every link must be closed: no credentials are readable through the API,
// credentials die with their pod, and a disk is made only from the bytes
// the image's status recorded (or refused), never from the host file.
func TestImagePoisonedTag(t *testing.T) {
	dir, _ := imageFixtures(t)
	raw, err := os.ReadFile(filepath.Join(dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	srv.MustKubectl("create", "ns", "vms")
	// mallory edits the namespace (the built-in edit role) and may make
	// disks there.
	srv.MustKubectlStdin(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory-edit, namespace: vms}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: disks, namespace: vms}
rules:
- apiGroups: [virtualization.deckhouse.io]
  resources: [virtualdisks, virtualimages]
  verbs: [get, list, watch, create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory-disks, namespace: vms}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: disks}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
`, "apply", "-f", "-")
	mallory := srv.UserKubeconfig("mallory")

	// An HTTP source that sends half the image, then waits: the import is
	// running for as long as the test looks.
	release := make(chan struct{})
	l := srv.Listen()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { //nolint:errcheck // ends with the listener
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		w.Write(raw[:len(raw)/2])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(raw[len(raw)/2:])
	}))
	t.Cleanup(func() { l.Close() })
	var once bool
	releaseOnce := func() {
		if !once {
			once = true
			close(release)
		}
	}
	t.Cleanup(releaseOnce)
	srv.MustKubectlStdin(httpImage("victim", "http://"+l.Addr().String()+"/disk.img"), "apply", "-f", "-")
	waitFor(t, srv, "Running", "-n", "vms", "get", "pod", "vi-importer-victim", "-o", "jsonpath={.status.phase}")

	// (1) Nothing mallory can read names DVCR credentials.
	dv := newDVCRClient(t, srv)
	for _, kind := range []string{"secrets", "pods"} {
		r := srv.KubectlAs(mallory, "-n", "vms", "get", kind, "-o", "json")
		if r.Err != nil {
			t.Fatalf("mallory cannot list %s (the edit role can): %s", kind, r)
		}
		if leak := dvcrCredentialIn(t, r.Stdout); leak != "" {
			t.Errorf("mallory reads DVCR credentials in the namespace's %s: %s", kind, leak)
		}
	}
	// The importer has its credentials from the node runtime, in its
	// private run directory on the host, bound to its pod.
	files, _ := filepath.Glob(filepath.Join(srv.DataDir, "nodes", "*", "pods", "*", "containers", "importer", "run", "dvcr-credentials.json"))
	repo := registry.VIRepository("vms", "victim")
	var importer image.DVCRCredential
	if len(files) != 1 {
		t.Errorf("importer credentials files on the node: %v, want one", files)
	} else {
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		var podCreds map[string]image.DVCRCredential
		if err := json.Unmarshal(b, &podCreds); err != nil {
			t.Fatal(err)
		}
		importer = podCreds["push:"+repo]
		if !strings.Contains(importer.Username, "@pod=") {
			t.Errorf("importer credentials %v: want pod-bound push on %s", podCreds, repo)
		}
	}

	releaseOnce()
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "victim", "-o", "jsonpath={.status.phase}")
	uid := srv.MustKubectl("-n", "vms", "get", "vi", "victim", "-o", "jsonpath={.metadata.uid}")
	digest := srv.MustKubectl("-n", "vms", "get", "vi", "victim", "-o", "jsonpath={.status.target.digest}")
	if !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("status.target.digest = %q", digest)
	}
	// The importer pod is gone with the import, and its credentials with it.
	waitFor(t, srv, "", "-n", "vms", "get", "pod", "vi-importer-victim", "--ignore-not-found", "-o", "name")
	evil := poisonedImage(t)
	if importer.Username != "" {
		if err := remote.Write(dv.ref(t, repo, uid), evil, dv.opts(importer.Username, importer.Password)...); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("push with the credentials of a deleted importer pod: %v, want 401", err)
		}
	}

	// (2) Credentials leak anyway (the old importer Secret's kind): push
	// the poisoned image over the tag.
	user, pass := registry.Credentials(dv.secret, repo, true)
	if err := remote.Write(dv.ref(t, repo, uid), evil, dv.opts(user, pass)...); err != nil {
		t.Fatalf("pushing the poisoned image: %v", err)
	}

	// mallory makes a disk of the image.
	if r := srv.Run(obj("VirtualDisk", "stolen", "persistentVolumeClaim: {storageClassName: linstor-thin-r2}\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualImage, name: victim}"),
		"kubectl", "--kubeconfig", mallory, "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("mallory creating a disk: %s", r)
	}
	var phase string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		phase = srv.MustKubectl("-n", "vms", "get", "vd", "stolen", "-o", "jsonpath={.status.phase}")
		if phase == "Ready" || phase == "Failed" || time.Now().After(deadline) {
			break
		}
	}
	switch phase {
	case "Ready":
		// The disk must hold the image as imported: pulled by digest, the
		// tag was ignored.
		got, err := os.ReadFile(diskRaw(t, srv, "stolen"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(got, []byte(hostMarker)) {
			t.Fatalf("the disk reads the host file through the poisoned image")
		}
		if !bytes.Equal(got, raw) {
			t.Errorf("the disk holds %d bytes that are not the imported image", len(got))
		}
	case "Failed":
		msg := srv.MustKubectl("-n", "vms", "get", "vd", "stolen", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
		if msg == "" {
			t.Errorf("the disk failed without a message")
		}
		t.Logf("disk from the poisoned image refused: %s", msg)
	default:
		t.Fatalf("disk from the poisoned image is %q", phase)
	}
	// Whatever happened, no file of the node's image cache names a
	// backing file.
	entries, _ := filepath.Glob(filepath.Join(srv.DataDir, "image-cache", "*"))
	for _, e := range entries {
		out, err := exec.Command("qemu-img", "info", "--output=json", e).CombinedOutput()
		if err == nil && strings.Contains(string(out), "backing-filename") {
			t.Errorf("image cache entry %s has a backing file:\n%s", e, out)
		}
	}
}

const hostMarker = "HOST-DISK-MARKER-2b7f"

// poisonedImage is a DVCR disk image whose qcow2 names a host file full of
// hostMarker as its backing file: what the attacker pushes.
func poisonedImage(t *testing.T) v1.Image {
	t.Helper()
	dir := t.TempDir()
	host := filepath.Join(dir, "host-disk")
	if err := os.WriteFile(host, bytes.Repeat([]byte(hostMarker), (4<<20)/len(hostMarker)+1)[:4<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(dir, "evil.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", host, "-F", "raw", q, "4M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	b, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	img := imagetest.DiskImage(t, "disk.qcow2", b, "qcow2", 4<<20)
	return img
}

// dvcrCredentialIn looks through a kubectl JSON list of Secrets or pods for
// anything that is a DVCR credential: a scoped or admin username, a
// password beside one, a docker config for DVCR. It returns what it found.
func dvcrCredentialIn(t *testing.T, list string) string {
	t.Helper()
	var l struct {
		Items []struct {
			Metadata struct{ Name string }
			Data     map[string]string
			Spec     struct {
				Containers []struct {
					Env []struct {
						Name      string
						Value     string
						ValueFrom *struct {
							SecretKeyRef *struct{ Name, Key string }
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(list), &l); err != nil {
		t.Fatal(err)
	}
	suspicious := func(s string) bool {
		return strings.Contains(s, "push@") || strings.Contains(s, "pull@") || strings.Contains(s, `"admin"`)
	}
	for _, it := range l.Items {
		for k, v := range it.Data {
			dec, _ := base64.StdEncoding.DecodeString(v)
			if k == "username" || k == "password" || suspicious(string(dec)) {
				return fmt.Sprintf("Secret %s key %s", it.Metadata.Name, k)
			}
		}
		for _, c := range it.Spec.Containers {
			for _, e := range c.Env {
				if strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "USERNAME") || suspicious(e.Value) {
					return fmt.Sprintf("pod %s env %s", it.Metadata.Name, e.Name)
				}
			}
		}
	}
	return ""
}
