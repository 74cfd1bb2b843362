package guest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Generous bounds: a TCG boot on a busy 2-core machine takes tens of
// seconds; these only keep a broken guest from hanging the suite.
const (
	bootTimeout    = 3 * time.Minute
	commandTimeout = 90 * time.Second
	exitTimeout    = 2 * time.Minute
)

// bootCase is one way of booting the guest.
type bootCase struct {
	name     string
	efi      bool
	disk     string // "virtio-blk", "virtio-scsi" or "ahci"
	cd       string // seed CD-ROM on "virtio-scsi" or "sata"
	nic      string // QEMU NIC model
	jsonMeta bool   // meta-data as JSON instead of YAML
	button   bool   // power off with the ACPI power button, not `poweroff`
}

func TestTinyGuestBoots(t *testing.T) {
	cases := []bootCase{
		// Paravirtualized devices.
		{name: "bios-virtio", disk: "virtio-blk", cd: "virtio-scsi", nic: "virtio-net-pci"},
		{name: "efi-virtio", efi: true, disk: "virtio-blk", cd: "sata", nic: "virtio-net-pci"},
		{name: "bios-scsi", disk: "virtio-scsi", cd: "virtio-scsi", nic: "virtio-net-pci", button: true},
		// Emulated hardware only.
		{name: "bios-ahci", disk: "ahci", cd: "sata", nic: "e1000", jsonMeta: true, button: true},
		{name: "efi-ahci", efi: true, disk: "ahci", cd: "sata", nic: "e1000e", jsonMeta: true, button: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := boot(t, c)
			host := "tiny-" + c.name
			m.expect(t, bootTimeout, "runcmd-marker-42")
			m.expect(t, commandTimeout, "list-marker-49")
			m.expect(t, commandTimeout, BootComplete+" (instance-id iid-"+c.name+")")
			m.expect(t, commandTimeout, host+" login:")
			t.Logf("login prompt %s after boot start", time.Since(m.started).Round(time.Second))
			m.login(t, host)

			m.run(t, `echo "HN=$(hostname)"`, "HN="+host)
			m.run(t, `echo "SH=$SHELL ID=$(id -un)"`, "SH=/bin/sh ID="+User)
			m.run(t, `cat /etc/dvp-test/hello; stat -c 'MODE=%a %U' /etc/dvp-test/hello`,
				"hello from write_files", "MODE=640 "+User)
			m.run(t, `echo "KEYS=$(wc -l < ~/.ssh/authorized_keys)"`, "KEYS=1")
			m.run(t, `echo "ROOT=$(sudo id -u)"`, "ROOT=0")
			// Orphans are PID 1's to reap.
			m.run(t, `for i in 1 2 3; do sh -c 'sleep 1 & exit'; done; sleep 3; `+
				`echo "ZOMBIES=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == "Z"' | wc -l)"`, "ZOMBIES=0")
			// DHCP runs in the background; give it time to get the lease.
			m.run(t, `i=0; while [ $i -lt 60 ] && ! ip -4 addr show eth0 | grep -q 'inet '; do sleep 1; i=$((i+1)); done; `+
				`echo "IP=$(ip -4 addr show eth0 | awk '/inet /{print $2}')"`, "IP=10.0.2.15/24")
			// Logging out brings the login prompt back.
			m.send(t, "exit\r")
			m.expect(t, commandTimeout, host+" login:")

			if c.button {
				// The ACPI power button: QEMU's system_powerdown.
				m.qmp(t, "system_powerdown")
			} else {
				m.login(t, host)
				m.send(t, "poweroff\r")
			}
			m.expect(t, commandTimeout, "dvp-tiny: powering off")
			m.waitExit(t)
		})
	}
}

