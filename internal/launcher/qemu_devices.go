package launcher

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

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
