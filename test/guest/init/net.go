package main

import (
	"os"
	"time"
)

// startNetwork brings up lo, waits for eth0 and starts busybox udhcpc on it
// in the background. It never holds up boot: it runs in its own goroutine
// and udhcpc keeps retrying on its own (-b) until a lease comes.
func startNetwork(r *reaper) {
	if _, err := r.run([]string{"ip", "link", "set", "lo", "up"}, nil, nil); err != nil {
		logf("network: lo: %v", err)
	}
	deadline := time.Now().Add(nicWait)
	for {
		if _, err := os.Stat("/sys/class/net/eth0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			logf("network: no eth0 after %s; no DHCP", nicWait)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := r.run([]string{"ip", "link", "set", "eth0", "up"}, nil, nil); err != nil {
		logf("network: eth0 up: %v", err)
	}
	// udhcpc talks a lot; keep it off the console.
	log, err := os.OpenFile("/run/dvp-tiny/udhcpc.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		logf("network: %v", err)
		return
	}
	defer log.Close()
	_, done, err := r.start([]string{"udhcpc", "-i", "eth0", "-b", "-t", "5", "-T", "3", "-A", "5", "-s", udhcpcHook},
		nil, []uintptr{devNull(), log.Fd(), log.Fd()})
	if err != nil {
		logf("network: udhcpc: %v", err)
		return
	}
	<-done // the first process; with -b it forks into the background
}