// TestTinyGuestReboot checks that reboot typed in the guest restarts it
// through the firmware and that it comes back to a login prompt.
func TestTinyGuestReboot(t *testing.T) {
	c := bootCase{name: "reboot", disk: "virtio-blk", cd: "virtio-scsi", nic: "virtio-net-pci"}
	m := boot(t, c)
	m.expect(t, bootTimeout, BootComplete)
	m.expect(t, commandTimeout, "tiny-reboot login:")
	m.login(t, "tiny-reboot")
	m.send(t, "reboot\r")
	m.expect(t, commandTimeout, "dvp-tiny: rebooting")
	m.expect(t, bootTimeout, BootComplete)
	m.expect(t, commandTimeout, "tiny-reboot login:")
	m.qmp(t, "system_powerdown")
	m.expect(t, commandTimeout, "dvp-tiny: powering off")
	m.waitExit(t)
}

const userDataTemplate = `#cloud-config
users:
  - default
  - name: cloud
    gecos: Test user
    passwd: "%s"
    lock_passwd: false
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleQ test@dvp
chpasswd:
  expire: false
ssh_pwauth: true
write_files:
  - path: /etc/dvp-test/hello
    content: aGVsbG8gZnJvbSB3cml0ZV9maWxlcwo=
    encoding: b64
    permissions: '0640'
    owner: cloud:cloud
runcmd:
  - echo "runcmd-marker-$((6*7))"
  - [sh, -c, "echo list-marker-$((7*7))"]
`

// machine is one QEMU process with its serial console on a pipe.
type machine struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	qmpPath string
	started time.Time

	mu      sync.Mutex
	out     []byte
	pos     int // expect cursor into out
	notify  chan struct{}
	exited  chan struct{}
	waitErr error
}

