package launcher

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testUID = "6b1b2a36-0d8c-4f5e-9a43-5f0c2a0b7d11"

func baseConfig() Config {
	return Config{
		Namespace:          "default",
		Name:               "vm1",
		UID:                testUID,
		OSType:             OSGeneric,
		Bootloader:         BootBIOS,
		Paravirtualization: true,
		CPU:                CPU{Type: CPUModel, Model: "Nehalem", Cores: 2, Sockets: 1, CoresPerSocket: 2},
		MemoryMiB:          2048,
		Disks: []Disk{
			{Name: "root", Kind: KindVirtualDisk, Path: "/dev/disks/root", Format: FormatRaw, BootOrder: 1, Serial: "root-serial"},
		},
		Network: &Network{Mode: NetworkUser, MAC: "52:54:00:12:34:56"},
	}
}

var tcgHost = Host{Accel: AccelTCG, RunDir: "/run/dvp/vm1"}

func efiHost(accel, code string) Host {
	return Host{Accel: accel, RunDir: "/run/dvp/vm1", FirmwareCode: code, FirmwareVars: EFIVarsFile}
}

// argsCases are the golden cases: testdata/<name>.args holds the argv,
// one argument per line.
func argsCases() []struct {
	name string
	cfg  Config
	host Host
} {
	type tc = struct {
		name string
		cfg  Config
		host Host
	}
	var cases []tc

	cases = append(cases, tc{"bios-paravirt-model", baseConfig(), tcgHost})

	c := baseConfig()
	c.Bootloader = BootEFI
	c.Paravirtualization = false
	c.Disks = append(c.Disks, Disk{Name: "data", Kind: KindVirtualDisk, Path: "/dev/disks/data", Format: FormatQcow2})
	// A pulled image, read-only, on SATA: the launcher's private copy is
	// attached writable, as IDE cannot do read-only hard disks.
	c.Disks = append(c.Disks, Disk{Name: "image", Kind: "VirtualImage", Path: "/run/dvp/vm1/pull-2.img", Format: FormatRaw, ReadOnly: true,
		Pull: &Pull{Ref: "dvcr.example/vi/ns/image:uid", Size: 1 << 30}})
	cases = append(cases, tc{"efi-sata", c, efiHost(AccelTCG, "/usr/share/OVMF/OVMF_CODE_4M.fd")})

	// Thin clones: every node of the chain is named, the bases read-only
	// with their format and no backing of their own; a qcow2 disk with no
	// known backing gets none, whatever its header says.
	c = baseConfig()
	c.Disks = []Disk{
		{Name: "clone-raw", Kind: KindVirtualDisk, Path: "/data/volumes/pv-1/disk.qcow2", Format: FormatQcow2, BootOrder: 1},
		{Name: "clone-qcow2", Kind: KindVirtualDisk, Path: "/data/volumes/pv-2/disk.qcow2", Format: FormatQcow2},
		{Name: "plain-qcow2", Kind: KindVirtualDisk, Path: "/data/volumes/pv-3/disk.qcow2", Format: FormatQcow2},
	}
	thin := Host{Accel: AccelTCG, RunDir: "/run/dvp/vm1", Backing: map[string]Backing{
		"/data/volumes/pv-1/disk.qcow2": {Path: "/data/image-cache/" + strings.Repeat("a", 64) + ".raw", Format: FormatRaw},
		"/data/volumes/pv-2/disk.qcow2": {Path: "/data/image-cache/" + strings.Repeat("b", 64) + ".qcow2", Format: FormatQcow2},
	}}
	cases = append(cases, tc{"thin-clone", c, thin})

	c = baseConfig()
	c.Bootloader = BootEFISecureBoot
	c.OSType = OSWindows
	cases = append(cases, tc{"efi-secureboot", c, efiHost(AccelTCG, "/usr/share/OVMF/OVMF_CODE_4M.ms.fd")})

	c = baseConfig()
	c.CPU = CPU{Type: CPUHostPassthrough, Cores: 4, Sockets: 2, CoresPerSocket: 2}
	cases = append(cases, tc{"host-passthrough-kvm", c, Host{Accel: AccelKVM, RunDir: "/run/dvp/vm1"}})
	cases = append(cases, tc{"host-passthrough-tcg", c, tcgHost})

	c = baseConfig()
	c.CPU = CPU{Type: CPUFeatures, Features: []string{"sse4.2", "popcnt", "x2apic"}, Cores: 1}
	cases = append(cases, tc{"features", c, tcgHost})

	c = baseConfig()
	c.CPU = CPU{Type: CPUDiscovery, Features: []string{"ssse3"}, Cores: 1, Sockets: 1, CoresPerSocket: 1}
	cases = append(cases, tc{"discovery", c, tcgHost})

	c = baseConfig()
	c.Disks = []Disk{
		{Name: "data", Kind: KindVirtualDisk, Path: "/dev/disks/data", Format: FormatRaw, Serial: "data"},
		{Name: "installer", Kind: "ClusterVirtualImage", Path: "/run/dvp/vm1/pull-1.img", Format: FormatRaw, CDROM: true, BootOrder: 1},
		{Name: "root", Kind: KindVirtualDisk, Path: "/dev/disks/root", Format: FormatRaw, BootOrder: 2, Serial: "root"},
		{Name: "tools", Kind: "VirtualImage", Path: "/images/tools,v2.qcow2", Format: FormatQcow2, ReadOnly: true, BootOrder: 3},
	}
	c.CloudInit = &CloudInit{UserData: "#cloud-config\n", InstanceID: "i-1", Hostname: "vm1"}
	h := tcgHost
	h.BlockDevices = map[string]bool{"/dev/disks/root": true, "/dev/disks/data": true}
	h.CloudInitISO = CloudInitISO
	cases = append(cases, tc{"cloudinit-cdrom-disks", c, h})

	c = baseConfig()
	c.Network = &Network{Mode: NetworkTap, Tap: "tap-vm1", MAC: "52:54:00:AB:CD:EF"}
	cases = append(cases, tc{"tap", c, tcgHost})

	c = baseConfig()
	c.OSType = OSLegacy
	c.Paravirtualization = false
	c.CPU = CPU{Type: CPUModel, Model: "pentium3", Cores: 1}
	c.Disks = []Disk{
		{Name: "d0", Kind: KindVirtualDisk, Path: "/dev/disks/d0", BootOrder: 1},
		{Name: "d1", Kind: KindVirtualDisk, Path: "/dev/disks/d1"},
		{Name: "d2", Kind: KindVirtualDisk, Path: "/dev/disks/d2"},
		{Name: "cd", Kind: "VirtualImage", Path: "/dev/disks/cd", CDROM: true, BootOrder: 2},
		{Name: "d4", Kind: KindVirtualDisk, Path: "/dev/disks/d4"},
	}
	cases = append(cases, tc{"legacy", c, tcgHost})

	c = baseConfig()
	c.OSType = OSWindows
	c.Bootloader = BootEFI
	c.CPU = CPU{Type: CPUHost, Cores: 2}
	cases = append(cases, tc{"windows-kvm", c, efiHost(AccelKVM, "/usr/share/OVMF/OVMF_CODE_4M.fd")})

	c = baseConfig()
	unprivileged := tcgHost
	unprivileged.RunAs = "nobody"
	cases = append(cases, tc{"runas", c, unprivileged})
	return cases
}

