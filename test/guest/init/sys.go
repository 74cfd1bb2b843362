package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// mountBase mounts the kernel and scratch file systems. Errors are logged
// and boot goes on: a missing /dev/pts costs little, a panic costs the VM.
func mountBase() {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
		mode             os.FileMode
	}{
		{"proc", "/proc", "proc", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", 0o555},
		{"sysfs", "/sys", "sysfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, "", 0o555},
		{"devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755", 0o755},
		{"devpts", "/dev/pts", "devpts", syscall.MS_NOSUID | syscall.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666", 0o755},
		{"tmpfs", "/dev/shm", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777", 0o1777},
		{"tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777", 0o1777},
		{"tmpfs", "/run", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=0755", 0o755},
	}
	for _, m := range mounts {
		_ = os.MkdirAll(m.dst, m.mode)
		err := syscall.Mount(m.src, m.dst, m.fstype, m.flags, m.data)
		if err != nil && err != syscall.EBUSY {
			// The console may not be open yet; stderr is all there is.
			fmt.Fprintf(os.Stderr, "dvp-tiny: mount %s: %v\n", m.dst, err)
		}
	}
	_ = os.Symlink("pts/ptmx", "/dev/ptmx")
	_ = os.MkdirAll(runDir, 0o755)
}

// openConsole makes /dev/console our stdin, stdout and stderr. The kernel
// opens it for us only if the initramfs had the node, so don't count on it.
func openConsole() {
	fd, err := syscall.Open("/dev/console", syscall.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		if fd != i {
			_ = syscall.Dup3(fd, i, 0)
		}
	}
	if fd > 2 {
		syscall.Close(fd)
	}
}

// sysFinitModule is finit_module(2) on amd64; the syscall package lacks the
// constant.
const sysFinitModule = 313

// loadModules loads, in the listed order (dependencies first, as resolved
// by the build from modules.dep), every module in the build's list.
func loadModules() {
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	base := filepath.Join("/lib/modules", utsString(uts.Release[:]))
	f, err := os.Open(modulesList)
	if err != nil {
		logf("modules: %v", err)
		return
	}
	defer f.Close()
	var loaded, failed int
	s := bufio.NewScanner(f)
	for s.Scan() {
		rel := strings.TrimSpace(s.Text())
		if rel == "" || strings.HasPrefix(rel, "#") {
			continue
		}
		if err := loadModule(filepath.Join(base, rel)); err != nil {
			logf("module %s: %v", rel, err)
			failed++
			continue
		}
		loaded++
	}
	logf("loaded %d modules (%d failed)", loaded, failed)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	params, _ := syscall.BytePtrFromString("")
	_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(params)), 0)
	if errno != 0 && errno != syscall.EEXIST {
		return errno
	}
	return nil
}

func setHostname(name string) {
	if err := syscall.Sethostname([]byte(name)); err != nil {
		logf("sethostname %q: %v", name, err)
	}
}

func writeHostFiles(host string) {
	_ = os.WriteFile("/etc/hostname", []byte(host+"\n"), 0o644)
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + host + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	_ = os.WriteFile("/etc/hosts", []byte(hosts), 0o644)
}

// reaper is the only caller of wait4: PID 1 inherits every orphan, so it
// reaps everything and hands the status of the processes it started to
// whoever waits for them. (os/exec's Wait would race with it.)
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
}

func startReaper() *reaper {
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	go func() {
		tick := time.NewTicker(5 * time.Second)
		for {
			r.reapAll()
			select {
			case <-sig:
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		ch := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// start runs argv (argv[0] looked up in PATH) with the given environment
// (nil: ours) and standard files (nil: /dev/null in, console out).
func (r *reaper) start(argv []string, env []string, files []uintptr) (int, <-chan syscall.WaitStatus, error) {
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := lookPath(path)
		if err != nil {
			return 0, nil, err
		}
		path = p
	}
	if env == nil {
		env = os.Environ()
	}
	if files == nil {
		null, err := os.Open("/dev/null")
		if err != nil {
			return 0, nil, err
		}
		defer null.Close()
		files = []uintptr{null.Fd(), 1, 2}
	}
	// Hold the lock across fork so the reaper can't see the exit before
	// the waiter is registered.
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Dir: "/", Env: env, Files: files})
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// run starts argv and waits for it.
func (r *reaper) run(argv []string, env []string, files []uintptr) (syscall.WaitStatus, error) {
	_, done, err := r.start(argv, env, files)
	if err != nil {
		return 0, err
	}
	return <-done, nil
}

// output runs argv and returns its standard output.
func (r *reaper) output(argv []string, stdin string) (string, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return "", err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return "", err
	}
	_, done, err := r.start(argv, nil, []uintptr{inR.Fd(), outW.Fd(), 2})
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return "", err
	}
	go func() {
		_, _ = inW.WriteString(stdin)
		inW.Close()
	}()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := outR.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	outR.Close()
	if ws := <-done; ws.ExitStatus() != 0 {
		return b.String(), fmt.Errorf("%s exited with status %d", argv[0], ws.ExitStatus())
	}
	return b.String(), nil
}

func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(defaultPath) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, os.ErrNotExist)
}

// rootEnv is the environment of commands run for the cloud-config.
func rootEnv() []string {
	return []string{"PATH=" + defaultPath, "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", "TERM=vt100"}
}

// runCommand runs one bootcmd/runcmd entry as root with output on the
// console: a string goes through /bin/sh -c, a list is run as is.
func runCommand(r *reaper, stage string, c command) {
	argv := c.argv()
	if len(argv) == 0 {
		return
	}
	ws, err := r.run(argv, rootEnv(), []uintptr{devNull(), 1, 2})
	switch {
	case err != nil:
		logf("%s %q: %v", stage, c.String(), err)
	case ws.ExitStatus() != 0:
		logf("%s %q: exit status %d", stage, c.String(), ws.ExitStatus())
	}
}

// runScript runs user-data that is a script (starts with #!).
func runScript(r *reaper, script []byte) {
	path := filepath.Join(runDir, "user-data.script")
	if err := os.WriteFile(path, script, 0o700); err != nil {
		logf("user-data script: %v", err)
		return
	}
	ws, err := r.run([]string{path}, rootEnv(), []uintptr{devNull(), 1, 2})
	if err != nil || ws.ExitStatus() != 0 {
		logf("user-data script: status %d %v", ws.ExitStatus(), errOrNil(err))
	}
}

func errOrNil(err error) any {
	if err == nil {
		return ""
	}
	return err
}

var (
	nullOnce sync.Once
	nullFile *os.File
)

// devNull is a descriptor of /dev/null kept open for the life of init.
func devNull() uintptr {
	nullOnce.Do(func() {
		f, err := os.Open("/dev/null")
		if err != nil {
			f = os.Stdin
		}
		nullFile = f
	})
	return nullFile.Fd()
}
