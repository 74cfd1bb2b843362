package launcher

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Files the launcher and QEMU keep in the run directory. QEMU runs with the
// run directory as its working directory and the argv names these files
// relatively, so a run directory deeper than a unix socket path allows
// (108 bytes) still works.
const (
	QMPSocket      = "qmp.sock"
	SerialSocket   = "serial.sock"
	VNCSocket      = "vnc.sock"
	EFIVarsFile    = "efi-vars.fd"
	CloudInitISO   = "cidata.iso"
	ConditionsFile = "conditions.json"
	PIDFile        = "qemu.pid"
	// QMPTranscriptFile is the QMP transcript (RunEnv.QMPTranscript).
	QMPTranscriptFile = "qmp.log"
)

// Host is what Args needs to know about the machine QEMU runs on, as
// opposed to the VM: the accelerator, the firmware found and where the
// launcher put its per-VM files.
type Host struct {
	// Accel is kvm or tcg.
	Accel string
	// RunDir is QEMU's working directory. The argv names the sockets, the
	// EFI variables copy and the cloud-init ISO relative to it.
	RunDir string
	// FirmwareCode is the EFI code image (mapped read-only); FirmwareVars
	// is the VM's own writable copy of the variables store. Only used for
	// the EFI bootloaders.
	FirmwareCode string
	FirmwareVars string
	// BlockDevices holds the disk paths that are block devices (driver
	// host_device); every other path is a file.
	BlockDevices map[string]bool
	// Backing names the backing file of each qcow2 disk that has one (a
	// thin clone's image-cache entry), by disk path. Every node of the
	// chain is given to QEMU explicitly: the base is opened read-only with
	// its known format and no backing of its own, and a qcow2 disk not
	// listed here gets none, so QEMU never follows a file name written
	// inside an image.
	Backing map[string]Backing
	// CloudInitISO is the NoCloud seed attached when Config.CloudInit is
	// set (default: CloudInitISO in the run directory).
	CloudInitISO string
	// RunAs, when set, is the unprivileged user QEMU switches to once it
	// has opened its disks, firmware and sockets (-runas).
	RunAs string
}

// Backing is the base image of a qcow2 disk.
type Backing struct {
	Path   string
	Format string // raw or qcow2
}