func TestArgsGolden(t *testing.T) {
	for _, tc := range argsCases() {
		t.Run(tc.name, func(t *testing.T) {
			args, err := tc.cfg.Args(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(args, "\n") + "\n"
			file := filepath.Join("testdata", tc.name+".args")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/launcher -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("argv differs from %s (go test ./internal/launcher -update rewrites it)\ngot:\n%s", file, got)
			}
		})
	}
}

// TestArgsMapping spells out the key mappings, so a careless -update does
// not silently bless a regression.
func TestArgsMapping(t *testing.T) {
	find := func(args []string, opt, prefix string) string {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == opt && strings.HasPrefix(args[i+1], prefix) {
				return args[i+1]
			}
		}
		return ""
	}
	for _, tc := range argsCases() {
		args, err := tc.cfg.Args(tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		machine := find(args, "-machine", "")
		cpu := find(args, "-cpu", "")
		switch tc.name {
		case "bios-paravirt-model":
			if !strings.HasPrefix(machine, "q35,") || cpu != "Nehalem" || find(args, "-accel", "") != "tcg,thread=multi" {
				t.Errorf("%s: machine %q cpu %q", tc.name, machine, cpu)
			}
			if d := find(args, "-device", "scsi-hd"); !strings.Contains(d, "bootindex=1") || !strings.Contains(d, "werror=stop,rerror=stop") || !strings.Contains(d, "serial=root-serial") {
				t.Errorf("%s: disk device %q", tc.name, d)
			}
			if find(args, "-device", "virtio-net-pci") == "" || find(args, "-netdev", "user,") == "" {
				t.Errorf("%s: no virtio-net on user networking", tc.name)
			}
			if find(args, "-smp", "") != "2,sockets=1,cores=2,threads=1" || find(args, "-m", "") != "2048" {
				t.Errorf("%s: smp/memory wrong", tc.name)
			}
			if !strings.Contains(find(args, "-smbios", ""), "uuid="+testUID) {
				t.Errorf("%s: smbios has no uuid", tc.name)
			}
		case "efi-sata":
			if !strings.Contains(machine, "pflash0=pflash-code") || strings.Contains(machine, "smm=on") {
				t.Errorf("%s: machine %q", tc.name, machine)
			}
			if find(args, "-device", "ide-hd,bus=ide.0") == "" || find(args, "-device", "scsi-hd") != "" || find(args, "-device", "e1000,") == "" {
				t.Errorf("%s: want SATA disks and e1000", tc.name)
			}
			if strings.Contains(find(args, "-blockdev", "driver=raw,node-name=disk2"), "read-only") || find(args, "-device", "ide-hd,bus=ide.2,drive=disk2") == "" {
				t.Errorf("%s: pulled read-only image not attached as a writable SATA disk", tc.name)
			}
			if !strings.Contains(find(args, "-blockdev", "driver=file,node-name=pflash-code"), "read-only=on") {
				t.Errorf("%s: firmware code not read-only", tc.name)
			}
		case "efi-secureboot":
			if !strings.Contains(machine, "smm=on") || find(args, "-global", "driver=cfi.pflash01,property=secure,value=on") == "" {
				t.Errorf("%s: secure boot needs smm and secure pflash", tc.name)
			}
		case "host-passthrough-kvm":
			if cpu != "host" || find(args, "-accel", "") != "kvm" {
				t.Errorf("%s: cpu %q", tc.name, cpu)
			}
		case "host-passthrough-tcg":
			if cpu != "max" {
				t.Errorf("%s: cpu %q", tc.name, cpu)
			}
		case "features":
			if cpu != "qemu64,+sse4.2,+popcnt,+x2apic" {
				t.Errorf("%s: cpu %q", tc.name, cpu)
			}
		case "tap":
			if find(args, "-netdev", "tap,id=net0,ifname=tap-vm1,script=no,downscript=no") == "" || !strings.Contains(find(args, "-device", "virtio-net-pci"), "mac=52:54:00:ab:cd:ef") {
				t.Errorf("%s: tap netdev wrong", tc.name)
			}
		case "runas":
			if find(args, "-runas", "nobody") == "" || !strings.Contains(find(args, "-sandbox", "on"), "elevateprivileges=allow") {
				t.Errorf("%s: QEMU does not drop to nobody: %q", tc.name, args)
			}
		case "legacy":
			if !strings.HasPrefix(machine, "pc,") || find(args, "-device", "ich9-ahci,id=sata1") == "" {
				t.Errorf("%s: machine %q, want i440fx with an extra AHCI for the fifth disk", tc.name, machine)
			}
		case "cloudinit-cdrom-disks":
			if d := find(args, "-device", "ide-cd,bus=ide.1,drive=cidata"); d == "" || strings.Contains(d, "bootindex") {
				t.Errorf("%s: cloud-init CD-ROM %q", tc.name, d)
			}
			if !strings.Contains(find(args, "-blockdev", "driver=host_device,node-name=file2"), "filename=/dev/disks/root") {
				t.Errorf("%s: block device not host_device", tc.name)
			}
			if !strings.Contains(find(args, "-blockdev", "driver=file,node-name=file3"), "filename=/images/tools,,v2.qcow2") {
				t.Errorf("%s: comma in path not escaped", tc.name)
			}
		}
	}
}

