package main

import (
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runInit is the life of PID 1. It never returns: the guest ends through
// shutdown, which calls reboot(2).
func runInit() {
	defer func() {
		if r := recover(); r != nil {
			logf("internal error: %v\n%s", r, debug.Stack())
			shutdown(syscall.LINUX_REBOOT_CMD_HALT, "init failed")
		}
	}()
	os.Setenv("PATH", defaultPath)
	os.Setenv("HOME", "/root")
	os.Setenv("TERM", "vt100")
	mountBase()
	openConsole()
	syscall.Umask(0o022)
	// Ctrl-Alt-Del becomes SIGINT to us (a clean reboot) instead of an
	// immediate reset.
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_CAD_OFF)

	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	logf("starting (kernel %s)", utsString(uts.Release[:]))

	r := startReaper()
	watchPowerSignals()
	loadModules()
	setHostname("localhost")
	go watchPowerButton(func() { shutdown(syscall.LINUX_REBOOT_CMD_POWER_OFF, "power button") })
	go startNetwork(r)

	seed := findSeed(cmdlineDuration("dvp.seedwait", seedWait))
	cfg, err := parseUserData(seed.userData)
	if err != nil {
		logf("user-data: %v (ignoring it)", err)
		cfg = &cloudConfig{}
	}
	if ignored := cfg.ignoredKeys(); len(ignored) > 0 {
		logf("cloud-config: ignoring %s", strings.Join(ignored, ", "))
	}

	host := pickHostname(cfg, seed.meta)
	setHostname(host)
	writeHostFiles(host)

	for _, c := range cfg.BootCmd {
		runCommand(r, "bootcmd", c)
	}
	db := buildUsers(cfg)
	if err := db.write(r); err != nil {
		logf("users: %v", err)
	}
	for _, f := range cfg.WriteFiles {
		if err := f.write(db); err != nil {
			logf("write_files %s: %v", f.Path, err)
		}
	}
	for _, c := range cfg.RunCmd {
		runCommand(r, "runcmd", c)
	}
	if seed.script != nil {
		runScript(r, seed.script)
	}

	// Keep late driver chatter (link up, crng ready, ...) off the console
	// from here on, so it doesn't land in the middle of the login dialog.
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("4"), 0o644)
	logf("boot complete (instance-id %s)", seed.meta.InstanceID)
	loginLoop(r)
}

// loginLoop keeps a getty on the serial console, restarting it after each
// logout or failed login.
func loginLoop(r *reaper) {
	for {
		started := time.Now()
		pid, done, err := r.start([]string{"/usr/bin/getty", "-L", "115200", consoleTTY, "vt100"}, nil, nil)
		if err != nil {
			logf("getty: %v", err)
			time.Sleep(5 * time.Second)
			continue
		}
		ws := <-done
		if time.Since(started) < 2*time.Second {
			logf("getty (pid %d) exited quickly (status %d); retrying in 5s", pid, ws.ExitStatus())
			time.Sleep(5 * time.Second)
		}
	}
}

// watchPowerSignals turns the signals busybox (and our own helper) send to
// PID 1 into a clean shutdown: SIGUSR2 powers off, SIGTERM and SIGINT
// (Ctrl-Alt-Del) reboot, SIGUSR1 halts, SIGPWR powers off.
func watchPowerSignals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)
	go func() {
		for s := range ch {
			switch s {
			case syscall.SIGUSR2, syscall.SIGPWR:
				go shutdown(syscall.LINUX_REBOOT_CMD_POWER_OFF, "poweroff requested")
			case syscall.SIGTERM, syscall.SIGINT:
				go shutdown(syscall.LINUX_REBOOT_CMD_RESTART, "reboot requested")
			case syscall.SIGUSR1:
				go shutdown(syscall.LINUX_REBOOT_CMD_HALT, "halt requested")
			}
		}
	}()
}

var shutdownStarted = make(chan struct{})

// shutdown stops every other process, syncs and ends the machine with
// reboot(2). Only the first call does anything.
func shutdown(cmd int, why string) {
	select {
	case <-shutdownStarted:
		sleepForever() // someone else is shutting down
	default:
		close(shutdownStarted)
	}
	verb := map[int]string{
		syscall.LINUX_REBOOT_CMD_POWER_OFF: "powering off",
		syscall.LINUX_REBOOT_CMD_RESTART:   "rebooting",
		syscall.LINUX_REBOOT_CMD_HALT:      "halting",
	}[cmd]
	logf("%s (%s)", verb, why)
	_ = syscall.Kill(-1, syscall.SIGTERM)
	// Give processes a moment to exit; stop waiting once none is left.
	for i := 0; i < 20 && othersAlive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-1, syscall.SIGKILL)
	syscall.Sync()
	_ = syscall.Unmount(seedMount, syscall.MNT_DETACH)
	syscall.Sync()
	if err := syscall.Reboot(cmd); err != nil {
		logf("reboot(2): %v", err)
	}
	sleepForever()
}

// sleepForever parks the calling goroutine. A sleep rather than an empty
// select, so the runtime never takes PID 1 for deadlocked.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// othersAlive reports whether any process other than PID 1 and kernel
// threads still runs.
func othersAlive() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		name := e.Name()
		if name == "1" || name[0] < '0' || name[0] > '9' {
			continue
		}
		// Kernel threads have an empty cmdline.
		if b, err := os.ReadFile("/proc/" + name + "/cmdline"); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}

// cmdlineDuration reads NAME=SECONDS from the kernel command line.
func cmdlineDuration(name string, def time.Duration) time.Duration {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return def
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return def
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
