package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/guest"
	"github.com/virtlab/dvp/test/harness"
)

// seedKey is the start of the ssh key in the user documentation's
// cloud-config.
const seedKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDTXjTmx3hq2EPDQHWSJN7By1VNFZ8colI5tEeZDBVYAe9Oxq4FZsKCb1aGIskDaiAHTxrbd2efoJTcPQLBSBM79dcELtqfKj9dtjy4S1W0mydvWb2oWLnvOaZX"

// TestRealGuestCloudInit runs the quick start with a real distribution:
// Debian 12 with the distribution's cloud-init, systemd and openssh. The
// machine manifest is the user documentation's, unchanged; real cloud-init
// must accept the platform's NoCloud seed and create the user cloud with
// the seed's password and ssh key.
func TestRealGuestCloudInit(t *testing.T) {
	img := guest.Debian(t)
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	base := serveFiles(t, srv, filepath.Dir(img))
	srv.MustKubectl("create", "ns", "vms")
	vi := strings.Replace(readFile(t, "testdata/seed/01-vi-ubuntu.yaml"), seedImageURL, base+"/"+filepath.Base(img), 1)
	srv.MustKubectlStdin(vi, "apply", "-f", "-")
	srv.MustKubectl("apply", "-f", "testdata/seed/02-vd-linux-disk.yaml")
	srv.MustKubectl("apply", "-f", "testdata/seed/03-vm-linux-vm.yaml")
	waitLong(t, srv, "Running", vmPhase("linux-vm")...)

	c := console(t, srv, srv.Kubeconfig, "-n", "vms", "linux-vm")
	c.Expect(t, "Successfully connected to linux-vm console", time.Minute)
	login(t, c, "linux-vm")
	out, code := c.Run(t, "cloud-init status --wait >/dev/null; cloud-init status; id cloud; cat ~/.ssh/authorized_keys; sudo -n true && echo SUDO-OK", 6*time.Minute)
	if code != 0 {
		t.Fatalf("in the guest (exit %d):\n%s", code, out)
	}
	for _, want := range []string{"status: done", "uid=", "(cloud)", seedKey, "SUDO-OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("the guest's output lacks %q:\n%s", want, out)
		}
	}

	// ssh from the host to the address in the IP column, with a key of the
	// test's own added next to the seed's (whose private half nobody has).
	ip := srv.MustKubectl("-n", "vms", "get", "vm", "linux-vm", "-o", "jsonpath={.status.ipAddress}")
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if out, code := c.Run(t, "echo '"+strings.TrimSpace(string(pub))+"' >> ~/.ssh/authorized_keys && ip -4 -o addr show", time.Minute); code != 0 || !strings.Contains(out, "inet "+ip+"/") {
		t.Errorf("the guest's addresses do not include its status's %s (exit %d):\n%s", ip, code, out)
	}
	_ = c.Send("\x1d")
	_ = c.wait(t, 30*time.Second)
	var sshOut []byte
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		sshOut, err = srv.Command("ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "cloud@"+ip, "hostname; id -un").CombinedOutput()
		if err == nil {
			break
		}
	}
	if err != nil || !strings.Contains(string(sshOut), "linux-vm") || !strings.Contains(string(sshOut), "cloud") {
		t.Errorf("ssh cloud@%s: %v\n%s", ip, err, sshOut)
	}
}