func TestArgsErrors(t *testing.T) {
	for name, mutate := range map[string]func(*Config, *Host){
		"cpu type":  func(c *Config, h *Host) { c.CPU.Type = "Fancy" },
		"cpu model": func(c *Config, h *Host) { c.CPU.Model = "Nehalem,+vmx" },
		"feature":   func(c *Config, h *Host) { c.CPU.Type = CPUFeatures; c.CPU.Features = []string{"a,b"} },
		"topology": func(c *Config, h *Host) {
			c.CPU = CPU{Type: CPUModel, Model: "Nehalem", Cores: 3, Sockets: 2, CoresPerSocket: 2}
		},
		"memory":     func(c *Config, h *Host) { c.MemoryMiB = 0 },
		"uid":        func(c *Config, h *Host) { c.UID = "not-a-uuid" },
		"ostype":     func(c *Config, h *Host) { c.OSType = "BeOS" },
		"bootloader": func(c *Config, h *Host) { c.Bootloader = "Coreboot" },
		"legacy secure boot": func(c *Config, h *Host) {
			c.OSType = OSLegacy
			c.Bootloader = BootEFISecureBoot
			h.FirmwareCode, h.FirmwareVars = "c", "v"
		},
		"efi no firmware": func(c *Config, h *Host) { c.Bootloader = BootEFI },
		"accel":           func(c *Config, h *Host) { h.Accel = "hvf" },
		"read-only sata":  func(c *Config, h *Host) { c.Paravirtualization = false; c.Disks[0].ReadOnly = true },
		"format":          func(c *Config, h *Host) { c.Disks[0].Format = "vmdk" },
		"no path":         func(c *Config, h *Host) { c.Disks[0].Path = "" },
		"mac":             func(c *Config, h *Host) { c.Network.MAC = "nope" },
		"mode":            func(c *Config, h *Host) { c.Network.Mode = "bridge" },
		"tap name":        func(c *Config, h *Host) { c.Network = &Network{Mode: NetworkTap, Tap: "a,b", MAC: "52:54:00:12:34:56"} },
	} {
		c, h := baseConfig(), tcgHost
		mutate(&c, &h)
		if _, err := c.Args(h); err == nil {
			t.Errorf("%s: Args accepted it", name)
		}
	}
}

func TestSMPDefaults(t *testing.T) {
	for _, tc := range []struct {
		cpu  CPU
		want string
	}{
		{CPU{Cores: 4}, "4,sockets=1,cores=4,threads=1"},
		{CPU{Sockets: 2, CoresPerSocket: 3}, "6,sockets=2,cores=3,threads=1"},
		{CPU{Cores: 4, Sockets: 2}, "4,sockets=2,cores=2,threads=1"},
		{CPU{}, "1,sockets=1,cores=1,threads=1"},
	} {
		got, err := tc.cpu.smp()
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q, %v; want %q", tc.cpu, got, err, tc.want)
		}
	}
}
