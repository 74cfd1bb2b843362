package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/test/harness"
)

// TestDiskFromSources makes VirtualDisks straight from HTTP, a container
// registry and an upload, and compares the bytes on each disk's volume with
// the source converted to raw. It covers the two stages (DVCR, then the
// volume), a WaitForFirstConsumer class, failures with the images'
// messages, the upload timeout, cleanup of the staged copy, and that a
// restart never writes a Ready disk again.
func TestDiskFromSources(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	dir, sums := imageFixtures(t)
	raw, err := os.ReadFile(filepath.Join(dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	// What the qcow2 holds, as raw: the 4 MiB of data, then zeros to 64 MiB.
	qcowRaw := filepath.Join(dir, "qcow2-as-raw.img")
	if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", filepath.Join(dir, "disk.qcow2"), qcowRaw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	want64 := fileSHA256(t, qcowRaw, 64<<20)

	srv := harness.Start(t, harness.Options{Config: storageConfig + "upload: {waitTimeout: 20s}\n"})
	base := serveFiles(t, srv, dir)
	pullHost, caPEM := diskTestRegistry(t, srv, filepath.Join(dir, "disk.qcow2"), "username/disk")
	srv.MustKubectl("create", "ns", "vms")
	auth := base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{pullHost: map[string]string{"auth": auth}}})
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: registry-creds, namespace: vms}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n",
		base64.StdEncoding.EncodeToString(cfg)), "apply", "-f", "-")

	disk := func(name, pvc, source string) string {
		return obj("VirtualDisk", name, "persistentVolumeClaim: "+pvc+"\ndataSource:\n"+source)
	}
	shared := "{storageClassName: linstor-thin-r2}"
	for _, m := range []string{
		disk("from-qcow2", shared, fmt.Sprintf("  type: HTTP\n  http: {url: %q, checksum: {sha256: %q}}", base+"/disk.qcow2", sums["disk.qcow2"])),
		// The default class waits for a consumer.
		disk("from-raw", "{size: 10Mi}", fmt.Sprintf("  type: HTTP\n  http: {url: %q}", base+"/disk.img")),
		disk("missing", shared, fmt.Sprintf("  type: HTTP\n  http: {url: %q}", base+"/nope.img")),
		disk("bad-sum", shared, fmt.Sprintf("  type: HTTP\n  http: {url: %q, checksum: {sha256: %q}}", base+"/disk.img", strings.Repeat("0", 64))),
		disk("from-registry", shared, fmt.Sprintf("  type: ContainerImage\n  containerImage:\n    image: %s/username/disk:latest\n    imagePullSecret: {name: registry-creds}\n    caBundle: %s",
			pullHost, base64.StdEncoding.EncodeToString(caPEM))),
		disk("never-uploaded", shared, "  type: Upload"),
	} {
		srv.MustKubectlStdin(m, "apply", "-f", "-")
	}
	get := func(vd, jsonpath string) string {
		return srv.MustKubectl("-n", "vms", "get", "vd", vd, "-o", "jsonpath="+jsonpath)
	}
	phase := func(vd string) []string {
		return []string{"-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.phase}"}
	}
	readyMsg := `{.status.conditions[?(@.type=="Ready")].message}`
	stagedRepo := func(vd string) string {
		return filepath.Join(srv.DataDir, "dvcr", "docker", "registry", "v2", "repositories", "vd", "vms", vd)
	}
	leftovers := func(vd string) {
		t.Helper()
		out := srv.MustKubectl("-n", "vms", "get", "pods,secrets", "-o", "name")
		for _, n := range []string{"vd-dvcr-importer-" + vd, "vd-importer-" + vd, "vd-upload-" + vd} {
			if strings.Contains(out, "/"+n+"\n") || strings.Contains(out, "/"+n+"-dvcr\n") {
				t.Errorf("%s left after the disk %s was made:\n%s", n, vd, out)
			}
		}
		if _, err := os.Stat(stagedRepo(vd)); !os.IsNotExist(err) {
			t.Errorf("staged copy of %s still in DVCR (%v)", vd, err)
		}
	}

	t.Run("HTTPQcow2", func(t *testing.T) {
		waitLonger(t, srv, "Ready", phase("from-qcow2")...)
		if got := get("from-qcow2", "{.status.capacity}/{.status.progress}"); got != "64Mi/100%" {
			t.Errorf("capacity/progress = %q, want 64Mi/100%% (the unpacked size)", got)
		}
		if got := fileSHA256(t, backingPath(t, srv, "from-qcow2"), 64<<20); got != want64 {
			t.Errorf("the disk does not hold the qcow2's data converted to raw")
		}
		leftovers("from-qcow2")
	})

	t.Run("HTTPRawWaitForFirstConsumer", func(t *testing.T) {
		// Stage 1 runs at once; the claim waits for a consumer, half way.
		waitLonger(t, srv, "WaitForFirstConsumer", phase("from-raw")...)
		if got := get("from-raw", "{.status.progress}/{.status.storageClassName}"); got != "50%/local-thin" {
			t.Errorf("progress/class while waiting = %q", got)
		}
		pvc := get("from-raw", "{.status.target.persistentVolumeClaimName}")
		if pvc == "" {
			t.Fatal("no claim while waiting for a consumer")
		}
		if _, err := os.Stat(stagedRepo("from-raw")); err != nil {
			t.Errorf("the imported data is not in DVCR while the disk waits: %v", err)
		}
		// Once imported, the data source is frozen.
		r := srv.Kubectl("-n", "vms", "patch", "vd", "from-raw", "--type", "merge", "-p", `{"spec":{"dataSource":{"http":{"url":"http://example.com/other.img"}}}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, "data source cannot be changed once the VirtualDisk's PersistentVolumeClaim has been made") {
			t.Errorf("changing an imported disk's source: %s", r)
		}
		srv.MustKubectlStdin(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: consumer, namespace: vms}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s:test
    command: [dvp-worker, version]
    volumeDevices: [{name: disk, devicePath: /dev/consumer}]
  volumes: [{name: disk, persistentVolumeClaim: {claimName: %s}}]
`, platform.Image, pvc), "apply", "-f", "-")
		waitLonger(t, srv, "Ready", phase("from-raw")...)
		if c := get("from-raw", "{.status.capacity}"); c != "10Mi" {
			t.Errorf("capacity %q, want 10Mi", c)
		}
		b, err := os.ReadFile(backingPath(t, srv, "from-raw"))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 10<<20 || !bytes.Equal(b[:len(raw)], raw) || !bytes.Equal(b[len(raw):], make([]byte, len(b)-len(raw))) {
			t.Errorf("disk from the raw image holds other bytes (%d bytes)", len(b))
		}
		leftovers("from-raw")
	})

	t.Run("ContainerImage", func(t *testing.T) {
		waitLonger(t, srv, "Ready", phase("from-registry")...)
		if got := fileSHA256(t, backingPath(t, srv, "from-registry"), 64<<20); got != want64 || get("from-registry", "{.status.capacity}") != "64Mi" {
			t.Errorf("the disk from the registry does not hold the image's data")
		}
		leftovers("from-registry")
	})

	t.Run("Failures", func(t *testing.T) {
		waitLonger(t, srv, "Failed", phase("missing")...)
		if msg := get("missing", readyMsg); !strings.Contains(msg, "404") && !strings.Contains(strings.ToLower(msg), "not found") {
			t.Errorf("404 message %q", msg)
		}
		waitLonger(t, srv, "Failed", phase("bad-sum")...)
		if msg := get("bad-sum", readyMsg); !strings.Contains(msg, "checksum") {
			t.Errorf("checksum message %q", msg)
		}
		if pvc := get("bad-sum", "{.status.target.persistentVolumeClaimName}"); pvc != "" {
			t.Errorf("a failed import has a claim %q", pvc)
		}
		ev := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", "involvedObject.name=missing", "-o", "jsonpath={range .items[*]}{.type} {.reason}: {.message}{\"\\n\"}{end}")
		if !strings.Contains(ev, "Warning ImportFailed") {
			t.Errorf("no ImportFailed event for the 404:\n%s", ev)
		}
		// Deleting a failed disk removes its importer pod and Secret.
		srv.MustKubectl("-n", "vms", "delete", "vd", "missing")
		if out := srv.MustKubectl("-n", "vms", "get", "pods,secrets", "-o", "name"); strings.Contains(out, "vd-dvcr-importer-missing") {
			t.Errorf("importer of a deleted disk left:\n%s", out)
		}
	})

	t.Run("Upload", func(t *testing.T) {
		// Made here, not with the others: its upload must start within
		// the test's short wait (20s), whatever the subtests above took.
		srv.MustKubectlStdin(disk("uploaded", shared, "  type: Upload"), "apply", "-f", "-")
		waitLonger(t, srv, "WaitForUserUpload", phase("uploaded")...)
		if r := get("uploaded", `{.status.conditions[?(@.type=="Ready")].reason}`); r != "WaitForUserUpload" {
			t.Errorf("Ready reason %q", r)
		}
		cmd, ext := get("uploaded", "{.status.uploadCommand}"), get("uploaded", "{.status.imageUploadURLs.external}")
		if cmd == "" || ext == "" || !strings.Contains(cmd, ext) || !strings.Contains(cmd, "example.iso") {
			t.Fatalf("uploadCommand %q, external URL %q", cmd, ext)
		}
		run := strings.Replace(cmd, "example.iso", filepath.Join(dir, "disk.qcow2"), 1) + " --fail-with-body -sS"
		if r := srv.Run("", "sh", "-c", run); r.Err != nil {
			t.Fatalf("%s: %s", run, r)
		} else {
			t.Logf("upload answered: %s", strings.TrimSpace(r.Stdout))
		}
		waitLonger(t, srv, "Ready", phase("uploaded")...)
		if got := fileSHA256(t, backingPath(t, srv, "uploaded"), 64<<20); got != want64 || get("uploaded", "{.status.capacity}") != "64Mi" {
			t.Errorf("the uploaded disk does not hold the upload's data")
		}
		// The token is dead once the disk is made.
		if r := srv.Run("", "sh", "-c", strings.Replace(cmd, "example.iso", filepath.Join(dir, "disk.img"), 1)+" -s -o /dev/null -w %{http_code}"); r.Stdout != "404" {
			t.Errorf("second upload: %s", r)
		}
		leftovers("uploaded")
	})

	t.Run("UploadTimeout", func(t *testing.T) {
		waitLonger(t, srv, "Failed", phase("never-uploaded")...)
		reason := get("never-uploaded", `{.status.conditions[?(@.type=="Ready")].reason}`)
		msg := get("never-uploaded", readyMsg)
		if reason != "WaitForUserUploadTimeout" || !strings.Contains(msg, "20s") || !strings.Contains(msg, "recreate the VirtualDisk") {
			t.Errorf("reason %q message %q", reason, msg)
		}
		srv.MustKubectl("-n", "vms", "delete", "vd", "never-uploaded")
		if out := srv.MustKubectl("-n", "vms", "get", "secrets", "-o", "name"); strings.Contains(out, "vd-upload-never-uploaded") {
			t.Errorf("upload Secret of a deleted disk left:\n%s", out)
		}
	})

	// A restart must not write a Ready disk again: a mark the "guest" left
	// survives it.
	t.Run("RestartKeepsData", func(t *testing.T) {
		path := backingPath(t, srv, "from-qcow2")
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		mark := []byte("written by the guest")
		if _, err := f.WriteAt(mark, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		srv.Restart(false)
		// Touch the disks so they are reconciled after the restart.
		srv.MustKubectl("-n", "vms", "label", "vd", "--all", "touched=yes")
		time.Sleep(5 * time.Second)
		for _, vd := range []string{"from-qcow2", "from-raw", "from-registry", "uploaded"} {
			if p := get(vd, "{.status.phase}"); p != "Ready" {
				t.Errorf("%s is %s after a restart", vd, p)
			}
		}
		out := srv.MustKubectl("-n", "vms", "get", "pods", "-o", "name")
		for _, vd := range []string{"from-qcow2", "from-raw", "from-registry", "uploaded"} {
			if strings.Contains(out, "importer-"+vd+"\n") {
				t.Errorf("an importer of the Ready disk %s after a restart:\n%s", vd, out)
			}
		}
		b := make([]byte, len(mark))
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(b, 0); err != nil || !bytes.Equal(b, mark) {
			t.Errorf("the disk was written again after a restart: %q (%v)", b, err)
		}
	})
}