func boot(t *testing.T, c bootCase) *machine {
	t.Helper()
	var image string
	if c.efi {
		image = TinyEFI(t)
	} else {
		image = TinyBIOS(t)
	}
	dir := t.TempDir()
	meta := fmt.Sprintf("instance-id: iid-%s\nlocal-hostname: tiny-%s\n", c.name, c.name)
	if c.jsonMeta {
		meta = fmt.Sprintf(`{"instance-id": "iid-%s", "local-hostname": "tiny-%s"}`, c.name, c.name)
	}
	seedPath := filepath.Join(dir, "seed.iso")
	if err := WriteSeedISO(seedPath, fmt.Sprintf(userDataTemplate, PasswordHash), meta, ""); err != nil {
		t.Fatal(err)
	}
	qmpPath := filepath.Join(dir, "qmp.sock")
	args := []string{
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio",
		"-qmp", "unix:" + qmpPath + ",server=on,wait=off",
		"-drive", "if=none,id=disk0,format=raw,snapshot=on,file=" + image,
		"-drive", "if=none,id=cd0,format=raw,media=cdrom,readonly=on,file=" + seedPath,
		"-netdev", "user,id=net0,restrict=on",
	}
	if c.disk == "virtio-scsi" || c.cd == "virtio-scsi" {
		args = append(args, "-device", "virtio-scsi-pci,id=scsi0")
	}
	switch c.disk {
	case "virtio-blk":
		args = append(args, "-device", "virtio-blk-pci,drive=disk0,bootindex=1")
	case "virtio-scsi":
		args = append(args, "-device", "scsi-hd,bus=scsi0.0,drive=disk0,bootindex=1")
	case "ahci":
		args = append(args, "-device", "ide-hd,bus=ide.0,drive=disk0,bootindex=1")
	default:
		t.Fatalf("unknown disk bus %q", c.disk)
	}
	switch c.cd {
	case "virtio-scsi":
		args = append(args, "-device", "scsi-cd,bus=scsi0.0,drive=cd0")
	case "sata":
		args = append(args, "-device", "ide-cd,bus=ide.1,drive=cd0")
	default:
		t.Fatalf("unknown CD-ROM bus %q", c.cd)
	}
	args = append(args, "-device", c.nic+",netdev=net0,romfile=")
	if strings.HasPrefix(c.nic, "virtio") {
		args = append(args, "-device", "pvpanic-pci")
	}
	if c.efi {
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		b, err := os.ReadFile(OVMFVars)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vars, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}

	m := &machine{qmpPath: qmpPath, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	m.cmd = exec.Command("qemu-system-x86_64", args...)
	stdin, err := m.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.stdin = stdin
	pr, pw := io.Pipe()
	m.cmd.Stdout, m.cmd.Stderr = pw, pw
	t.Logf("qemu-system-x86_64 %s", strings.Join(args, " "))
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.started = time.Now()
	go m.collect(pr)
	go func() {
		m.waitErr = m.cmd.Wait()
		pw.Close()
		close(m.exited)
	}()
	logPath := filepath.Join(dir, "console.log")
	t.Cleanup(func() {
		select {
		case <-m.exited:
		default:
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
		m.mu.Lock()
		out := append([]byte(nil), m.out...)
		m.mu.Unlock()
		_ = os.WriteFile(logPath, out, 0o644)
		if t.Failed() {
			t.Logf("console:\n%s", tailBytes(out, 12000))
		}
	})
	return m
}

func (m *machine) collect(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m.mu.Lock()
			m.out = append(m.out, buf[:n]...)
			m.mu.Unlock()
			select {
			case m.notify <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// expect waits for s to appear on the console after the previous match.
func (m *machine) expect(t *testing.T, timeout time.Duration, s string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		m.mu.Lock()
		i := bytes.Index(m.out[m.pos:], []byte(s))
		if i >= 0 {
			m.pos += i + len(s)
		}
		m.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-m.notify:
		case <-m.exited:
			// Drain what the pipe still held, then look once more.
			time.Sleep(100 * time.Millisecond)
			m.mu.Lock()
			found := bytes.Contains(m.out[m.pos:], []byte(s))
			m.mu.Unlock()
			if found {
				continue
			}
			t.Fatalf("QEMU exited (%v) before %q appeared", m.waitErr, s)
		case <-deadline:
			t.Fatalf("%q did not appear within %s", s, timeout)
		}
	}
}

func (m *machine) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(m.stdin, s); err != nil {
		t.Fatalf("writing to the console: %v", err)
	}
}

func (m *machine) login(t *testing.T, host string) {
	t.Helper()
	m.send(t, User+"\r")
	m.expect(t, commandTimeout, "Password:")
	m.send(t, Password+"\r")
	m.expect(t, commandTimeout, User+"@"+host+":~$ ")
}

// run types a command at the shell prompt and waits for each of wants in
// its output, in order, then for the next prompt. The wants must not occur
// in the command itself (the terminal echoes it).
func (m *machine) run(t *testing.T, command string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if strings.Contains(command, w) {
			t.Fatalf("test bug: %q contains %q", command, w)
		}
	}
	m.send(t, command+"\r")
	for _, w := range wants {
		m.expect(t, commandTimeout, w)
	}
	m.expect(t, commandTimeout, "$ ")
}

// qmp sends one QMP command and waits for its reply.
func (m *machine) qmp(t *testing.T, command string) {
	t.Helper()
	conn, err := net.DialTimeout("unix", m.qmpPath, 10*time.Second)
	if err != nil {
		t.Fatalf("QMP: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() map[string]any {
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				t.Fatalf("QMP: %v", err)
			}
			var msg map[string]any
			if json.Unmarshal(line, &msg) != nil {
				continue
			}
			if _, ok := msg["event"]; ok {
				continue
			}
			return msg
		}
	}
	reply() // greeting
	for _, cmd := range []string{"qmp_capabilities", command} {
		fmt.Fprintf(conn, `{"execute": %q}`+"\n", cmd)
		if msg := reply(); msg["error"] != nil {
			t.Fatalf("QMP %s: %v", cmd, msg["error"])
		}
	}
}

func (m *machine) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-m.exited:
		if m.waitErr != nil {
			t.Fatalf("QEMU: %v", m.waitErr)
		}
		t.Logf("QEMU exited %s after boot start", time.Since(m.started).Round(time.Second))
	case <-time.After(exitTimeout):
		t.Fatalf("QEMU still running %s after the guest was told to power off", exitTimeout)
	}
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
