package guest_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/guest"
)

// The project's seed: user "cloud" with password "cloud", passwordless sudo
// and an SSH key.
const debianUserData = `#cloud-config
users:
- name: cloud
  passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
  shell: /bin/bash
  sudo: ALL=(ALL) NOPASSWD:ALL
  chpasswd: { expire: False }
  lock_passwd: false
  ssh_authorized_keys:
    - ` + debianSSHKey + `
`

const debianSSHKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDTXjTmx3hq2EPDQHWSJN7By1VNFZ8colI5tEeZDBVYAe9Oxq4FZsKCb1aGIskDaiAHTxrbd2efoJTcPQLBSBM79dcELtqfKj9dtjy4S1W0mydvWb2oWLnvOaZX/H6pqjz8jrJAKXwXj2pWCOzXerwk9oSI4fCE7VbqsfT4bBfv27FN4/Vqa6iWiCc71oJopL9DldtuIYDVUgOZOa+t2J4hPCCSqEJK/r+ToHQbOWxbC5/OAufXDw2W1vkVeaZUur5xwwAxIb3wM3WoS3BbwNlDYg9UB2D8+EZgNz1CCCpSy1ELIn7q8RnrTp0+H8V9LoWHSgh3VCWeW8C/MnTW90IR"

const debianMetaData = "instance-id: test-1\nlocal-hostname: linux-vm\n"

// Generous limits: the guest runs under TCG on a shared two-core machine.
const (
	debianBootTimeout = 6 * time.Minute // boot + cloud-init
	debianCmdTimeout  = 2 * time.Minute
	debianHaltTimeout = 2 * time.Minute
)

// TestDebianCloudInit boots the Debian test guest with a NoCloud seed on a
// virtio-blk disk and checks what cloud-init did: the user, its password,
// SSH key and sudo rule, and that cloud-init finished without errors.
func TestDebianCloudInit(t *testing.T) {
	vm := debianBoot(t, "virtio-blk")
	c := vm.console

	c.Expect(t, "login:", debianBootTimeout)
	loginAt := time.Since(vm.started)
	t.Logf("login prompt after %s", loginAt.Round(time.Second))

	debianLogin(t, c, "cloud", "cloud")

	out, code := c.Run(t, "id cloud", debianCmdTimeout)
	if code != 0 || !strings.Contains(out, "(cloud)") {
		t.Errorf("id cloud: exit %d, output %q", code, out)
	}
	out, code = c.Run(t, "cat ~/.ssh/authorized_keys", debianCmdTimeout)
	if code != 0 || !strings.Contains(out, debianSSHKey) {
		t.Errorf("authorized_keys: exit %d, output %q", code, out)
	}
	out, _ = c.Run(t, "sudo -n true && echo SUDO-OK", debianCmdTimeout)
	if !strings.Contains(out, "SUDO-OK") {
		t.Errorf("sudo -n true: output %q", out)
	}
	out, _ = c.Run(t, "cloud-init status --wait", debianBootTimeout)
	doneAt := time.Since(vm.started)
	if !strings.Contains(out, "status: done") {
		long, _ := c.Run(t, "cloud-init status --long; sudo grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log | tail -n 30", debianCmdTimeout)
		t.Errorf("cloud-init status: %q\n%s", out, long)
	} else {
		t.Logf("cloud-init done by %s", doneAt.Round(time.Second))
	}
	out, _ = c.Run(t, "hostname", debianCmdTimeout)
	if strings.TrimSpace(out) != "linux-vm" {
		t.Errorf("hostname: %q, want linux-vm", out)
	}
	debianCheckDHCP(t, c)
	if out, _ = c.Run(t, "systemd-analyze time", debianCmdTimeout); out != "" {
		t.Logf("guest: %s", strings.TrimSpace(out))
	}

	vm.poweroff(t)
}

// TestDebianDiskBuses boots the guest from a SATA and a virtio-scsi disk
// (the initramfs must carry those drivers) and logs in on the console. Each
// boot takes about two minutes under TCG, and the platform's end-to-end
// test already boots this guest on virtio-scsi, so it runs on request:
// DVP_GUEST_BUSES=1.
func TestDebianDiskBuses(t *testing.T) {
	if os.Getenv("DVP_GUEST_BUSES") == "" {
		t.Skip("set DVP_GUEST_BUSES=1 to boot the Debian guest on every disk bus (about 4 minutes under TCG)")
	}
	for _, bus := range []string{"sata", "virtio-scsi"} {
		t.Run(bus, func(t *testing.T) {
			vm := debianBoot(t, bus)
			c := vm.console
			c.Expect(t, "login:", debianBootTimeout)
			t.Logf("login prompt after %s", time.Since(vm.started).Round(time.Second))
			debianLogin(t, c, "cloud", "cloud")
			out, _ := c.Run(t, "findmnt -no SOURCE / && cloud-init status --wait", debianBootTimeout)
			if !strings.Contains(out, "/dev/sda1") || !strings.Contains(out, "status: done") {
				t.Errorf("root device and cloud-init status: %q", out)
			}
			vm.poweroff(t)
		})
	}
}

