// Command dvp-worker is the lean binary for processes that run once per VM or
// per import (launcher, importer, uploader). It must never link the
// Kubernetes control plane: every linked package's init() runs in every one of
// these processes. A test in this directory enforces that.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/virtlab/dvp/internal/version"
)

const usage = `usage: dvp-worker <command>

commands:
  version   print the version
  idle      block until SIGTERM or SIGINT (a stand-in process for footprint measurements)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println(version.Version)
	case "idle":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	default:
		fmt.Fprintf(os.Stderr, "dvp-worker: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
