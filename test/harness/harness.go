package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/internal/supervisor"
)

// BinDir returns the directory with the built binaries, skipping the test
// with instructions when they are missing.
func BinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DVP_BIN_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "bin")
	}
	if _, err := os.Stat(filepath.Join(dir, "dvp")); err != nil {
		t.Skipf("%s/dvp not found: run `make build` first (or set DVP_BIN_DIR)", dir)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// Options for a server.
type Options struct {
	// Config is the YAML settings file content ("" for defaults). Unless
	// it sets import.allowedAddresses, the node address is allowed as an
	// image source: tests serve their images there (Listen).
	Config string
	// DataDir reuses a data directory (for restart tests); empty means a
	// fresh temporary one.
	DataDir string
	// ExternalControllers runs the controllers as a separate process
	// (`dvp controller`) that reaches the cluster only through the API.
	ExternalControllers bool
	// Args are more `dvp server` flags.
	Args []string
}

// Server is one running `dvp server`.
type Server struct {
	t       testing.TB
	bin     string
	DataDir string
	NetNS   string // empty when not isolated
	NodeIP  string
	// APIPort, EtcdPort and DVCRPort are where kube-apiserver, etcd and
	// DVCR listen.
	APIPort, EtcdPort, DVCRPort int
	Kubeconfig                  string
	LogPath                     string
	configPath                  string
	extraArgs                   []string
	cmd                         *exec.Cmd
	exited                      chan struct{}
	external                    bool
	controller                  *exec.Cmd
	ctrlLog                     string
}

// Start starts a server and waits until its admin kubeconfig appears.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: BinDir(t)}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not found on PATH: run `make kubectl` or install it")
	}
	work := t.TempDir()
	s.DataDir = o.DataDir
	if s.DataDir == "" {
		s.DataDir = filepath.Join(work, "data")
	}
	s.LogPath = filepath.Join(work, "server.log")
	s.configPath = filepath.Join(work, "config.yaml")
	s.APIPort, s.EtcdPort, s.DVCRPort = 6443, 2379, 5443
	if canIsolate() {
		s.NetNS, s.NodeIP = createNetNS(t)
	} else {
		t.Logf("not root or no `ip`: running the server without a network namespace")
		s.NodeIP = "127.0.0.1"
		api, etcd, hook, dvcr := freePort(t), freePortPair(t), freePort(t), freePortPair(t)
		s.APIPort, s.EtcdPort, s.DVCRPort = api, etcd, dvcr
		s.extraArgs = []string{"--node-address=127.0.0.1", fmt.Sprintf("--api-port=%d", api),
			fmt.Sprintf("--etcd-port=%d", etcd), fmt.Sprintf("--webhook-port=%d", hook), fmt.Sprintf("--dvcr-port=%d", dvcr)}
	}
	config, err := allowNodeAsImageSource(o.Config, s.NodeIP)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Kubeconfig = filepath.Join(s.DataDir, "kubeconfig")
	s.external = o.ExternalControllers
	if s.external {
		s.extraArgs = append(s.extraArgs, "--external-controllers")
		s.ctrlLog = filepath.Join(work, "controller.log")
	}
	s.extraArgs = append(s.extraArgs, o.Args...)
	s.start()
	t.Cleanup(func() {
		s.stopController()
		s.Stop()
		s.KillPods()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	return s
}

// allowNodeAsImageSource adds the node address to import.allowedAddresses
// unless config sets that key (even to an empty list): image sources may not
// reach the node's own addresses, and tests serve images there.
func allowNodeAsImageSource(config, nodeIP string) (string, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(config), &m); err != nil {
		return "", fmt.Errorf("test config: %w", err)
	}
	imp, _ := m["import"].(map[string]any)
	if _, set := imp["allowedAddresses"]; set {
		return config, nil
	}
	if imp == nil {
		imp = map[string]any{}
	}
	imp["allowedAddresses"] = []string{nodeIP}
	m["import"] = imp
	b, err := yaml.Marshal(m)
	return string(b), err
}

