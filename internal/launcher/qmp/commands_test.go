package qmp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
	"github.com/virtlab/dvp/internal/launcher/qmp/qmptest"
)

// dial connects a client to a new fake monitor.
func dial(t *testing.T, opts ...qmp.Option) (*qmp.Client, *qmptest.Server, context.Context) {
	t.Helper()
	srv := qmptest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, err := qmp.Dial(ctx, srv.Path(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, srv, ctx
}

// sameJSON compares two JSON texts, ignoring layout and key order.
func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	if want == "" {
		return len(got) == 0
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("sent %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// TestCommands runs each typed method against the fake: the command and
// arguments sent, and the reply decoded.
func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		command string
		reply   any    // the fake's return value
		args    string // the arguments expected, "" for none
		call    func(ctx context.Context, c *qmp.Client) (any, error)
		want    any // what call returns besides the error
	}{{
		name: "query-status", command: "query-status",
		reply: map[string]any{"status": "io-error", "running": false, "singlestep": false},
		call:  func(ctx context.Context, c *qmp.Client) (any, error) { return c.QueryStatus(ctx) },
		want:  qmp.Status{Running: false, Status: qmp.RunIOError},
	}, {
		name: "query-version", command: "query-version",
		reply: map[string]any{"qemu": map[string]int{"major": 8, "minor": 2, "micro": 1}, "package": "Debian 1:8.2.1+ds-1"},
		call:  func(ctx context.Context, c *qmp.Client) (any, error) { return c.QueryVersion(ctx) },
		want:  qmp.Version{Major: 8, Minor: 2, Micro: 1, Package: "Debian 1:8.2.1+ds-1"},
	}, {
		name: "system_powerdown", command: "system_powerdown",
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.SystemPowerdown(ctx) },
	}, {
		name: "cont", command: "cont",
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.Cont(ctx) },
	}, {
		name: "quit", command: "quit",
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.Quit(ctx) },
	}, {
		name: "block_resize", command: "block_resize",
		args: `{"node-name": "disk0", "size": 34359738368}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.BlockResize(ctx, "disk0", 32<<30) },
	}, {
		name: "blockdev-add file", command: "blockdev-add",
		args: `{"driver": "file", "node-name": "file3", "filename": "/dev/disks/d,1", "aio": "threads",
			"cache": {"direct": false, "no-flush": false}, "discard": "unmap"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.BlockdevAdd(ctx, qmp.BlockdevOptions{Driver: "file", NodeName: "file3", Filename: "/dev/disks/d,1",
				AIO: "threads", Cache: &qmp.BlockdevCache{}, Discard: "unmap"})
		},
	}, {
		name: "blockdev-add qcow2 without backing", command: "blockdev-add",
		args: `{"driver": "qcow2", "node-name": "disk3", "file": "file3", "read-only": true, "backing": null}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.BlockdevAdd(ctx, qmp.BlockdevOptions{Driver: "qcow2", NodeName: "disk3", File: "file3", ReadOnly: true, Backing: &qmp.BackingRef{}})
		},
	}, {
		name: "blockdev-add qcow2 on a base", command: "blockdev-add",
		args: `{"driver": "qcow2", "node-name": "disk3", "file": "file3", "backing": "base3"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.BlockdevAdd(ctx, qmp.BlockdevOptions{Driver: "qcow2", NodeName: "disk3", File: "file3", Backing: &qmp.BackingRef{Node: "base3"}})
		},
	}, {
		name: "blockdev-del", command: "blockdev-del",
		args: `{"node-name": "disk3"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.BlockdevDel(ctx, "disk3") },
	}, {
		name: "device_add", command: "device_add",
		args: `{"driver": "scsi-hd", "id": "dev3", "bus": "scsi0.0", "drive": "disk3", "scsi-id": 3, "serial": "data"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.DeviceAdd(ctx, qmp.DeviceOptions{Driver: "scsi-hd", ID: "dev3", Bus: "scsi0.0",
				Props: map[string]any{"drive": "disk3", "scsi-id": 3, "serial": "data", "id": "not this"}})
		},
	}, {
		name: "device_add without id or bus", command: "device_add",
		args: `{"driver": "virtio-balloon-pci"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.DeviceAdd(ctx, qmp.DeviceOptions{Driver: "virtio-balloon-pci"})
		},
	}, {
		name: "device_del", command: "device_del",
		args: `{"id": "dev3"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return nil, c.DeviceDel(ctx, "dev3") },
	}, {
		name: "migrate", command: "migrate",
		args: `{"uri": "unix:/run/dvp/migrate.sock"}`,
		call: func(ctx context.Context, c *qmp.Client) (any, error) {
			return nil, c.Migrate(ctx, qmp.MigrateArgs{URI: "unix:/run/dvp/migrate.sock"})
		},
	}, {
		name: "query-migrate", command: "query-migrate",
		reply: map[string]any{"status": "active", "total-time": 1500, "expected-downtime": 300, "setup-time": 12,
			"ram": map[string]any{"transferred": 1 << 20, "remaining": 3 << 20, "total": 4 << 20, "dirty-pages-rate": 10, "dirty-sync-count": 2, "mbps": 268.5, "normal": 256}},
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return c.QueryMigrate(ctx) },
		want: qmp.MigrationInfo{Status: qmp.MigrationActive, TotalTimeMs: 1500, ExpectedDowntimeMs: 300, SetupTimeMs: 12,
			RAM: &qmp.MigrationRAM{Transferred: 1 << 20, Remaining: 3 << 20, Total: 4 << 20, DirtyPagesRate: 10, DirtySyncCount: 2, Mbps: 268.5}},
	}, {
		name: "query-migrate before any", command: "query-migrate",
		call: func(ctx context.Context, c *qmp.Client) (any, error) { return c.QueryMigrate(ctx) },
		want: qmp.MigrationInfo{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, ctx := dial(t)
			if tc.command != "quit" {
				srv.Reply(tc.command, tc.reply)
			}
			got, err := tc.call(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("returned %+v, want %+v", got, tc.want)
			}
			calls := srv.Calls()
			if len(calls) != 2 || calls[0].Command != "qmp_capabilities" {
				t.Fatalf("calls %+v, want qmp_capabilities and %s", calls, tc.command)
			}
			sent := calls[1]
			if sent.Command != tc.command || !sameJSON(t, sent.Args, tc.args) {
				t.Errorf("sent %s, want %s with arguments %s", sent.Line, tc.command, tc.args)
			}
			if !bytes.HasPrefix(sent.ID, []byte(`"dvp-`)) {
				t.Errorf("id %s", sent.ID)
			}
		})
	}
}

