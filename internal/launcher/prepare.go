package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/virtlab/dvp/internal/fsutil"
)

// prepare resolves the disks, pulls images, writes the cloud-init seed,
// picks the accelerator and the firmware: everything Args needs to know of
// the host.
func (r *runner) prepare(ctx context.Context, cfg Config) error {
	r.cfg = cfg
	r.cfg.Disks = append([]Disk(nil), cfg.Disks...)
	r.host = Host{RunDir: r.env.RunDir, BlockDevices: map[string]bool{}, Backing: map[string]Backing{}}
	r.nodes = map[string]string{}

	for i := range r.cfg.Disks {
		if err := r.prepareDisk(ctx, i); err != nil {
			return err
		}
	}
	if err := r.writeCloudInit(); err != nil {
		return err
	}

	accel, why, err := ChooseAccel(r.cfg.Accel)
	if err != nil {
		return err
	}
	r.host.Accel = accel
	r.host.RunAs = unprivilegedUser(r.env.QEMUUser)
	if accel == AccelKVM {
		r.rep.set(Condition{Type: ConditionAcceleration, Status: "True", Reason: AccelReasonKVM, Message: why})
	} else {
		r.rep.set(Condition{Type: ConditionAcceleration, Status: "False", Reason: AccelReasonTCG, Message: why})
	}

	if r.cfg.Bootloader == BootEFI || r.cfg.Bootloader == BootEFISecureBoot {
		code, vars, err := FindFirmware(r.cfg.Bootloader, r.env.FirmwareDirs)
		if err != nil {
			return err
		}
		// The VM's own variable store. It lives as long as the run
		// directory: a launcher restarted in the same pod keeps it.
		own := filepath.Join(r.env.RunDir, EFIVarsFile)
		if !exists(own) {
			if err := copyFile(vars, own); err != nil {
				return fmt.Errorf("EFI variables: %w", err)
			}
		}
		r.host.FirmwareCode, r.host.FirmwareVars = code, EFIVarsFile
	}

	r.qemu = r.env.QEMU
	if r.qemu == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			return errors.New("qemu-system-x86_64 is not installed")
		}
		r.qemu = p
	}
	return nil
}

// prepareDisk makes disk i of the configuration ready for Args: pulled, or
// resolved under DVP_ROOT, its kind and format known, its backing file
// named, and watched for growth when it can grow.
func (r *runner) prepareDisk(ctx context.Context, i int) error {
	d := &r.cfg.Disks[i]
	r.nodes[formatNode(i)] = d.Name
	if d.Pull != nil {
		target := filepath.Join(r.env.RunDir, fmt.Sprintf("pull-%d.img", i))
		if err := pull(ctx, r.env.Root, r.env.RunDir, r.env.DVCRCredentials, d.Name, d.Pull, target, r.logf); err != nil {
			return err
		}
		d.Path, d.Format = target, FormatRaw
	} else {
		if d.Path == "" {
			return fmt.Errorf("disk %q has no path", d.Name)
		}
		d.Path = fsutil.ResolveUnder(r.env.Root, d.Path)
		// QEMU resolves a qcow2 overlay's relative backing file
		// against the name it is given; under DVP_ROOT that name
		// runs through symlinks, so give it the real one.
		// (A missing disk is reported by the Stat below.)
		if real, err := filepath.EvalSymlinks(d.Path); err == nil {
			d.Path = real
		}
	}
	fi, err := os.Stat(d.Path)
	if err != nil {
		return fmt.Errorf("disk %q: %w", d.Name, err)
	}
	if isBlockDevice(fi) {
		r.host.BlockDevices[d.Path] = true
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("disk %q: %s is neither a file nor a block device", d.Name, d.Path)
	}
	if d.Format == "" {
		if d.Format, err = detectFormat(d.Path); err != nil {
			return fmt.Errorf("disk %q: %w", d.Name, err)
		}
	}
	if d.Format == FormatQcow2 && d.Pull == nil {
		b, ok, err := diskBacking(d.Path)
		if err != nil {
			return fmt.Errorf("disk %q: %w", d.Name, err)
		}
		if ok {
			r.host.Backing[d.Path] = b
		}
	}
	// A raw VirtualDisk's volume may be expanded while the VM runs;
	// a qcow2 file grows with its data, which says nothing of the
	// virtual size, and images are read-only.
	if w, err := watchDisk(d, formatNode(i)); err != nil {
		return fmt.Errorf("disk %q: %w", d.Name, err)
	} else if w != nil {
		r.disks = append(r.disks, w)
	}
	return nil
}

// writeCloudInit writes the NoCloud seed ISO when the VM has cloud-init.
func (r *runner) writeCloudInit() error {
	ci := r.cfg.CloudInit
	if ci == nil {
		return nil
	}
	seed := *ci
	userData := []byte(ci.UserData)
	if ci.UserData == "" && ci.UserDataFile != "" {
		b, err := os.ReadFile(fsutil.ResolveUnder(r.env.Root, ci.UserDataFile))
		if err != nil {
			return fmt.Errorf("cloud-init user data: %w", err)
		}
		userData = b
	}
	if seed.InstanceID == "" {
		seed.InstanceID = r.cfg.UID
	}
	if seed.InstanceID == "" {
		seed.InstanceID = r.cfg.Name
	}
	if seed.Hostname == "" {
		seed.Hostname = r.cfg.Name
	}
	if err := WriteNoCloudISO(filepath.Join(r.env.RunDir, CloudInitISO), &seed, userData); err != nil {
		return err
	}
	r.host.CloudInitISO = CloudInitISO
	return nil
}

// unprivilegedUser is who QEMU runs as: the user named by DVP_QEMU_USER
// when the launcher runs as root and the user exists, else "" (stay as is).
// It is opt-in: the kernel clears a process's parent-death signal when it
// changes credentials, so a QEMU that dropped root no longer dies with its
// launcher, and a launcher killed with SIGKILL would leave it running (the
// next launcher then fails to lock the disk rather than run the machine
// twice). Running unprivileged by default needs a reaper that outlives the
// launcher (a cgroup or the supervisor): see the closing notes.
func unprivilegedUser(want string) string {
	if want == "" || want == "root" || os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup(want); err != nil {
		return ""
	}
	return want
}

// FindFirmware finds the OVMF code and variables template for an EFI
// bootloader in dirs: the 4 MiB builds first, the Microsoft-keys (.ms)
// ones for secure boot.
func FindFirmware(bootloader string, dirs []string) (code, vars string, err error) {
	type pair struct{ code, vars string }
	var want []pair
	switch bootloader {
	case BootEFI:
		want = []pair{{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"}, {"OVMF_CODE.fd", "OVMF_VARS.fd"}}
	case BootEFISecureBoot:
		want = []pair{
			{"OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd"},
			{"OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"},
			{"OVMF_CODE.secboot.fd", "OVMF_VARS.ms.fd"},
		}
	default:
		return "", "", fmt.Errorf("bootloader %q has no EFI firmware", bootloader)
	}
	for _, p := range want {
		for _, d := range dirs {
			c, v := filepath.Join(d, p.code), filepath.Join(d, p.vars)
			if exists(c) && exists(v) {
				return c, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("bootloader %s: no OVMF firmware (%s and %s) in %s", bootloader, want[0].code, want[0].vars, strings.Join(dirs, ", "))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return err
	}
	return out.Close()
}
