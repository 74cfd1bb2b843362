// Command dvp-tiny is PID 1 of the tiny test guest (see docs/design/guests.md).
//
// It runs straight from the initramfs, which stays the root file system:
// it mounts the kernel file systems, loads the driver modules the build put
// into the initramfs, reads a NoCloud seed (an ISO 9660 volume labelled
// cidata), applies the small part of #cloud-config the tests use, starts
// DHCP on eth0 in the background and then keeps a login prompt on ttyS0.
//
// The same binary is installed set-uid root as /usr/bin/dvp-tiny with
// poweroff, reboot, halt and sudo linked to it; run under those names (and
// not as PID 1) it is a small helper that asks PID 1 to power off, or runs a
// command as root for users the cloud-config gave a sudo rule.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Paths inside the guest. The build script (hack/guest/build-tiny.sh)
// writes the module list; everything under runDir is made at boot.
const (
	modulesList = "/etc/dvp-tiny/modules"
	sudoersFile = "/etc/dvp-tiny/sudoers"
	runDir      = "/run/dvp-tiny"
	seedMount   = "/run/dvp-tiny/seed"
	udhcpcHook  = "/usr/share/udhcpc/default.script"
	defaultPath = "/usr/bin:/bin:/usr/sbin:/sbin"
	consoleTTY  = "ttyS0"

	// How long to look for the seed while the disk drivers probe;
	// dvp.seedwait=SECONDS on the kernel command line overrides it.
	seedWait = 30 * time.Second
	// How long to wait for eth0 to appear before giving up on DHCP.
	nicWait = 30 * time.Second
)

func main() {
	if os.Getpid() != 1 {
		os.Exit(runTool(filepath.Base(os.Args[0]), os.Args[1:]))
	}
	runInit()
}

// logf prints one line on the console, prefixed so test logs can tell the
// init's lines from the kernel's.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "dvp-tiny: "+format+"\n", args...)
}
