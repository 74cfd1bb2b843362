package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// runTool is the binary run as a command inside the guest (set-uid root,
// installed as /usr/bin/dvp-tiny; poweroff, reboot, halt and sudo link to
// it). It returns the exit status.
func runTool(name string, args []string) int {
	switch name {
	case "poweroff":
		return power(syscall.SIGUSR2, syscall.LINUX_REBOOT_CMD_POWER_OFF, args)
	case "reboot":
		return power(syscall.SIGTERM, syscall.LINUX_REBOOT_CMD_RESTART, args)
	case "halt":
		return power(syscall.SIGUSR1, syscall.LINUX_REBOOT_CMD_HALT, args)
	case "sudo":
		return sudo(args)
	}
	fmt.Fprintln(os.Stderr, "dvp-tiny: the tiny test guest's init; as a command it runs as poweroff, reboot, halt or sudo")
	return 2
}

// power asks PID 1 for a clean shutdown, as busybox's applets do. Any
// logged-in user may (as on a desktop session). -f (root only) skips init.
func power(sig syscall.Signal, cmd int, args []string) int {
	force := false
	for _, a := range args {
		if a == "-f" || a == "--force" {
			force = true
		}
	}
	if force && syscall.Getuid() == 0 {
		syscall.Sync()
		if err := syscall.Reboot(cmd); err != nil {
			fmt.Fprintf(os.Stderr, "reboot(2): %v\n", err)
			return 1
		}
		return 0
	}
	if err := syscall.Kill(1, sig); err != nil {
		fmt.Fprintf(os.Stderr, "signalling init: %v\n", err)
		return 1
	}
	return 0
}

// sudo runs a command as root (or -u USER) for root and for the users the
// cloud-config gave a sudo rule (listed in /etc/dvp-tiny/sudoers). There is
// no password prompt: the rules tests use are NOPASSWD ones. -i/-s start a
// shell; -n, -E, -H and -k are accepted and ignored.
func sudo(args []string) int {
	uid := syscall.Getuid()
	me, ok := lookupUser(strconv.Itoa(uid))
	if !ok {
		fmt.Fprintf(os.Stderr, "sudo: you (uid %d) are not in /etc/passwd\n", uid)
		return 1
	}
	if uid != 0 && !sudoAllowed(me.name) {
		fmt.Fprintf(os.Stderr, "sudo: %s may not run sudo on this guest\n", me.name)
		return 1
	}
	target := "root"
	shell, login := false, false
loop:
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			args = args[1:]
			break loop
		case a == "-u" && len(args) > 1:
			target = args[1]
			args = args[2:]
			continue
		case strings.HasPrefix(a, "-u") && len(a) > 2:
			target = a[2:]
		case a == "-i":
			login = true
		case a == "-s":
			shell = true
		case a == "-n" || a == "-E" || a == "-H" || a == "-k" || a == "-S":
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(os.Stderr, "sudo: option %s not supported here\n", a)
			return 1
		default:
			break loop
		}
		args = args[1:]
	}
	to, ok := lookupUser(target)
	if !ok {
		fmt.Fprintf(os.Stderr, "sudo: unknown user %s\n", target)
		return 1
	}
	var argv []string
	switch {
	case len(args) == 0 && (shell || login):
		argv = []string{to.shell}
		if login {
			argv = []string{to.shell, "-l"}
		}
	case len(args) == 0:
		fmt.Fprintln(os.Stderr, "usage: sudo [-u USER] [-i|-s] COMMAND [ARG]...")
		return 1
	case shell || login:
		argv = []string{to.shell, "-c", strings.Join(args, " ")}
	default:
		argv = args
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := lookPath(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sudo: %s: command not found\n", path)
			return 1
		}
		path = p
	}
	if err := syscall.Setgroups([]int{to.gid}); err != nil {
		fmt.Fprintf(os.Stderr, "sudo: %v\n", err)
		return 1
	}
	if err := syscall.Setgid(to.gid); err != nil {
		fmt.Fprintf(os.Stderr, "sudo: %v\n", err)
		return 1
	}
	if err := syscall.Setuid(to.uid); err != nil {
		fmt.Fprintf(os.Stderr, "sudo: %v\n", err)
		return 1
	}
	env := []string{"PATH=" + defaultPath, "HOME=" + to.home, "USER=" + to.name, "LOGNAME=" + to.name,
		"SHELL=" + to.shell, "SUDO_USER=" + me.name, "SUDO_UID=" + strconv.Itoa(uid)}
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	}
	if login {
		_ = os.Chdir(to.home)
	}
	err := syscall.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "sudo: %s: %v\n", path, err)
	return 1
}

type passwdEntry struct {
	name, home, shell string
	uid, gid          int
}

// lookupUser finds a user in /etc/passwd by name or uid.
func lookupUser(key string) (passwdEntry, bool) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return passwdEntry{}, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) < 7 {
			continue
		}
		if fields[0] != key && fields[2] != key {
			continue
		}
		uid, err1 := strconv.Atoi(fields[2])
		gid, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			continue
		}
		shell := fields[6]
		if _, err := os.Stat(shell); err != nil {
			shell = fallbackShell
		}
		return passwdEntry{name: fields[0], uid: uid, gid: gid, home: fields[5], shell: shell}, true
	}
	return passwdEntry{}, false
}

func sudoAllowed(name string) bool {
	b, err := os.ReadFile(sudoersFile)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}
