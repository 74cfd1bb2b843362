package qmp

import (
	"context"
	"encoding/json"
	"fmt"
)

// run executes a command whose return value carries nothing.
func (c *Client) run(ctx context.Context, cmd string, args any) error {
	_, err := c.Execute(ctx, cmd, args)
	return err
}

// call executes a command and decodes its return value into out.
func (c *Client) call(ctx context.Context, cmd string, args, out any) error {
	raw, err := c.Execute(ctx, cmd, args)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("QMP %s: decoding the reply: %w", cmd, err)
	}
	return nil
}

// QueryVersion is query-version: the running QEMU's version, with the
// distribution's build in Package.
func (c *Client) QueryVersion(ctx context.Context) (Version, error) {
	var v versionInfo
	if err := c.call(ctx, "query-version", nil, &v); err != nil {
		return Version{}, err
	}
	return v.version(), nil
}

// Status is the reply to query-status.
type Status struct {
	// Running says the vCPUs run.
	Running bool `json:"running"`
	// Status is QEMU's RunState, one of the Run* constants.
	Status string `json:"status"`
}

// QEMU's run states (Status.Status) the platform tells apart.
const (
	RunRunning       = "running"
	RunPaused        = "paused"
	RunIOError       = "io-error"
	RunShutdown      = "shutdown"
	RunSuspended     = "suspended"
	RunPrelaunch     = "prelaunch"
	RunInMigrate     = "inmigrate"
	RunPostMigrate   = "postmigrate"
	RunFinishMigrate = "finish-migrate"
	RunGuestPanicked = "guest-panicked"
	RunInternalError = "internal-error"
)

// QueryStatus is query-status: whether the vCPUs run, and QEMU's run state.
func (c *Client) QueryStatus(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, "query-status", nil, &st)
	return st, err
}

// SystemPowerdown is system_powerdown: a press of the ACPI power button.
// The guest decides what to do about it.
func (c *Client) SystemPowerdown(ctx context.Context) error {
	return c.run(ctx, "system_powerdown", nil)
}

// Quit is quit: QEMU stops the guest and exits. QEMU hangs up right after
// its reply, so a reply lost to the hang-up comes back as ErrClosed.
func (c *Client) Quit(ctx context.Context) error {
	return c.run(ctx, "quit", nil)
}

// Cont is cont: the vCPUs run again (after a pause or an I/O error, whose
// failed request is retried).
func (c *Client) Cont(ctx context.Context) error {
	return c.run(ctx, "cont", nil)
}

// BlockResize is block_resize of a -blockdev format node: the disk's
// virtual size becomes size bytes, and the guest is told.
func (c *Client) BlockResize(ctx context.Context, node string, size int64) error {
	return c.run(ctx, "block_resize", struct {
		NodeName string `json:"node-name"`
		Size     int64  `json:"size"`
	}{node, size})
}

// BlockdevOptions are the arguments of blockdev-add for the drivers the
// platform uses: a protocol node (file, host_device) opens Filename; a
// format node (raw, qcow2) reads the node named File.
type BlockdevOptions struct {
	Driver   string         `json:"driver"`
	NodeName string         `json:"node-name"`
	ReadOnly bool           `json:"read-only,omitempty"`
	Discard  string         `json:"discard,omitempty"` // ignore or unmap
	Cache    *BlockdevCache `json:"cache,omitempty"`

	// Protocol nodes.
	Filename string `json:"filename,omitempty"`
	AIO      string `json:"aio,omitempty"` // threads, native, io_uring

	// Format nodes.
	File string `json:"file,omitempty"`
	// Backing is a qcow2 node's backing node. Leave it nil only for an
	// image whose header is trusted: &BackingRef{} is "no backing" (JSON
	// null), so QEMU never opens a file named inside the image.
	Backing *BackingRef `json:"backing,omitempty"`
}

// BlockdevCache is the cache mode of a node.
type BlockdevCache struct {
	Direct  bool `json:"direct"`
	NoFlush bool `json:"no-flush"`
}

// BackingRef names the backing node of a qcow2 node; the zero BackingRef
// is null, no backing at all.
type BackingRef struct {
	Node string
}

// MarshalJSON is the node name, or null.
func (b BackingRef) MarshalJSON() ([]byte, error) {
	if b.Node == "" {
		return []byte("null"), nil
	}
	return json.Marshal(b.Node)
}

