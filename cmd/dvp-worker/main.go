// Command dvp-worker is the lean binary for processes that run once per VM or
// per import (launcher, importer, uploader) and for the per-pod supervisor.
// It must never link the Kubernetes control plane: every linked package's
// init() runs in every one of these processes. A test in this directory
// enforces that.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/virtlab/dvp/internal/supervisor"
	"github.com/virtlab/dvp/internal/version"
)

const usage = `usage: dvp-worker <command>

commands:
  version               print the version
  supervise DIR         run the container described in DIR (used by the node runtime)
  idle                  block until SIGTERM or SIGINT
  exit CODE [MESSAGE]   write MESSAGE as the termination message and exit with CODE
  fill                  write an image from DVCR onto a disk volume (the vd-importer pod)
  import                copy a disk image into DVCR, configured by IMPORTER_* variables
                        (IMPORTER_SOURCE http|registry|dvcr|volume, IMPORTER_URL, IMPORTER_DEST,
                        IMPORTER_VOLUME_MODE Block|Filesystem for volume, ...)
  launch                run a VM's QEMU (the d8v-compute container of a launcher pod),
                        configured by DVP_LAUNCHER_CONFIG, DVP_RUN_DIR, DVP_GRACE_SECONDS, ...
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println(version.Version)
	case "supervise":
		if len(os.Args) != 3 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		if err := supervisor.Run(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "dvp-worker supervise: %v\n", err)
			os.Exit(1)
		}
	case "idle":
		fmt.Println("idle: waiting for SIGTERM")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		s := <-sig
		fmt.Printf("idle: got %v, exiting\n", s)
	case "exit":
		exitWith(os.Args[2:])
	case "import":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := runImport(ctx, os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	case "launch":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := runLaunch(ctx, os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	case "fill":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := runFill(ctx, os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "dvp-worker: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

// exitWith lets tests and users check how a failing pod is reported.
func exitWith(args []string) {
	if len(args) < 1 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "dvp-worker exit: %q is not an exit code\n", args[0])
		os.Exit(2)
	}
	if len(args) > 1 {
		fmt.Fprintln(os.Stderr, args[1])
		if p := os.Getenv("DVP_TERMINATION_LOG"); p != "" {
			_ = os.WriteFile(p, []byte(args[1]), 0o644)
		}
	}
	os.Exit(code)
}
