// Package qmptest is a fake QEMU monitor for tests of QMP clients: it
// listens on a unix socket, greets and negotiates capabilities as QEMU
// does, answers each command as the test scripts it (a fixed reply, a QEMU
// error, or a function that may also send events), lets the test inject
// events at any time, and records every command it received.
//
// It serves the qmp package's own tests and the launcher's, where the test
// binary, started as QEMU, plays a whole VM life on it.
package qmptest