// TestCommandErrors: QEMU's error reply is a *qmp.Error, wrapped with the
// command's name.
func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		command, class, desc string
		call                 func(ctx context.Context, c *qmp.Client) error
	}{
		{"block_resize", qmp.ClassGenericError, "Cannot find device='' nor node-name='nope'",
			func(ctx context.Context, c *qmp.Client) error { return c.BlockResize(ctx, "nope", 1<<20) }},
		{"device_del", qmp.ClassDeviceNotFound, "Device 'dev9' not found",
			func(ctx context.Context, c *qmp.Client) error { return c.DeviceDel(ctx, "dev9") }},
		{"blockdev-del", qmp.ClassGenericError, "Node disk3 is in use",
			func(ctx context.Context, c *qmp.Client) error { return c.BlockdevDel(ctx, "disk3") }},
		{"migrate", qmp.ClassGenericError, "Guest is not running",
			func(ctx context.Context, c *qmp.Client) error {
				return c.Migrate(ctx, qmp.MigrateArgs{URI: "tcp:10.0.0.2:4444"})
			}},
		{"query-status", qmp.ClassGenericError, "went wrong",
			func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryStatus(ctx); return err }},
	} {
		t.Run(tc.command, func(t *testing.T) {
			c, srv, ctx := dial(t)
			srv.Fail(tc.command, tc.class, tc.desc)
			err := tc.call(ctx, c)
			var qerr *qmp.Error
			if !errors.As(err, &qerr) || qerr.Class != tc.class || qerr.Desc != tc.desc {
				t.Fatalf("error %v, want %s %q", err, tc.class, tc.desc)
			}
			if !strings.Contains(err.Error(), "QMP "+tc.command+": ") {
				t.Errorf("error %q does not name the command", err)
			}
		})
	}

	// A command QEMU does not know.
	c, _, ctx := dial(t)
	_, err := c.Execute(ctx, "no-such-command", nil)
	var qerr *qmp.Error
	if !errors.As(err, &qerr) || qerr.Class != qmp.ClassCommandNotFound {
		t.Errorf("unknown command: %v", err)
	}
	// A reply that does not fit the typed result.
	c2, srv2, ctx2 := dial(t)
	srv2.Reply("query-status", []int{1, 2})
	if _, err := c2.QueryStatus(ctx2); err == nil || !strings.Contains(err.Error(), "decoding the reply") {
		t.Errorf("bad reply: %v", err)
	}
}
