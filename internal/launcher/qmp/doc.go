// Package qmp is a client of the QEMU Machine Protocol, the JSON monitor the
// launcher drives QEMU with.
//
// A Client owns one connection. One reader goroutine reads every line QEMU
// sends and tells replies, matched to their command by id, from
// asynchronous events, which queue without bound on Events so that a slow
// consumer never stalls a reply. Every call takes a context. Each command
// the platform uses has a typed method (QueryStatus, BlockResize,
// DeviceAdd, Migrate, ...); Execute runs any other. Events the platform
// reacts to carry their data decoded (ShutdownEvent, BlockIOErrorEvent,
// ...); any other event arrives with its raw data only.
//
// WithTranscript copies every line sent and received, timestamped and
// marked with its direction, to a writer: a per-VM record for debugging.
//
// The package does not log, and links nothing of Kubernetes: it runs in
// the lean per-VM binary. Package qmptest is a fake QEMU monitor for tests.
package qmp
