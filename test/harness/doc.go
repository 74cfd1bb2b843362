// Package harness starts real `dvp server` processes for end-to-end tests and
// drives them with the real kubectl.
//
// When the tests run as root, each server gets a fresh network namespace with
// an interface carrying its node address, so servers never touch the
// machine's own network and several can run side by side on default ports.
// Without root the server runs in the current namespace on free loopback
// ports. Every process the harness starts is stopped in t.Cleanup.
//
// The harness never links the control plane: it runs the built binaries from
// DVP_BIN_DIR (default: bin/ at the repository root, made by `make build`).
package harness