// debianLogin logs in on the serial getty whose "login:" prompt was just
// seen. cloud-init sets the password before getty accepts logins, but a
// rejected login is retried a few times to ride out slow boots.
func debianLogin(t *testing.T, c *guest.Console, user, password string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if err := c.Send(user + "\n"); err != nil {
			t.Fatal(err)
		}
		c.Expect(t, "Password:", debianCmdTimeout)
		if err := c.Send(password + "\n"); err != nil {
			t.Fatal(err)
		}
		i, _ := c.ExpectAny(t, debianCmdTimeout, "Login incorrect", "$ ", "# ")
		if i != 0 {
			return
		}
		if attempt == 3 {
			t.Fatalf("login as %s rejected %d times\n%s", user, attempt, c.Tail(2000))
		}
		c.Expect(t, "login:", debianCmdTimeout)
	}
}

// debianCheckDHCP waits for the first NIC to get its address from QEMU's
// user-mode network (10.0.2.15), which cloud-init configured for
// systemd-networkd.
func debianCheckDHCP(t *testing.T, c *guest.Console) {
	t.Helper()
	deadline := time.Now().Add(debianCmdTimeout)
	for {
		out, _ := c.Run(t, "ip -4 -o addr show scope global", debianCmdTimeout)
		if strings.Contains(out, "10.0.2.15/") {
			return
		}
		if time.Now().After(deadline) {
			diag, _ := c.Run(t, "networkctl --no-pager; ls /etc/systemd/network /run/systemd/network", debianCmdTimeout)
			t.Errorf("no DHCP address on the first NIC: %q\n%s", out, diag)
			return
		}
		time.Sleep(5 * time.Second)
	}
}

type debianVM struct {
	console *guest.Console
	started time.Time
	exited  chan error
}

// debianBoot boots the Debian test guest under TCG through a throwaway
// overlay, with the NoCloud seed on a SATA CD-ROM and its disk on bus
// ("virtio-blk", "virtio-scsi" or "sata"). The serial console is a unix
// socket; QEMU is killed at cleanup if still running.
func debianBoot(t *testing.T, bus string) *debianVM {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM under TCG for minutes; skipped with -short")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not found (run hack/install-deps.sh)")
	}
	image := guest.Debian(t)
	dir := t.TempDir()

	overlay := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	seed := filepath.Join(dir, "seed.iso")
	if err := guest.WriteSeedISO(seed, debianUserData, debianMetaData, ""); err != nil {
		t.Fatalf("seed ISO: %v", err)
	}

	var disk []string
	switch bus {
	case "virtio-blk":
		disk = []string{"-device", "virtio-blk-pci,drive=disk0,bootindex=0"}
	case "virtio-scsi":
		disk = []string{"-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0"}
	case "sata":
		disk = []string{"-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=0"}
	default:
		t.Fatalf("unknown disk bus %q", bus)
	}
	sock := filepath.Join(dir, "serial.sock")
	args := []string{
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024", "-smp", "2",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-chardev", "socket,id=ser0,path=" + sock + ",server=on,wait=on",
		"-serial", "chardev:ser0",
		"-drive", "file=" + overlay + ",format=qcow2,if=none,id=disk0,cache=unsafe",
	}
	args = append(args, disk...)
	args = append(args,
		"-drive", "file="+seed+",format=raw,if=none,id=cd0,media=cdrom,readonly=on",
		"-device", "ide-cd,drive=cd0,bus=ide.2",
		// restrict=on: DHCP from QEMU only, no way out of the VM.
		"-netdev", "user,id=net0,restrict=on", "-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-rng-pci",
	)
	cmd := exec.Command(qemu, args...)
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	vm := &debianVM{started: time.Now(), exited: make(chan error, 1)}
	go func() { vm.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-vm.exited:
		default:
			_ = cmd.Process.Kill()
			<-vm.exited
		}
		if t.Failed() && qemuOut.Len() > 0 {
			t.Logf("qemu output:\n%s", qemuOut.String())
		}
	})

	// QEMU waits for the console to be connected before it runs the guest.
	var conn net.Conn
	for deadline := time.Now().Add(30 * time.Second); ; {
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		select {
		case err := <-vm.exited:
			t.Fatalf("qemu exited: %v\n%s", err, qemuOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial console socket: %v", err)
		}
	}
	t.Cleanup(func() { conn.Close() })
	var transcript *os.File
	if p := os.Getenv("DVP_GUEST_CONSOLE_LOG"); p != "" {
		name := p + "." + strings.ReplaceAll(t.Name(), "/", "_")
		if transcript, err = os.Create(name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { transcript.Close() })
	}
	if transcript != nil {
		vm.console = guest.NewConsole(conn, transcript)
	} else {
		vm.console = guest.NewConsole(conn, nil)
	}
	return vm
}

// poweroff shuts the guest down from its shell and waits for QEMU to exit.
func (vm *debianVM) poweroff(t *testing.T) {
	t.Helper()
	if err := vm.console.Send("sudo poweroff\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-vm.exited:
		if err != nil {
			t.Errorf("qemu: %v", err)
		}
		vm.exited <- err // for cleanup
		t.Logf("powered off after %s", time.Since(vm.started).Round(time.Second))
	case <-time.After(debianHaltTimeout):
		t.Fatalf("qemu still running %s after poweroff\n%s", debianHaltTimeout, vm.console.Tail(2000))
	}
}