// waitLonger is waitFor with room for an import and a fill on a busy
// machine (a few minutes).
func waitLonger(t *testing.T, srv *harness.Server, want string, args ...string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := srv.Kubectl(args...)
		if got = r.Stdout; r.Err == nil && got == want {
			return
		}
	}
	t.Fatalf("kubectl %s = %q, want %q", strings.Join(args, " "), got, want)
}

// backingPath is the file behind a disk's volume.
func backingPath(t *testing.T, srv *harness.Server, vd string) string {
	t.Helper()
	pvc := srv.MustKubectl("-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.target.persistentVolumeClaimName}")
	pv := srv.MustKubectl("-n", "vms", "get", "pvc", pvc, "-o", "jsonpath={.spec.volumeName}")
	return srv.MustKubectl("get", "pv", pv, "-o", `jsonpath={.metadata.annotations.virtualization\.deckhouse\.io/volume-path}`)
}

// fileSHA256 hashes the first n bytes of a file (short files hash short).
func fileSHA256(t *testing.T, path string, n int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diskTestRegistry serves an OCI image holding file under disk/ (FROM
// scratch) as <repo>:latest from an in-memory registry with two doors:
// plain HTTP on loopback for the test to push, TLS with basic auth
// (puller:s3cret) inside the server's network namespace for the importer to
// pull. It returns the registry's host and its CA.
func diskTestRegistry(t *testing.T, srv *harness.Server, file, repo string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	push, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(push, reg) //nolint:errcheck
	t.Cleanup(func() { push.Close() })
	cert, caPEM := selfSigned(t, srv.NodeIP)
	pull := srv.Listen()
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "puller" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})
	go (&http.Server{Handler: authed}).Serve(tls.NewListener(pull, &tls.Config{Certificates: []tls.Certificate{cert}})) //nolint:errcheck
	t.Cleanup(func() { pull.Close() })
	layer, err := crane.Layer(map[string][]byte{"disk/" + filepath.Base(file): data})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(push.Addr().String()+"/"+repo+":latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing the test image: %v", err)
	}
	host := pull.Addr().String()
	if srv.NetNS == "" {
		host = strings.Replace(host, "127.0.0.1", "localhost", 1)
	}
	return host, caPEM
}
