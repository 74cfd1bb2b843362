package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/test/harness"
)

// testEtcdNeedsItsClientCertificate attacks etcd from the host the way any
// local process (or a guest through a NAT to loopback) would: plain HTTP,
// TLS without a certificate, and TLS with a certificate of the cluster's
// main CA (the kind every `dvp kubeconfig` user holds, here even one in
// system:masters). Each must be refused. The apiserver's own etcd client
// certificate is the control: it must work, or the refusals prove nothing.
func testEtcdNeedsItsClientCertificate(t *testing.T, srv *harness.Server) {
	pkiDir := filepath.Join(srv.DataDir, "pki")
	p := func(name string) string { return filepath.Join(pkiDir, name) }
	url := fmt.Sprintf("127.0.0.1:%d/version", srv.EtcdPort)
	curl := func(args ...string) harness.Result {
		return srv.Run("", "curl", append([]string{"-sS", "--max-time", "10"}, args...)...)
	}

	if r := curl("--cacert", p(pki.EtcdCACert), "--cert", p(pki.EtcdAPIClient+".crt"), "--key", p(pki.EtcdAPIClient+".key"), "https://"+url); r.Err != nil || !strings.Contains(r.Stdout, "etcdserver") {
		t.Fatalf("etcd with the apiserver's client certificate (the control): %s", r)
	}
	attacks := []struct {
		name string
		args []string
	}{
		{"plain HTTP", []string{"http://" + url}},
		{"TLS without a client certificate", []string{"-k", "https://" + url}},
		{"TLS with a main-CA system:masters certificate", []string{"-k", "--cert", p(pki.APIServerKubelet + ".crt"), "--key", p(pki.APIServerKubelet + ".key"), "https://" + url}},
		{"the peer port without a certificate", []string{"-k", fmt.Sprintf("https://127.0.0.1:%d/version", srv.EtcdPort+1)}},
		{"the peer port over plain HTTP", []string{fmt.Sprintf("http://127.0.0.1:%d/version", srv.EtcdPort+1)}},
	}
	for _, a := range attacks {
		if r := curl(a.args...); strings.Contains(r.Stdout, "etcdserver") || strings.Contains(r.Stdout, "etcdcluster") {
			t.Errorf("%s: etcd answered: %s", a.name, r)
		}
	}
}

// reached matches nc's output when something answered: an HTTP reply
// (even a 400 from a TLS port spoken to in plain HTTP means the port was
// reached) or a clean exit after connecting (etcd's TLS port closes on a
// plain request without a word).
var reached = regexp.MustCompile(`server returned|[{}]|HTTP/|rc=0`)

// testGuestCannotReachHost runs inside a logged-in tiny guest whose network
// is up: the host's loopback services (etcd, the apiserver, DVCR, the
// upload gateway) must be unreachable through the user-mode gateway, and
// the node's own addresses too. busybox nc, not wget: the tiny guest's
// static wget crashes on name lookups.
func testGuestCannotReachHost(t *testing.T, srv *harness.Server, c *consoleProc) {
	t.Helper()
	if out, _ := c.Run(t, "ip -4 addr show eth0", time.Minute); !strings.Contains(out, "inet ") {
		t.Fatalf("the guest has no address, so the attack proves nothing: %q", out)
	}
	targets := []string{
		fmt.Sprintf("10.0.2.2:%d", srv.EtcdPort),
		fmt.Sprintf("10.0.2.2:%d", srv.EtcdPort+1),
		fmt.Sprintf("10.0.2.2:%d", srv.APIPort),
		fmt.Sprintf("10.0.2.2:%d", srv.DVCRPort),
		fmt.Sprintf("%s:%d", srv.NodeIP, srv.EtcdPort),
		fmt.Sprintf("%s:%d", srv.NodeIP, srv.APIPort),
		fmt.Sprintf("%s:%d", srv.NodeIP, srv.DVCRPort),
		fmt.Sprintf("%s:%d", srv.NodeIP, srv.DVCRPort+1),
		fmt.Sprintf("%s:%d", srv.NodeIP, 9443),  // webhooks and the console API
		fmt.Sprintf("%s:%d", srv.NodeIP, 10250), // the node API
		// On the VM network the host is also the gateway.
		fmt.Sprintf("10.66.10.1:%d", srv.APIPort),
		fmt.Sprintf("10.66.10.1:%d", srv.EtcdPort),
		fmt.Sprintf("10.66.10.1:%d", srv.DVCRPort),
		fmt.Sprintf("10.66.10.1:%d", srv.DVCRPort+1),
		"10.66.10.1:9443",
		"10.66.10.1:10250",
	}
	for _, target := range targets {
		host, port, _ := strings.Cut(target, ":")
		out, _ := c.Run(t, "printf 'GET /version HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc "+host+" "+port+" 2>&1; echo rc=$?", time.Minute)
		if !strings.Contains(out, "rc=") {
			t.Fatalf("nc to %s did not finish in the guest: %q", target, out)
		}
		t.Logf("guest -> %s: %q", target, out)
		if reached.MatchString(out) {
			t.Errorf("the guest reached %s: %q", target, out)
		}
	}
}
