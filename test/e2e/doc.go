// Package e2e holds end-to-end tests: real `dvp server` processes (started by
// test/harness, each in its own network namespace when run as root), driven by
// the real kubectl, asserting what a user would see.
package e2e
