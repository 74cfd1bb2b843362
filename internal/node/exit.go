package node

import (
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// launcherPrefix names the pods that run virtual machines.
const launcherPrefix = "virt-launcher-"

// leave runs when the node runtime stops. Pods outlive the platform by
// design (a restart adopts them), which a user pressing Ctrl+C does not
// expect: say so. With stop set, stop them instead, as a host shutdown
// would: each container gets SIGTERM (a launcher asks its guest to power
// off) and its grace period; the next start then finds them gone and the
// run policies decide, as after a reboot.
func (p *Provider) leave(stop bool, log klog.Logger) {
	p.mu.Lock()
	var running []*podEntry
	for _, e := range p.pods {
		if !e.deleted && p.anyRunning(e.dir, e.pod) {
			running = append(running, e)
		}
	}
	p.mu.Unlock()
	vms := 0
	for _, e := range running {
		if strings.HasPrefix(e.pod.Name, launcherPrefix) {
			vms++
		}
	}
	if len(running) == 0 {
		return
	}
	if !stop {
		log.Info("Leaving pods running: start dvp again to manage them, or stop them on exit with `dvp server --stop-vms-on-exit`",
			"virtualMachines", vms, "pods", len(running))
		return
	}
	log.Info("Stopping pods before exit (--stop-vms-on-exit)", "virtualMachines", vms, "pods", len(running))
	var wg sync.WaitGroup
	for _, e := range running {
		grace := 30 * time.Second
		if g := e.pod.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.stopAll(e.dir, e.pod, grace) }()
	}
	wg.Wait()
	log.Info("Stopped pods before exit", "virtualMachines", vms, "pods", len(running))
}