func (s *Server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	// The server deletes a stale kubeconfig itself, but only once it runs;
	// deleting it here first means WaitReady cannot see the previous run's.
	if err := os.Remove(s.Kubeconfig); err != nil && !os.IsNotExist(err) {
		s.t.Fatal(err)
	}
	args := append([]string{"server", "--data-dir", s.DataDir, "--config", s.configPath}, s.extraArgs...)
	s.cmd = s.Command(filepath.Join(s.bin, "dvp"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting dvp server: %v", err)
	}
	logf.Close()
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.exited)
	if err := s.WaitReady(5 * time.Minute); err != nil {
		s.dumpLogs()
		s.t.Fatal(err)
	}
	if s.external && s.controller == nil {
		s.startController()
	}
}

// startController runs `dvp controller` with the identity and certificates
// the server issued, and waits until it serves the console API (which
// means its webhooks serve too: they share the listener).
func (s *Server) startController() {
	s.t.Helper()
	logf, err := os.OpenFile(s.ctrlLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.controller = s.Command(filepath.Join(s.bin, "dvp"), "controller",
		"--kubeconfig", filepath.Join(s.DataDir, "controller.kubeconfig"), "--pki-dir", filepath.Join(s.DataDir, "pki"),
		"--config", s.configPath, "--node-address", s.NodeIP)
	s.controller.Stdout, s.controller.Stderr = logf, logf
	s.controller.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.controller.Start(); err != nil {
		s.t.Fatalf("starting dvp controller: %v", err)
	}
	logf.Close()
	go func(c *exec.Cmd) { _ = c.Wait() }(s.controller)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if r := s.Kubectl("get", "--raw", "/apis/subresources.virtualization.deckhouse.io/v1alpha2"); r.Err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.dumpLogs()
			s.t.Fatal("dvp controller did not start serving")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *Server) stopController() {
	if s.controller != nil && s.controller.Process != nil {
		_ = syscall.Kill(-s.controller.Process.Pid, syscall.SIGTERM)
		time.Sleep(500 * time.Millisecond)
		_ = syscall.Kill(-s.controller.Process.Pid, syscall.SIGKILL)
	}
}

// WaitReady waits for the admin kubeconfig of the current run.
func (s *Server) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(s.Kubeconfig); err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dvp server exited before it was ready (%v)", s.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("dvp server not ready after %v", timeout)
}

// Stop sends SIGTERM and waits for a clean exit (SIGKILL after 60s).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.t.Errorf("dvp server did not stop within 60s of SIGTERM; killing it")
		s.Kill()
	}
	s.killGroup()
}

// Kill is kill -9 of the server's process group.
func (s *Server) Kill() {
	s.killGroup()
	<-s.exited
}

func (s *Server) killGroup() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// KillPods ends every pod process the server's nodes started. Pod processes
// outlive the server on purpose (a node runtime adopts them when it restarts),
// so tests must end them themselves.
func (s *Server) KillPods() {
	dirs, _ := filepath.Glob(filepath.Join(s.DataDir, "nodes", "*", "pods", "*", "containers", "*"))
	for _, d := range dirs {
		supervisor.Kill(d)
	}
}

// Restart stops the server (cleanly unless kill is set) and starts it again
// on the same data directory and network namespace.
func (s *Server) Restart(kill bool) {
	s.t.Helper()
	if kill {
		s.Kill()
	} else {
		s.Stop()
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("dvp server exited with code %d after SIGTERM", code)
		}
	}
	s.start()
}

// Command builds a command that runs inside the server's network namespace.
func (s *Server) Command(name string, args ...string) *exec.Cmd {
	if s.NetNS == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", s.NetNS, name}, args...)...)
}

// Result of a command.
type Result struct {
	Stdout, Stderr string
	Err            error
}

func (r Result) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
}

