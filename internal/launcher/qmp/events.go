package qmp

import (
	"encoding/json"
	"time"
)

// Event is a QMP event.
type Event struct {
	Name string
	// Data is the event's data as QEMU sent it; nil when it has none.
	Data      json.RawMessage
	Timestamp time.Time
	// Payload is Data decoded, for the events this package knows: a value
	// of one of the ...Event types (ShutdownEvent for SHUTDOWN, ...). It is nil
	// for any other event, and when Data does not decode as the event's
	// type; Data is there either way.
	Payload EventPayload
}

// EventPayload is the decoded data of a known event. Consumers take it
// apart with a type switch.
type EventPayload interface {
	// EventName is the QMP name of the event, e.g. "SHUTDOWN".
	EventName() string
}

// Names of the events with a Payload.
const (
	EventShutdown      = "SHUTDOWN"
	EventReset         = "RESET"
	EventPowerdown     = "POWERDOWN"
	EventStop          = "STOP"
	EventResume        = "RESUME"
	EventSuspend       = "SUSPEND"
	EventWakeup        = "WAKEUP"
	EventGuestPanicked = "GUEST_PANICKED"
	EventBlockIOError  = "BLOCK_IO_ERROR"
	EventDeviceDeleted = "DEVICE_DELETED"
	EventMigration     = "MIGRATION"
)

// ShutdownEvent: QEMU is shutting down, because of the guest or the host;
// it exits next unless told otherwise (-action).
type ShutdownEvent struct {
	// Guest is true when the guest caused it.
	Guest bool `json:"guest"`
	// Reason is QEMU's ShutdownCause, e.g. guest-shutdown, guest-reset,
	// guest-panic, host-qmp-quit, host-signal.
	Reason string `json:"reason"`
}

// ResetEvent: the machine was reset (with -action reboot=shutdown a guest
// reboot is a SHUTDOWN instead).
type ResetEvent struct {
	Guest  bool   `json:"guest"`
	Reason string `json:"reason"`
}

// PowerdownEvent: the ACPI power button was pressed (system_powerdown).
type PowerdownEvent struct{}

// StopEvent: the vCPUs stopped (paused, I/O error, migration).
type StopEvent struct{}

// ResumeEvent: the vCPUs run again.
type ResumeEvent struct{}

// SuspendEvent: the guest entered S3 sleep.
type SuspendEvent struct{}

// WakeupEvent: the guest left S3 sleep.
type WakeupEvent struct{}

// GuestPanickedEvent: the guest reported a panic (pvpanic, Hyper-V).
type GuestPanickedEvent struct {
	// Action is what QEMU does about it: pause, poweroff or run.
	Action string `json:"action"`
	// Info is the guest's panic information, when it gave any; its shape
	// depends on "type" (hyper-v, s390).
	Info json.RawMessage `json:"info,omitempty"`
}

// BlockIOErrorEvent: a disk read or write failed.
type BlockIOErrorEvent struct {
	// Device is the drive's name; empty for -blockdev nodes, which
	// NodeName names.
	Device   string `json:"device"`
	NodeName string `json:"node-name,omitempty"`
	// Operation is read or write.
	Operation string `json:"operation"`
	// Action is what QEMU did: ignore, report or stop (the guest paused).
	Action string `json:"action"`
	// NoSpace says the error was ENOSPC: a full volume.
	NoSpace bool `json:"nospace,omitempty"`
	// Reason is the error, e.g. "No space left on device".
	Reason string `json:"reason"`
}

// DeviceDeletedEvent: the guest released a device after device_del, or a
// device went away. Device is the id it was added with (empty for devices
// without one); Path its QOM path.
type DeviceDeletedEvent struct {
	Device string `json:"device,omitempty"`
	Path   string `json:"path"`
}

// MigrationEvent: the outgoing or incoming migration changed status (one
// of the Migration* statuses).
type MigrationEvent struct {
	Status string `json:"status"`
}

func (ShutdownEvent) EventName() string      { return EventShutdown }
func (ResetEvent) EventName() string         { return EventReset }
func (PowerdownEvent) EventName() string     { return EventPowerdown }
func (StopEvent) EventName() string          { return EventStop }
func (ResumeEvent) EventName() string        { return EventResume }
func (SuspendEvent) EventName() string       { return EventSuspend }
func (WakeupEvent) EventName() string        { return EventWakeup }
func (GuestPanickedEvent) EventName() string { return EventGuestPanicked }
func (BlockIOErrorEvent) EventName() string  { return EventBlockIOError }
func (DeviceDeletedEvent) EventName() string { return EventDeviceDeleted }
func (MigrationEvent) EventName() string     { return EventMigration }

// decodePayload decodes the data of the events in the table; nil for
// others and for data that does not fit.
func decodePayload(name string, data json.RawMessage) EventPayload {
	switch name {
	case EventShutdown:
		return decodeAs[ShutdownEvent](data)
	case EventReset:
		return decodeAs[ResetEvent](data)
	case EventPowerdown:
		return PowerdownEvent{}
	case EventStop:
		return StopEvent{}
	case EventResume:
		return ResumeEvent{}
	case EventSuspend:
		return SuspendEvent{}
	case EventWakeup:
		return WakeupEvent{}
	case EventGuestPanicked:
		return decodeAs[GuestPanickedEvent](data)
	case EventBlockIOError:
		return decodeAs[BlockIOErrorEvent](data)
	case EventDeviceDeleted:
		return decodeAs[DeviceDeletedEvent](data)
	case EventMigration:
		return decodeAs[MigrationEvent](data)
	}
	return nil
}

// decodeAs decodes data as T; no data at all is T's zero value (QEMU omits
// data made only of optional members).
func decodeAs[T EventPayload](data json.RawMessage) EventPayload {
	var v T
	if len(data) == 0 {
		return v
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil
	}
	return v
}
