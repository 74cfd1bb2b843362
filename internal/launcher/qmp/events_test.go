package qmp_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

// TestEventPayloads: the events the platform reacts to arrive decoded; any
// other, and a known one whose data does not fit, arrive raw.
func TestEventPayloads(t *testing.T) {
	for _, tc := range []struct {
		name string
		data any
		want qmp.EventPayload
	}{
		{"SHUTDOWN", map[string]any{"guest": true, "reason": "guest-reset"}, qmp.ShutdownEvent{Guest: true, Reason: "guest-reset"}},
		{"RESET", map[string]any{"guest": false, "reason": "host-qmp-system-reset"}, qmp.ResetEvent{Reason: "host-qmp-system-reset"}},
		{"POWERDOWN", nil, qmp.PowerdownEvent{}},
		{"STOP", nil, qmp.StopEvent{}},
		{"RESUME", nil, qmp.ResumeEvent{}},
		{"SUSPEND", nil, qmp.SuspendEvent{}},
		{"WAKEUP", nil, qmp.WakeupEvent{}},
		{"GUEST_PANICKED", map[string]any{"action": "pause", "info": map[string]any{"type": "hyper-v", "arg1": 1}},
			qmp.GuestPanickedEvent{Action: "pause", Info: json.RawMessage(`{"arg1":1,"type":"hyper-v"}`)}},
		{"GUEST_PANICKED", map[string]any{"action": "poweroff"}, qmp.GuestPanickedEvent{Action: "poweroff"}},
		{"BLOCK_IO_ERROR", map[string]any{"device": "", "node-name": "disk0", "operation": "write", "action": "stop", "nospace": true, "reason": "No space left on device"},
			qmp.BlockIOErrorEvent{NodeName: "disk0", Operation: "write", Action: "stop", NoSpace: true, Reason: "No space left on device"}},
		{"DEVICE_DELETED", map[string]any{"device": "dev3", "path": "/machine/peripheral/dev3"}, qmp.DeviceDeletedEvent{Device: "dev3", Path: "/machine/peripheral/dev3"}},
		{"DEVICE_DELETED", map[string]any{"path": "/machine/peripheral-anon/device[2]/virtio-backend"}, qmp.DeviceDeletedEvent{Path: "/machine/peripheral-anon/device[2]/virtio-backend"}},
		{"MIGRATION", map[string]any{"status": "completed"}, qmp.MigrationEvent{Status: qmp.MigrationCompleted}},
		{"MIGRATION_PASS", map[string]any{"pass": 2}, nil},
		{"SHUTDOWN", map[string]any{"guest": "yes"}, nil}, // does not fit
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, ctx := dial(t)
			if err := srv.Event(tc.name, tc.data); err != nil {
				t.Fatal(err)
			}
			var ev qmp.Event
			select {
			case ev = <-c.Events():
			case <-ctx.Done():
				t.Fatal("no event")
			}
			if ev.Name != tc.name {
				t.Errorf("name %q", ev.Name)
			}
			if !reflect.DeepEqual(ev.Payload, tc.want) {
				t.Errorf("payload %#v, want %#v", ev.Payload, tc.want)
			}
			if tc.want != nil && tc.want.EventName() != tc.name {
				t.Errorf("%T names itself %s", tc.want, tc.want.EventName())
			}
			if (tc.data == nil) != (ev.Data == nil) {
				t.Errorf("data %s", ev.Data)
			}
			if ev.Timestamp.IsZero() || time.Since(ev.Timestamp) > time.Minute {
				t.Errorf("timestamp %v", ev.Timestamp)
			}
		})
	}
}
