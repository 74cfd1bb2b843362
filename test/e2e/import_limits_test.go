package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// scratchUse is what the platform's scratch space holds: the pods'
// directories (their scratch volumes) and the upload gateway's spool.
func scratchUse(srv *harness.Server) int64 {
	return dirSize(filepath.Join(srv.DataDir, "nodes")) + dirSize(filepath.Join(srv.DataDir, "uploads"))
}

func readyMessage(srv *harness.Server, args ...string) string {
	return srv.MustKubectl(append(args, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)...)
}

// TestImportLimits performs the disk-filling attacks on a platform whose
// import.maxImageSize is 64Mi: an HTTP source that sends zeros forever
// without a Content-Length, an xz bomb (1 GiB of zeros in a few hundred
// KiB) over HTTP and as an upload. Each ends Failed with a message naming
// the limit, and the scratch space is back where it was. Spool files that a
// killed gateway or importer left are removed when the server starts.
func TestImportLimits(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not found: install xz-utils")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.img.xz")
	if out, err := exec.Command("sh", "-c", "head -c 1G /dev/zero | xz -0 -T1 > "+bomb).CombinedOutput(); err != nil {
		t.Fatalf("making the xz bomb: %v\n%s", err, out)
	}
	if fi, err := os.Stat(bomb); err != nil || fi.Size() > 4<<20 {
		t.Fatalf("xz bomb: %v, %v", fi, err)
	}

	srv := harness.Start(t, harness.Options{Config: "import: {maxImageSize: 64Mi}\nupload: {waitTimeout: 5m}\n"})
	base := serveFiles(t, srv, dir)
	l := srv.Listen()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { //nolint:errcheck // ends with the listener
		buf := make([]byte, 1<<20)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(func() { l.Close() })
	endless := "http://" + l.Addr().String() + "/disk.img"

	srv.MustKubectl("create", "ns", "vms")
	before := scratchUse(srv)
	vi := func(name, ds string) string {
		return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: %s, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n%s", name, ds)
	}
	srv.MustKubectlStdin(vi("endless", fmt.Sprintf("    type: HTTP\n    http: {url: %q}\n", endless)), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("bomb", fmt.Sprintf("    type: HTTP\n    http: {url: %q}\n", base+"/bomb.img.xz")), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("uploaded-bomb", "    type: Upload\n"), "apply", "-f", "-")

	for name, want := range map[string]string{
		"endless": "the source sent more than 64Mi",
		"bomb":    "the image unpacks to more than 64Mi",
	} {
		waitWithin(t, srv, 5*time.Minute, "Failed", "-n", "vms", "get", "vi", name, "-o", "jsonpath={.status.phase}")
		msg := readyMessage(srv, "-n", "vms", "get", "vi", name)
		if !strings.Contains(msg, want) || !strings.Contains(msg, "import.maxImageSize") {
			t.Errorf("%s: message %q, want %q and the setting", name, msg, want)
		}
	}

	waitFor(t, srv, "WaitForUserUpload", "-n", "vms", "get", "vi", "uploaded-bomb", "-o", "jsonpath={.status.phase}")
	cmd := srv.MustKubectl("-n", "vms", "get", "vi", "uploaded-bomb", "-o", "jsonpath={.status.uploadCommand}")
	r := srv.Run("", "sh", "-c", strings.Replace(cmd, "example.iso", bomb, 1)+" -sS -o /dev/null -w %{http_code}")
	if r.Stdout != "413" {
		t.Errorf("uploading the bomb: %s", r)
	}
	waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", "uploaded-bomb", "-o", "jsonpath={.status.phase}")
	if msg := readyMessage(srv, "-n", "vms", "get", "vi", "uploaded-bomb"); !strings.Contains(msg, "unpacks to more than 64Mi") {
		t.Errorf("uploaded bomb: message %q", msg)
	}

	// Nothing of the refused data stays behind.
	after := scratchUse(srv)
	t.Logf("scratch space: %d bytes before the imports, %d after", before, after)
	if after > before+8<<20 {
		t.Errorf("the scratch space grew by %d bytes after the refused imports", after-before)
	}

	// Leftovers of a gateway and an importer killed mid-spool go at start.
	staleUpload := filepath.Join(srv.DataDir, "uploads", "disk-1234.img")
	staleImport := filepath.Join(os.TempDir(), "dvp-import-e2e"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.WriteFile(staleUpload, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(staleImport, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(staleImport) })
	old := time.Now().Add(-time.Hour)
	if err := os.WriteFile(filepath.Join(staleImport, "disk-1.img"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(staleImport, "disk-1.img"), staleImport} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(false)
	for _, p := range []string{staleUpload, staleImport} {
		for i := 0; ; i++ {
			if _, err := os.Stat(p); os.IsNotExist(err) {
				break
			}
			if i == 600 {
				t.Errorf("%s still there after the restart", p)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestImportAddressPolicy names the host's own services as image sources:
// etcd on loopback, kube-apiserver on the node address, a cloud metadata
// address, and DVCR as a container registry. Importers run in the host's
// network namespace, so each is refused, with a message that says why and
// what an admin can do.
func TestImportAddressPolicy(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: "import: {allowedAddresses: []}\n"})
	srv.MustKubectl("create", "ns", "vms")
	nodeKind := "the node's own"
	if srv.NodeIP == "127.0.0.1" {
		nodeKind = "loopback"
	}
	etcd := fmt.Sprintf("127.0.0.1:%d", srv.EtcdPort)
	api := fmt.Sprintf("%s:%d", srv.NodeIP, srv.APIPort)
	dvcr := fmt.Sprintf("%s:%d", srv.NodeIP, srv.DVCRPort)
	cases := map[string]struct{ source, want string }{
		"etcd":      {fmt.Sprintf("    type: HTTP\n    http: {url: \"http://%s/version\"}\n", etcd), "refusing to fetch from " + etcd + ": loopback addresses are not allowed for image sources"},
		"apiserver": {fmt.Sprintf("    type: HTTP\n    http: {url: \"https://%s/version\"}\n", api), "refusing to fetch from " + api + ": " + nodeKind + " addresses are not allowed for image sources"},
		"metadata":  {"    type: HTTP\n    http: {url: \"http://169.254.169.254/latest/meta-data/\"}\n", "refusing to fetch from 169.254.169.254:80: link-local addresses are not allowed"},
		"dvcr":      {fmt.Sprintf("    type: ContainerImage\n    containerImage: {image: \"%s/vi/vms/etcd:latest\"}\n", dvcr), "refusing to fetch from " + dvcr + ": " + nodeKind + " addresses are not allowed"},
	}
	for name, c := range cases {
		srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: %s, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n%s", name, c.source), "apply", "-f", "-")
	}
	for name, c := range cases {
		waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", name, "-o", "jsonpath={.status.phase}")
		msg := readyMessage(srv, "-n", "vms", "get", "vi", name)
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, "import.allowedAddresses") {
			t.Errorf("%s: message %q, want %q", name, msg, c.want)
		}
	}
}