// BlockdevAdd is blockdev-add: a new block node, which a device can then
// use as its drive.
func (c *Client) BlockdevAdd(ctx context.Context, opts BlockdevOptions) error {
	return c.run(ctx, "blockdev-add", opts)
}

// BlockdevDel is blockdev-del: removes a node no device or node uses.
func (c *Client) BlockdevDel(ctx context.Context, node string) error {
	return c.run(ctx, "blockdev-del", struct {
		NodeName string `json:"node-name"`
	}{node})
}

// DeviceOptions are the arguments of device_add: the device model, its
// id, its bus and the model's own properties (e.g. "drive", "serial",
// "scsi-id").
type DeviceOptions struct {
	Driver string
	ID     string
	Bus    string
	// Props are sent beside driver, id and bus, which they cannot
	// override.
	Props map[string]any
}

// MarshalJSON flattens Props into the object, as device_add wants them.
func (d DeviceOptions) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Props)+3)
	for k, v := range d.Props {
		m[k] = v
	}
	m["driver"] = d.Driver
	if d.ID != "" {
		m["id"] = d.ID
	} else {
		delete(m, "id")
	}
	if d.Bus != "" {
		m["bus"] = d.Bus
	} else {
		delete(m, "bus")
	}
	return json.Marshal(m)
}

// DeviceAdd is device_add: plugs a device into the running machine.
func (c *Client) DeviceAdd(ctx context.Context, dev DeviceOptions) error {
	return c.run(ctx, "device_add", dev)
}

// DeviceDel is device_del: asks the guest to release the device with id.
// The reply only says the request went out; DEVICE_DELETED says it is gone.
func (c *Client) DeviceDel(ctx context.Context, id string) error {
	return c.run(ctx, "device_del", struct {
		ID string `json:"id"`
	}{id})
}

// MigrateArgs are the arguments of migrate.
type MigrateArgs struct {
	// URI is where the migration stream goes, e.g. "unix:/path" or
	// "tcp:host:port".
	URI string `json:"uri"`
	// Resume continues a paused postcopy migration.
	Resume bool `json:"resume,omitempty"`
}

// Migrate is migrate: starts sending the machine to args.URI. It returns
// once the migration started; MIGRATION events and QueryMigrate follow it.
func (c *Client) Migrate(ctx context.Context, args MigrateArgs) error {
	return c.run(ctx, "migrate", args)
}

// Migration statuses (MigrationInfo.Status, MigrationEvent.Status).
const (
	MigrationNone           = "none"
	MigrationSetup          = "setup"
	MigrationActive         = "active"
	MigrationPostcopyActive = "postcopy-active"
	MigrationPreSwitchover  = "pre-switchover"
	MigrationDevice         = "device"
	MigrationCompleted      = "completed"
	MigrationFailed         = "failed"
	MigrationCancelling     = "cancelling"
	MigrationCancelled      = "cancelled"
)

// MigrationInfo is the reply to query-migrate. Times are milliseconds.
type MigrationInfo struct {
	// Status is empty before any migration, else a Migration* status.
	Status             string        `json:"status,omitempty"`
	RAM                *MigrationRAM `json:"ram,omitempty"`
	TotalTimeMs        int64         `json:"total-time,omitempty"`
	ExpectedDowntimeMs int64         `json:"expected-downtime,omitempty"`
	DowntimeMs         int64         `json:"downtime,omitempty"`
	SetupTimeMs        int64         `json:"setup-time,omitempty"`
	ErrorDesc          string        `json:"error-desc,omitempty"`
}

// MigrationRAM is the progress of the guest memory's transfer, in bytes.
type MigrationRAM struct {
	Transferred    int64   `json:"transferred"`
	Remaining      int64   `json:"remaining"`
	Total          int64   `json:"total"`
	DirtyPagesRate int64   `json:"dirty-pages-rate"`
	DirtySyncCount int64   `json:"dirty-sync-count"`
	Mbps           float64 `json:"mbps"`
}

// QueryMigrate is query-migrate: the status and progress of the current or
// last outgoing migration.
func (c *Client) QueryMigrate(ctx context.Context) (MigrationInfo, error) {
	var mi MigrationInfo
	err := c.call(ctx, "query-migrate", nil, &mi)
	return mi, err
}