var (
	featureRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	modelRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// esc quotes a value for QEMU's comma-separated option syntax.
func esc(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// Args builds the QEMU argv (without the program name) for the VM on h.
// It is a pure function of its inputs: the launcher resolves paths,
// formats and firmware before calling it. The mapping is documented in
// docs/design/launcher.md.
func (c *Config) Args(h Host) ([]string, error) {
	var a argv
	osType := c.OSType
	if osType == "" {
		osType = OSGeneric
	}
	switch osType {
	case OSGeneric, OSWindows, OSLegacy:
	default:
		return nil, fmt.Errorf("osType %q: want %s, %s or %s", c.OSType, OSGeneric, OSWindows, OSLegacy)
	}
	boot := c.Bootloader
	if boot == "" {
		boot = BootBIOS
	}
	switch boot {
	case BootBIOS, BootEFI, BootEFISecureBoot:
	default:
		return nil, fmt.Errorf("bootloader %q: want %s, %s or %s", c.Bootloader, BootBIOS, BootEFI, BootEFISecureBoot)
	}
	legacy := osType == OSLegacy
	efi := boot != BootBIOS
	secure := boot == BootEFISecureBoot
	if secure && legacy {
		return nil, fmt.Errorf("bootloader %s needs the q35 machine, and osType %s uses i440fx: choose EFI or BIOS", BootEFISecureBoot, OSLegacy)
	}
	if efi && (h.FirmwareCode == "" || h.FirmwareVars == "") {
		return nil, fmt.Errorf("bootloader %s: no EFI firmware (OVMF) found", boot)
	}
	switch h.Accel {
	case AccelKVM, AccelTCG:
	default:
		return nil, fmt.Errorf("accelerator %q: want %s or %s", h.Accel, AccelKVM, AccelTCG)
	}

	name := c.Name
	if c.Namespace != "" {
		name = c.Namespace + "_" + c.Name
	}
	if name == "" {
		name = "vm"
	}
	a.add("-name", "guest="+esc(name)+",debug-threads=on")
	a.add("-msg", "timestamp=on")
	a.add("-no-user-config", "-nodefaults")
	if h.RunAs != "" {
		// The switch to the user is itself a setuid call, which the
		// sandbox must let through; once QEMU runs as that user there is
		// nothing left to elevate to.
		a.add("-runas", h.RunAs)
		a.add("-sandbox", "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny")
	} else {
		a.add("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
	}

	machine := "q35"
	if legacy {
		machine = "pc"
	}
	machine += ",usb=off,dump-guest-core=off"
	if secure {
		machine += ",smm=on"
	}
	if efi {
		machine += ",pflash0=pflash-code,pflash1=pflash-vars"
	}
	a.add("-machine", machine)
	if h.Accel == AccelKVM {
		a.add("-accel", "kvm")
	} else {
		a.add("-accel", "tcg,thread=multi")
	}

	cpu, err := c.cpuArg(h.Accel, osType)
	if err != nil {
		return nil, err
	}
	a.add("-cpu", cpu)
	smp, err := c.CPU.smp()
	if err != nil {
		return nil, err
	}
	a.add("-smp", smp)
	if c.MemoryMiB <= 0 {
		return nil, fmt.Errorf("memoryMiB %d: must be positive", c.MemoryMiB)
	}
	a.add("-m", strconv.FormatInt(c.MemoryMiB, 10))

	smbios := "type=1,manufacturer=DVP,product=VirtualMachine"
	if c.UID != "" {
		if !uuidRE.MatchString(c.UID) {
			return nil, fmt.Errorf("uid %q is not a UUID", c.UID)
		}
		smbios += ",uuid=" + c.UID + ",serial=" + c.UID
	}
	a.add("-smbios", smbios)

	if efi {
		if secure {
			// OVMF with secure boot keeps its variables in SMM-protected
			// flash; S3 is not supported together with SMM.
			a.add("-global", "driver=cfi.pflash01,property=secure,value=on")
			a.add("-global", "ICH9-LPC.disable_s3=1")
		}
		a.add("-blockdev", "driver=file,node-name=pflash-code,filename="+esc(h.FirmwareCode)+",read-only=on")
		a.add("-blockdev", "driver=file,node-name=pflash-vars,filename="+esc(h.FirmwareVars))
	}

	if osType == OSWindows {
		a.add("-rtc", "base=localtime,driftfix=slew")
	} else {
		a.add("-rtc", "base=utc")
	}
	// A guest reboot ends QEMU (SHUTDOWN reason guest-reset) so that the
	// controller starts a fresh launcher with the current configuration;
	// a panic seen by pvpanic ends it too (reason guest-panic).
	a.add("-action", "reboot=shutdown,panic=shutdown")
	a.add("-device", "pvpanic")

	a.add("-display", "none")
	a.add("-vnc", "unix:"+VNCSocket)
	a.add("-chardev", "socket,id=qmp,path="+QMPSocket+",server=on,wait=off")
	a.add("-mon", "chardev=qmp,mode=control")
	a.add("-chardev", "socket,id=serial0,path="+SerialSocket+",server=on,wait=off")
	a.add("-serial", "chardev:serial0")
	a.add("-device", "VGA,id=video0")
	// A USB tablet gives the VNC pointer absolute coordinates; old guests
	// only know the USB 1.1 controller.
	if legacy {
		a.add("-device", "piix3-usb-uhci,id=usb")
	} else {
		a.add("-device", "qemu-xhci,id=usb")
	}
	a.add("-device", "usb-tablet,id=tablet0,bus=usb.0")
	if c.Paravirtualization {
		a.add("-object", "rng-random,id=rng0,filename=/dev/urandom")
		a.add("-device", "virtio-rng-pci,rng=rng0,id=rng0dev")
	}

	if err := c.diskArgs(&a, h, legacy); err != nil {
		return nil, err
	}
	if err := c.netArgs(&a); err != nil {
		return nil, err
	}
	return a, nil
}

// Validate reports what Args would refuse, without a host: the VM
// controller may call it before it creates a launcher pod. Disks to pull
// need no path; the accelerator may be auto, kvm or tcg.
func (c *Config) Validate() error {
	switch c.Accel {
	case "", AccelAuto, AccelKVM, AccelTCG:
	default:
		return fmt.Errorf("accel %q: want %s, %s or %s", c.Accel, AccelAuto, AccelKVM, AccelTCG)
	}
	cp := *c
	cp.Disks = append([]Disk(nil), c.Disks...)
	for i := range cp.Disks {
		if d := &cp.Disks[i]; d.Pull != nil {
			d.Path, d.Format = "pulled.img", FormatRaw
		}
	}
	_, err := cp.Args(Host{Accel: AccelTCG, FirmwareCode: "code.fd", FirmwareVars: EFIVarsFile})
	return err
}

type argv []string

func (a *argv) add(s ...string) { *a = append(*a, s...) }

// cpuArg is the -cpu value: the class CPU type mapped onto QEMU models.
func (c *Config) cpuArg(accel, osType string) (string, error) {
	var model string
	switch c.CPU.Type {
	case CPUHost, CPUHostPassthrough, "":
		// QEMU has no host-model of its own: both are the host CPU
		// under KVM; TCG emulates the richest CPU it can instead.
		model = "host"
		if accel == AccelTCG {
			model = "max"
		}
	case CPUModel:
		if !modelRE.MatchString(c.CPU.Model) {
			return "", fmt.Errorf("cpu model %q is not a QEMU CPU model name", c.CPU.Model)
		}
		model = c.CPU.Model
	case CPUDiscovery, CPUFeatures:
		model = "qemu64"
	default:
		return "", fmt.Errorf("cpu type %q: want %s, %s, %s, %s or %s", c.CPU.Type, CPUHost, CPUHostPassthrough, CPUDiscovery, CPUModel, CPUFeatures)
	}
	for _, f := range c.CPU.Features {
		if !featureRE.MatchString(f) {
			return "", fmt.Errorf("cpu feature %q is not a QEMU CPU flag name", f)
		}
		model += ",+" + f
	}
	if osType == OSWindows && accel == AccelKVM {
		// Hyper-V enlightenments: Windows runs markedly better with them
		// and they need KVM.
		model += ",hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-time,hv-vpindex,hv-synic,hv-stimer"
	}
	return model, nil
}

// smp is the -smp value; missing topology numbers are derived from the
// others.
func (p CPU) smp() (string, error) {
	cores, sockets, per := p.Cores, p.Sockets, p.CoresPerSocket
	if sockets <= 0 {
		sockets = 1
	}
	if per <= 0 {
		if cores <= 0 {
			cores = sockets
		}
		per = cores / sockets
	}
	if cores <= 0 {
		cores = sockets * per
	}
	if per <= 0 || sockets*per != cores {
		return "", fmt.Errorf("cpu topology: %d cores do not split into %d sockets of %d cores", p.Cores, sockets, per)
	}
	return fmt.Sprintf("%d,sockets=%d,cores=%d,threads=1", cores, sockets, per), nil
}
