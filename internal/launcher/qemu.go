package launcher

import (
	"fmt"
	"net"
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

// Device and node names. Disk i of Config.Disks is the protocol node
// file<i>, the format node disk<i> (the name block_resize and
// BLOCK_IO_ERROR use) and the guest device dev<i>.
func fileNode(i int) string { return "file" + strconv.Itoa(i) }

// baseFileNode and baseNode are the protocol and format nodes of disk i's
// backing file (Host.Backing).
func baseFileNode(i int) string { return "base" + strconv.Itoa(i) + "-file" }
func baseNode(i int) string     { return "base" + strconv.Itoa(i) }
func formatNode(i int) string   { return "disk" + strconv.Itoa(i) }
func deviceID(i int) string     { return "dev" + strconv.Itoa(i) }

const cloudInitNode = "cidata"

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

// sataSlots hands out the chipset's disk ports: the six AHCI ports of q35
// (buses ide.0-ide.5) or the four IDE positions of i440fx (ide.0/ide.1,
// units 0 and 1). When they run out another ich9-ahci controller is added.
type sataSlots struct {
	legacy      bool
	n           int
	controllers []string
}

func (s *sataSlots) next() string {
	i := s.n
	s.n++
	if s.legacy {
		if i < 4 {
			return fmt.Sprintf("bus=ide.%d,unit=%d", i/2, i%2)
		}
		i -= 4
	} else {
		if i < 6 {
			return fmt.Sprintf("bus=ide.%d", i)
		}
		i -= 6
	}
	ctrl := i/6 + 1
	if ctrl > len(s.controllers) {
		s.controllers = append(s.controllers, fmt.Sprintf("ich9-ahci,id=sata%d", ctrl))
	}
	return fmt.Sprintf("bus=sata%d.%d", ctrl, i%6)
}

// diskArgs adds the disks. With paravirtualization, hard disks are scsi-hd
// on one virtio-scsi controller; CD-ROMs always sit on the chipset's
// SATA/IDE ports, which every OS and installer can read without drivers.
// Without paravirtualization every disk is SATA (IDE on i440fx).
func (c *Config) diskArgs(a *argv, h Host, legacy bool) error {
	slots := &sataSlots{legacy: legacy}
	var devices argv
	scsi := false
	for i, d := range c.Disks {
		if d.Path == "" {
			return fmt.Errorf("disk %q has no path", d.Name)
		}
		format := d.Format
		if format == "" {
			format = FormatRaw
		}
		if format != FormatRaw && format != FormatQcow2 {
			return fmt.Errorf("disk %q: format %q: want %s or %s", d.Name, d.Format, FormatRaw, FormatQcow2)
		}
		ro := d.ReadOnly || d.CDROM
		if ro && !d.CDROM && !c.Paravirtualization && d.Pull != nil {
			// QEMU's IDE cannot present a read-only hard disk. A pulled
			// image is this launcher's private copy, so the guest may
			// write to it: the writes are gone with the run directory.
			ro = false
		}
		proto := "file"
		if h.BlockDevices[d.Path] {
			proto = "host_device"
		}
		fileOpts := "driver=" + proto + ",node-name=" + fileNode(i) + ",filename=" + esc(d.Path) + ",cache.direct=off,cache.no-flush=off,aio=threads"
		fmtOpts := "driver=" + format + ",node-name=" + formatNode(i) + ",file=" + fileNode(i)
		if format == FormatQcow2 {
			b, ok := h.Backing[d.Path]
			if !ok {
				fmtOpts += ",backing=" // null: never the name in the header
			} else {
				if b.Format != FormatRaw && b.Format != FormatQcow2 {
					return fmt.Errorf("disk %q: backing format %q: want %s or %s", d.Name, b.Format, FormatRaw, FormatQcow2)
				}
				baseOpts := "driver=" + b.Format + ",node-name=" + baseNode(i) + ",file=" + baseFileNode(i) + ",read-only=on"
				if b.Format == FormatQcow2 {
					baseOpts += ",backing="
				}
				a.add("-blockdev", "driver=file,node-name="+baseFileNode(i)+",filename="+esc(b.Path)+",read-only=on,cache.direct=off,cache.no-flush=off,aio=threads",
					"-blockdev", baseOpts)
				fmtOpts += ",backing=" + baseNode(i)
			}
		}
		if ro {
			fileOpts += ",read-only=on"
			fmtOpts += ",read-only=on"
		} else {
			fileOpts += ",discard=unmap"
			fmtOpts += ",discard=unmap"
		}
		a.add("-blockdev", fileOpts, "-blockdev", fmtOpts)

		var dev string
		switch {
		case d.CDROM:
			dev = "ide-cd," + slots.next()
		case c.Paravirtualization:
			scsi = true
			dev = fmt.Sprintf("scsi-hd,bus=scsi0.0,channel=0,scsi-id=%d,lun=0", i)
		default:
			if ro {
				return fmt.Errorf("disk %q is read-only, and a SATA hard disk cannot be: attach it as a CD-ROM or enable paravirtualization", d.Name)
			}
			dev = "ide-hd," + slots.next()
		}
		dev += ",drive=" + formatNode(i) + ",id=" + deviceID(i)
		if d.Serial != "" {
			dev += ",serial=" + esc(d.Serial)
		}
		if d.BootOrder > 0 {
			dev += ",bootindex=" + strconv.Itoa(d.BootOrder)
		}
		if !d.CDROM {
			// Stop the guest on an I/O error (a full thin volume) instead
			// of failing its writes: it resumes when there is room.
			dev += ",werror=stop,rerror=stop"
		}
		devices.add("-device", dev)
	}
	if c.CloudInit != nil {
		iso := h.CloudInitISO
		if iso == "" {
			iso = CloudInitISO
		}
		a.add("-blockdev", "driver=file,node-name="+cloudInitNode+"-file,filename="+esc(iso)+",read-only=on")
		a.add("-blockdev", "driver=raw,node-name="+cloudInitNode+",file="+cloudInitNode+"-file,read-only=on")
		devices.add("-device", "ide-cd,"+slots.next()+",drive="+cloudInitNode+",id="+cloudInitNode+"-dev")
	}
	if scsi {
		a.add("-device", "virtio-scsi-pci,id=scsi0")
	}
	for _, ctrl := range slots.controllers {
		a.add("-device", ctrl)
	}
	a.add(devices...)
	return nil
}

// netArgs adds the NIC. Its option ROM is left out: there is no network
// boot, and the firmware does not wait for a DHCP server that is not there.
func (c *Config) netArgs(a *argv) error {
	n := c.Network
	if n == nil {
		return nil
	}
	mac, err := net.ParseMAC(n.MAC)
	if err != nil || len(mac) != 6 {
		return fmt.Errorf("network mac %q is not a MAC address", n.MAC)
	}
	switch n.Mode {
	case NetworkUser:
		// restrict=on: the guest gets slirp's DHCP and nothing else. Without
		// it 10.0.2.2 is the host's loopback (etcd, the apiserver, DVCR) and
		// every other address is dialled from the host's network namespace.
		a.add("-netdev", "user,id=net0,restrict=on")
	case NetworkTap:
		if n.Tap == "" || strings.ContainsAny(n.Tap, ",/ ") {
			return fmt.Errorf("network tap %q is not an interface name", n.Tap)
		}
		a.add("-netdev", "tap,id=net0,ifname="+n.Tap+",script=no,downscript=no")
	default:
		return fmt.Errorf("network mode %q: want %s or %s", n.Mode, NetworkUser, NetworkTap)
	}
	model := "e1000"
	if c.Paravirtualization {
		model = "virtio-net-pci"
	}
	a.add("-device", model+",netdev=net0,id=net0dev,mac="+mac.String()+",romfile=")
	return nil
}
