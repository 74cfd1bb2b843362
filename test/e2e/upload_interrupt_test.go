package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/test/harness"
)

// waitMatch polls kubectl until its output matches re and returns the
// submatches; the limit only bounds a hung test.
func waitMatch(t *testing.T, srv *harness.Server, re string, args ...string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var got string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := srv.Kubectl(args...)
		got = r.Stdout
		if m := rx.FindStringSubmatch(got); r.Err == nil && m != nil {
			return m
		}
	}
	t.Fatalf("kubectl %s = %q, want a match of %q", strings.Join(args, " "), got, re)
	return nil
}

// startPipedUpload runs the printed upload command with curl reading the
// file from a pipe (`-T -`), so the test decides when the data ends. It
// returns the pipe and the running curl.
func startPipedUpload(t *testing.T, srv *harness.Server, command string) (io.WriteCloser, *exec.Cmd) {
	t.Helper()
	args := strings.Fields(strings.Replace(command, "example.iso", "-", 1))
	if len(args) == 0 || args[0] != "curl" {
		t.Fatalf("uploadCommand %q is not a curl command", command)
	}
	cmd := srv.Command(args[0], append(args[1:], "-sS")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	return stdin, cmd
}

// TestUploadInterrupt kills curl in the middle of an upload: the image goes
// back to WaitForUserUpload saying how much arrived, nothing is left in
// DVCR, the printed command works again, and the wait for the upload starts
// over from the interruption.
func TestUploadInterrupt(t *testing.T) {
	file := uploadFixture(t)
	const wait = 30 * time.Second
	srv := harness.Start(t, harness.Options{Config: "upload: {waitTimeout: 30s}\n"})
	srv.MustKubectl("create", "ns", "vms")
	upload := func(name string) string {
		return "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata:\n  name: " + name + "\n  namespace: vms\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: Upload\n"
	}
	get := func(name, path string) string {
		return srv.MustKubectl("-n", "vms", "get", "vi", name, "-o", "jsonpath="+path)
	}
	const readyMessage = `{.status.conditions[?(@.type=="Ready")].message}`
	untilRE := regexp.MustCompile(`(?:until|before) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`)
	deadlineIn := func(msg string) time.Time {
		t.Helper()
		m := untilRE.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("no deadline in %q", msg)
		}
		d, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := newDVCRClient(t, srv)

	// interrupt starts an upload of name from a pipe, sends it some data,
	// kills curl once the gateway received bytes and returns how many
	// bytes were sent and when curl was killed.
	interrupt := func(t *testing.T, name string) (sent int64, killed time.Time) {
		t.Helper()
		stdin, cmd := startPipedUpload(t, srv, get(name, "{.status.uploadCommand}"))
		chunk := make([]byte, 256<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		// Feed the pipe until the gateway shows bytes arriving; curl blocks
		// the writes once its buffers are full.
		fed := make(chan error, 1)
		stop := make(chan struct{})
		var n int64
		go func() {
			for {
				select {
				case <-stop:
					fed <- nil
					return
				default:
				}
				w, err := stdin.Write(chunk)
				n += int64(w)
				if err != nil {
					fed <- err
					return
				}
				if n >= 8<<20 {
					fed <- nil
					return // enough: keep the pipe open, send nothing more
				}
			}
		}()
		waitMatch(t, srv, `^Provisioning/[1-9]`, "-n", "vms", "get", "vi", name, "-o", "jsonpath={.status.phase}/{.status.downloadSpeed.currentBytes}")
		killed = time.Now()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		close(stop)
		_ = cmd.Wait()
		<-fed
		return n, killed
	}

	srv.MustKubectlStdin(upload("cut-then-done"), "apply", "-f", "-")
	srv.MustKubectlStdin(upload("cut-then-left"), "apply", "-f", "-")
	waitFor(t, srv, "WaitForUserUpload", "-n", "vms", "get", "vi", "cut-then-done", "-o", "jsonpath={.status.phase}")
	waitFor(t, srv, "WaitForUserUpload", "-n", "vms", "get", "vi", "cut-then-left", "-o", "jsonpath={.status.phase}")
	command := get("cut-then-done", "{.status.uploadCommand}")
	firstDeadline := deadlineIn(get("cut-then-done", readyMessage))

	t.Run("BackToWaiting", func(t *testing.T) {
		sent, _ := interrupt(t, "cut-then-done")
		m := waitMatch(t, srv, `^WaitForUserUpload/WaitForUserUpload/The upload was interrupted after (\d+) bytes \(the client closed the connection\): upload the file again with the command in status.uploadCommand, before \S+\.$`,
			"-n", "vms", "get", "vi", "cut-then-done", "-o", `jsonpath={.status.phase}/{.status.conditions[?(@.type=="Ready")].reason}/`+readyMessage)
		got, _ := strconv.ParseInt(m[1], 10, 64)
		t.Logf("curl was fed %d bytes, the gateway got %d before curl was killed", sent, got)
		if got <= 0 || got > sent {
			t.Errorf("interrupted after %d bytes, but %d were sent", got, sent)
		}
		if again := get("cut-then-done", "{.status.uploadCommand}"); again != command {
			t.Errorf("uploadCommand changed after the interruption:\n%s\n%s", command, again)
		}
		if s := get("cut-then-done", "{.status.downloadSpeed}"); s != "" {
			t.Errorf("downloadSpeed still shown while waiting: %s", s)
		}
		if ev := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", "involvedObject.name=cut-then-done,reason=UploadInterrupted", "-o", "jsonpath={.items[*].message}"); !strings.Contains(ev, "interrupted after") {
			t.Errorf("no UploadInterrupted event: %q", ev)
		}
		// The wait starts over from the interruption.
		if later := deadlineIn(get("cut-then-done", readyMessage)); !later.After(firstDeadline) && !later.Equal(firstDeadline) {
			t.Errorf("deadline after the interruption %v, before it %v", later, firstDeadline)
		}
		// Nothing of the cut upload is in DVCR: no tag, no manifest, no
		// upload in progress.
		uid := get("cut-then-done", "{.metadata.uid}")
		repo := registry.VIRepository("vms", "cut-then-done")
		if _, err := remote.Head(d.ref(t, repo, uid), d.admin()...); statusCode(err) != http.StatusNotFound {
			t.Errorf("DVCR after the cut upload: %s:%s: %v, want 404", repo, uid, err)
		}
		uploads := filepath.Join(srv.DataDir, "dvcr", "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_uploads")
		if left, err := os.ReadDir(uploads); err == nil && len(left) > 0 {
			t.Errorf("unfinished blob uploads left in DVCR: %v", left)
		}
	})

	t.Run("UploadAgain", func(t *testing.T) {
		run := strings.Replace(command, "example.iso", file, 1) + " --fail-with-body -sS"
		if r := srv.Run("", "sh", "-c", run); r.Err != nil {
			t.Fatalf("%s: %s", run, r)
		}
		waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "cut-then-done", "-o", "jsonpath={.status.phase}")
		if f := get("cut-then-done", "{.status.format}/{.status.size.unpackedBytes}/{.status.progress}"); f != "qcow2/16777216/100%" {
			t.Errorf("format/unpacked/progress = %q", f)
		}
		// DVCR holds exactly the file.
		uid := get("cut-then-done", "{.metadata.uid}")
		repo := registry.VIRepository("vms", "cut-then-done")
		img, err := remote.Image(d.ref(t, repo, uid), d.opts(d.importerCredentials(repo))...)
		if err != nil {
			t.Fatalf("pulling %s:%s: %v", repo, uid, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(b)
		if _, sum, _, _ := diskFile(t, img); sum != hex.EncodeToString(want[:]) {
			t.Errorf("DVCR holds a disk with sha256 %s, the uploaded file has %x", sum, want)
		}
	})

	t.Run("WaitStartsOver", func(t *testing.T) {
		// Interrupt well after the image was created, so a wait still
		// counted from the creation would end visibly earlier.
		created, err := time.Parse(time.RFC3339, get("cut-then-left", "{.metadata.creationTimestamp}"))
		if err != nil {
			t.Fatal(err)
		}
		if left := time.Until(created.Add(wait / 2)); left > 0 {
			time.Sleep(left)
		}
		_, killed := interrupt(t, "cut-then-left")
		waitMatch(t, srv, `^WaitForUserUpload/The upload was interrupted`, "-n", "vms", "get", "vi", "cut-then-left", "-o", "jsonpath={.status.phase}/"+readyMessage)
		deadline := deadlineIn(get("cut-then-left", readyMessage))
		if earliest := killed.Add(wait).Truncate(time.Second); deadline.Before(earliest) {
			t.Errorf("deadline %v after an interruption at %v; want at least %v", deadline, killed, earliest)
		}
		// It keeps waiting until the new deadline, past the one counted
		// from the creation.
		for time.Now().Before(deadline.Add(-time.Second)) {
			p := get("cut-then-left", "{.status.phase}")
			if seen := time.Now(); p != "WaitForUserUpload" && seen.Before(deadline) {
				t.Fatalf("phase %s at %v, before the deadline %v (created %v)", p, seen.UTC(), deadline, created)
			}
			time.Sleep(time.Second)
		}
		waitFor(t, srv, "Failed/WaitForUserUploadTimeout", "-n", "vms", "get", "vi", "cut-then-left", "-o", `jsonpath={.status.phase}/{.status.conditions[?(@.type=="Ready")].reason}`)
	})
}
