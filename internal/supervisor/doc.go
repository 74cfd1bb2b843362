// Package supervisor runs one container process of a pod on behalf of the
// node runtime, and outlives it.
//
// The node runtime starts `dvp-worker supervise DIR` in a session of its own.
// Everything the runtime needs later is a file in DIR, written atomically: the
// spec it was given, its own identity (PID, process start time, boot id), and
// the child's state (running, exited with code and termination message,
// restarts). A runtime that restarts after a crash reads DIR, checks that the
// identity still names a live process, and adopts it instead of starting a
// second copy. Output goes to DIR/log, never to a pipe into the runtime.
//
// The package is linked into the lean dvp-worker binary: it must not import
// Kubernetes packages.
package supervisor
