package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/launcher"
)

// runLaunch is `dvp-worker launch`, the d8v-compute container of a VM's
// launcher pod: it runs the VM described by DVP_LAUNCHER_CONFIG until QEMU
// exits. A tap NIC without a device name takes DVP_NETWORK_TAP, the tap
// the node runtime made for the pod. Cancelling ctx (SIGTERM, SIGINT) asks the guest to power off
// within the pod's grace period (DVP_GRACE_SECONDS, default 60). DVP_ACCEL
// (auto, kvm, tcg) overrides the configuration's accelerator; DVP_RUN_DIR
// is where sockets and state go. The termination log (DVP_TERMINATION_LOG)
// gets "Reason: message".
func runLaunch(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	root := getenv("DVP_ROOT")
	env := launcher.RunEnv{
		Root:            root,
		RunDir:          getenv("DVP_RUN_DIR"),
		TerminationLog:  getenv("DVP_TERMINATION_LOG"),
		DVCRCredentials: getenv(image.DVCRCredentialsEnv),
		Stdout:          stdout,
		Stderr:          stderr,
		QEMU:            getenv("DVP_QEMU"),
		QEMUUser:        getenv("DVP_QEMU_USER"),
	}
	// DVP_QMP_TRANSCRIPT=1 records the QMP conversation in the run
	// directory (qmp.log), for debugging one VM.
	env.QMPTranscript, _ = strconv.ParseBool(getenv("DVP_QMP_TRANSCRIPT"))
	if env.TerminationLog == "" {
		env.TerminationLog = resolvePath(root, "/dev/termination-log")
	}
	failLaunch := func(err error) int {
		o := launcher.Outcome{Reason: launcher.ReasonFailed, Message: err.Error()}
		fmt.Fprintf(stderr, "launch: %s\n", o)
		if env.TerminationLog != "" {
			_ = os.WriteFile(env.TerminationLog, []byte(o.String()+"\n"), 0o644)
		}
		return o.ExitCode()
	}
	if s := getenv("DVP_GRACE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return failLaunch(fmt.Errorf("DVP_GRACE_SECONDS=%q is not a number of seconds", s))
		}
		env.Grace = time.Duration(n) * time.Second
	}
	if d := getenv("DVP_OVMF_DIR"); d != "" {
		env.FirmwareDirs = []string{d}
	}
	raw := getenv(launcher.ConfigEnv)
	if raw == "" {
		return failLaunch(fmt.Errorf("%s is empty", launcher.ConfigEnv))
	}
	var cfg launcher.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return failLaunch(fmt.Errorf("%s: %w", launcher.ConfigEnv, err))
	}
	if a := getenv("DVP_ACCEL"); a != "" {
		cfg.Accel = a
	}
	// The VM controller cannot know the node's device names: a tap NIC
	// without one uses the tap the node made for this pod.
	if n := cfg.Network; n != nil && n.Mode == launcher.NetworkTap && n.Tap == "" {
		n.Tap = getenv(launcher.TapEnv)
		if n.Tap == "" {
			return failLaunch(fmt.Errorf("network mode %s names no tap device and %s is empty: the node did not set up this pod's network", launcher.NetworkTap, launcher.TapEnv))
		}
	}
	if env.RunDir == "" {
		return failLaunch(fmt.Errorf("DVP_RUN_DIR is empty"))
	}
	o := launcher.Run(ctx, cfg, env)
	return o.ExitCode()
}
