package qmp

import "errors"

// ErrClosed is returned for commands on a connection that has ended (QEMU
// exited, or Close).
var ErrClosed = errors.New("QMP connection closed")

// Error is QEMU's error reply to a command: {"error": {"class", "desc"}}.
// Commands return it wrapped; errors.As finds it.
type Error struct {
	// Class is QEMU's error class, e.g. GenericError, CommandNotFound,
	// DeviceNotFound.
	Class string `json:"class"`
	// Desc is QEMU's message, a sentence for people.
	Desc string `json:"desc"`
}

func (e *Error) Error() string { return e.Desc + " (" + e.Class + ")" }

// Error classes QEMU sends.
const (
	ClassGenericError    = "GenericError"
	ClassCommandNotFound = "CommandNotFound"
	ClassDeviceNotFound  = "DeviceNotFound"
)
