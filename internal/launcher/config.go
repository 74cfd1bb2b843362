package launcher

// Config is everything the launcher needs to run one VM. The VirtualMachine
// controller builds it from the VM, its class and its block devices and
// hands it to the launcher pod as JSON in the environment variable
// ConfigEnv; the launcher never reads the API. Paths are as the container
// sees them (the node runtime resolves them under DVP_ROOT).
type Config struct {
	// Namespace and Name of the VirtualMachine; UID becomes the SMBIOS
	// system UUID so a guest sees the same machine across restarts.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`

	// OSType is Generic, Windows or Legacy (Legacy: i440fx, else q35).
	OSType string `json:"osType"`
	// Bootloader is BIOS, EFI or EFIWithSecureBoot.
	Bootloader string `json:"bootloader"`
	// Paravirtualization selects virtio devices; off means SATA disks and
	// an e1000 NIC, for guests without virtio drivers.
	Paravirtualization bool `json:"paravirtualization"`

	CPU       CPU   `json:"cpu"`
	MemoryMiB int64 `json:"memoryMiB"`

	// Disks in boot order (the first one boots).
	Disks []Disk `json:"disks"`

	// CloudInit, when set, is written as a NoCloud ISO (volume id cidata)
	// and attached as a CD-ROM.
	CloudInit *CloudInit `json:"cloudInit,omitempty"`

	// Network, when set, gives the VM one NIC.
	Network *Network `json:"network,omitempty"`

	// Accel is auto (KVM when usable, else TCG), kvm or tcg.
	Accel string `json:"accel,omitempty"`
}

// CPU is the class CPU model and the VM's topology.
type CPU struct {
	// Type is the class cpu.type: Host, HostPassthrough, Discovery, Model
	// or Features; empty means Host.
	Type string `json:"type"`
	// Model is the QEMU CPU model for type Model (e.g. Nehalem); the base
	// for Discovery and Features is qemu64.
	Model string `json:"model,omitempty"`
	// Features are the CPU flags added for Features and Discovery.
	Features []string `json:"features,omitempty"`

	Cores          int `json:"cores"`
	Sockets        int `json:"sockets"`
	CoresPerSocket int `json:"coresPerSocket"`
}

// Disk is one block device of the VM.
type Disk struct {
	// Name is the block device reference name; Kind is VirtualDisk,
	// VirtualImage or ClusterVirtualImage.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Path is the disk: a block device or a file (raw or qcow2, detected
	// when Format is empty).
	Path   string `json:"path,omitempty"`
	Format string `json:"format,omitempty"`
	// Pull, when set, is fetched before QEMU starts and becomes Path:
	// images live in DVCR, not on a volume.
	Pull *Pull `json:"pull,omitempty"`
	// CDROM attaches the disk as a read-only CD-ROM drive.
	CDROM    bool `json:"cdrom,omitempty"`
	ReadOnly bool `json:"readOnly,omitempty"`
	// BootOrder is 1-based; 0 means not bootable.
	BootOrder int `json:"bootOrder,omitempty"`
	// Serial is the serial number the guest sees (by-id links).
	Serial string `json:"serial,omitempty"`
}

// Pull names an image in DVCR and how to authenticate to it.
type Pull struct {
	Ref      string `json:"ref"`
	AuthFile string `json:"authFile,omitempty"`
	CAFile   string `json:"caFile,omitempty"`
	// Size is the unpacked size in bytes, to preallocate the sparse target.
	Size int64 `json:"size"`
}

// CloudInit is the NoCloud seed.
type CloudInit struct {
	// UserData inline, or UserDataFile: a path holding it (a Secret
	// volume for userDataRef).
	UserData     string `json:"userData,omitempty"`
	UserDataFile string `json:"userDataFile,omitempty"`
	InstanceID   string `json:"instanceID"`
	Hostname     string `json:"hostname"`
}

// Network is the VM's NIC.
type Network struct {
	// Mode is user (QEMU user-mode networking) or tap.
	Mode string `json:"mode"`
	// Tap is the host tap device for mode tap. Empty: the node runtime
	// creates the pod's tap and names it in TapEnv, which the launcher
	// then uses (the VM controller cannot know the node's device names).
	Tap string `json:"tap,omitempty"`
	MAC string `json:"mac"`
}

// ConfigEnv is the environment variable carrying the JSON Config.
const ConfigEnv = "DVP_LAUNCHER_CONFIG"

// TapEnv is the environment variable in which the node runtime names the
// tap device it made for the pod (docs/design/networking.md).
const TapEnv = "DVP_NETWORK_TAP"

// Annotations of a launcher pod that ask the node for a real network: the
// VM's leased IPv4 address and its stable MAC. The node plugs a tap into
// its bridge and its DHCP server answers that MAC with that address; pods
// without them keep user-mode networking.
const (
	IPAddressAnnotation  = "network.virtualization.deckhouse.io/ip-address"
	MACAddressAnnotation = "network.virtualization.deckhouse.io/mac-address"
)

// Termination reasons the launcher writes to its termination log (one
// word, then optionally a colon and details); the VM controller applies
// the run policy to them.
const (
	// ReasonGuestShutdown: the guest powered itself off.
	ReasonGuestShutdown = "GuestShutdown"
	// ReasonGuestReset: the guest rebooted; the controller starts a fresh
	// launcher so pending changes apply.
	ReasonGuestReset = "GuestReset"
	// ReasonGuestPanic: the guest kernel panicked (pvpanic).
	ReasonGuestPanic = "GuestPanic"
	// ReasonHostShutdown: the launcher was asked to stop (pod deleted).
	ReasonHostShutdown = "HostShutdown"
	// ReasonQEMUExited: QEMU died without saying why (killed, crashed).
	ReasonQEMUExited = "QEMUExited"
	// ReasonFailed: the launcher could not start QEMU (bad config, missing
	// disk, no firmware).
	ReasonFailed = "LauncherFailed"
)

// Values of the Config fields that take one of a few words.
const (
	OSGeneric = "Generic"
	OSWindows = "Windows"
	OSLegacy  = "Legacy"

	BootBIOS          = "BIOS"
	BootEFI           = "EFI"
	BootEFISecureBoot = "EFIWithSecureBoot"

	CPUHost            = "Host"
	CPUHostPassthrough = "HostPassthrough"
	CPUDiscovery       = "Discovery"
	CPUModel           = "Model"
	CPUFeatures        = "Features"

	NetworkUser = "user"
	NetworkTap  = "tap"

	FormatRaw   = "raw"
	FormatQcow2 = "qcow2"

	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"

	KindVirtualDisk = "VirtualDisk"
)