// Kubectl runs the real kubectl as the admin.
func (s *Server) Kubectl(args ...string) Result { return s.KubectlAs(s.Kubeconfig, args...) }

// KubectlStdin runs kubectl as admin with stdin.
func (s *Server) KubectlStdin(stdin string, args ...string) Result {
	return s.run(stdin, "kubectl", append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
}

// KubectlAs runs kubectl with another kubeconfig.
func (s *Server) KubectlAs(kubeconfig string, args ...string) Result {
	return s.run("", "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// MustKubectl runs kubectl as admin and fails the test on error.
func (s *Server) MustKubectl(args ...string) string {
	s.t.Helper()
	r := s.Kubectl(args...)
	if r.Err != nil {
		s.t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// MustKubectlStdin runs kubectl as admin with stdin and fails the test on error.
func (s *Server) MustKubectlStdin(stdin string, args ...string) string {
	s.t.Helper()
	r := s.KubectlStdin(stdin, args...)
	if r.Err != nil {
		s.t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// Run runs any binary in the server's namespace (e.g. bin/d8).
func (s *Server) Run(stdin, name string, args ...string) Result { return s.run(stdin, name, args...) }

func (s *Server) run(stdin, name string, args ...string) Result {
	cmd := s.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// UserKubeconfig mints a kubeconfig for a non-admin identity.
func (s *Server) UserKubeconfig(user string, groups ...string) string {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), user+".kubeconfig")
	args := []string{"kubeconfig", "--data-dir", s.DataDir, "--user", user, "-o", path}
	for _, g := range groups {
		args = append(args, "--group", g)
	}
	if out, err := exec.Command(filepath.Join(s.bin, "dvp"), args...).CombinedOutput(); err != nil {
		s.t.Fatalf("dvp kubeconfig: %v\n%s", err, out)
	}
	return path
}

// Bin returns the path of a built binary.
func (s *Server) Bin(name string) string { return filepath.Join(s.bin, name) }

func (s *Server) dumpLogs() {
	b, _ := os.ReadFile(s.LogPath)
	const max = 8000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	s.t.Logf("--- tail of %s ---\n%s", s.LogPath, b)
	if s.ctrlLog != "" {
		b, _ := os.ReadFile(s.ctrlLog)
		if len(b) > max {
			b = b[len(b)-max:]
		}
		s.t.Logf("--- tail of %s ---\n%s", s.ctrlLog, b)
	}
}

func canIsolate() bool {
	if os.Getuid() != 0 {
		return false
	}
	_, err := exec.LookPath("ip")
	return err == nil
}

// createNetNS makes a namespace with loopback up and an interface that
// carries the node address; nothing in it can reach the host's networks.
func createNetNS(t testing.TB) (name, ip string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "dvpt-" + hex.EncodeToString(b)
	ip = "10.77.0.2"
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		// A veth pair with both ends inside: the dummy driver is not
		// available on every kernel, veth is.
		{"-n", name, "link", "add", "dvp0", "type", "veth", "peer", "name", "dvp0p"},
		{"-n", name, "addr", "add", ip + "/24", "dev", "dvp0"},
		{"-n", name, "link", "set", "dvp0", "up"},
		{"-n", name, "link", "set", "dvp0p", "up"},
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	for _, st := range steps {
		if out, err := exec.Command("ip", st...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(st, " "), err, out)
		}
	}
	return name, ip
}

// NewNetNS creates an empty namespace (loopback only) for tests of start-up
// failures; it is deleted at cleanup.
func NewNetNS(t testing.TB) string {
	t.Helper()
	if !canIsolate() {
		t.Skip("needs root and iproute2 for a network namespace")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "dvpt-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	_ = exec.Command("ip", "-n", name, "link", "set", "lo", "up").Run()
	return name
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortPair finds p such that p and p+1 are free (etcd client and peer).
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		p := freePort(t)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal(errors.New("no free port pair"))
	return 0
}
