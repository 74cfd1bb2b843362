package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"k8s.io/klog/v2"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/virtlab/dvp/internal/pki"
)

// RunControllerManager is the body of `dvp kube-controller-manager`: the
// upstream command, unchanged, in a process of its own.
func RunControllerManager(args []string) error {
	cmd := kcmapp.NewControllerManagerCommand()
	cmd.SetArgs(args)
	return cmd.Execute()
}

// RunScheduler is the body of `dvp kube-scheduler`.
func RunScheduler(args []string) error {
	cmd := schedapp.NewSchedulerCommand()
	cmd.SetArgs(args)
	return cmd.Execute()
}

func (s *Server) controllerManagerArgs() []string {
	p := func(name string) string { return filepath.Join(s.pkiDir(), name) }
	kc := s.componentKubeconfig("kube-controller-manager")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		// Single instance: a leader lease only delays recovery after kill -9.
		"--leader-elect=false",
		// The server may be down for a while (a laptop asleep, an upgrade);
		// that must never make the cluster evict running VMs when it is back.
		"--controllers=*,-taint-eviction-controller,-device-taint-eviction-controller",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p(pki.ServiceAccountKey),
		"--root-ca-file=" + p(pki.CACert),
		"--cluster-signing-cert-file=" + p(pki.CACert),
		"--cluster-signing-key-file=" + p(pki.CAKey),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--secure-port=0",
		"--profiling=false",
	}
}

func (s *Server) schedulerArgs() []string {
	kc := s.componentKubeconfig("kube-scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false",
	}
}

// child is one supervised process of the dvp binary. It is restarted with
// back-off when it exits on its own and stopped (SIGTERM, then SIGKILL) when
// the server stops. Pdeathsig makes the kernel kill it if the server dies
// without a chance to clean up (kill -9), so no orphan outlives its parent.
type child struct {
	name    string
	args    []string
	logPath string
}

func (c *child) supervise(ctx context.Context, exe string) {
	// Pdeathsig fires when the thread that forked the child exits, not the
	// process; pin this goroutine to its thread so that only happens with us.
	runtime.LockOSThread()
	log := klog.FromContext(ctx).WithValues("component", c.name)
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := c.runOnce(ctx, exe)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		log.Error(err, "Component exited; restarting", "after", backoff, "log", c.logPath)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (c *child) runOnce(ctx context.Context, exe string) error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, append([]string{c.name}, c.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("%s exited: %v", c.name, err)
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return nil
	}
}
