package launcher

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Outcome is how a launcher run ended: Reason is one of the Reason*
// constants, Message a sentence for people.
type Outcome struct {
	Reason  string
	Message string
}

// String is the termination message: "Reason: message".
func (o Outcome) String() string {
	if o.Message == "" {
		return o.Reason
	}
	return o.Reason + ": " + o.Message
}

// ExitCode is the launcher's exit status: 0 when the VM ended the way a
// VM may end (powered off, rebooted, stopped on request), 1 otherwise.
func (o Outcome) ExitCode() int {
	switch o.Reason {
	case ReasonGuestShutdown, ReasonGuestReset, ReasonHostShutdown:
		return 0
	}
	return 1
}

func failed(format string, args ...any) Outcome {
	return Outcome{Reason: ReasonFailed, Message: fmt.Sprintf(format, args...)}
}

// stoppedBeforeStart is the outcome of a stop request that came before
// the guest ran.
func stoppedBeforeStart() Outcome {
	return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request before the VM started"}
}

// outcome decides how the run ended, once QEMU has exited. Events still
// in flight are read first: QEMU reports the SHUTDOWN before it exits.
func (r *runner) outcome() Outcome {
	if r.qmp != nil {
		timeout := time.After(3 * time.Second)
	drain:
		for {
			select {
			case ev, ok := <-r.qmp.Events():
				if !ok {
					break drain
				}
				r.handle(ev)
			case <-timeout:
				break drain
			}
		}
	}
	exit := r.proc.describe()
	switch {
	case r.panicked != "" || r.shutdown == "guest-panic":
		msg := r.panicked
		if msg == "" {
			msg = "the guest kernel panicked"
		}
		return Outcome{Reason: ReasonGuestPanic, Message: msg}
	case r.stopping:
		switch {
		case r.guestDown:
			return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request: the guest powered off"}
		case r.killed:
			return Outcome{Reason: ReasonHostShutdown, Message: fmt.Sprintf("stopped on request: the guest did not power off within %s and QEMU did not quit; %s", max(r.env.Grace-graceMargin, 0), exit)}
		case r.quitSent:
			return Outcome{Reason: ReasonHostShutdown, Message: fmt.Sprintf("stopped on request: the guest did not power off within %s, so QEMU was stopped", max(r.env.Grace-graceMargin, 0))}
		}
		return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request: " + exit}
	}
	switch r.shutdown {
	case "":
	case "guest-shutdown":
		return Outcome{Reason: ReasonGuestShutdown, Message: "the guest powered off"}
	case "guest-reset":
		return Outcome{Reason: ReasonGuestReset, Message: "the guest rebooted"}
	case "host-qmp-quit", "host-signal", "host-ui", "host-qmp-system-reset":
		return Outcome{Reason: ReasonHostShutdown, Message: "QEMU was stopped (" + r.shutdown + ")"}
	default:
		return Outcome{Reason: ReasonQEMUExited, Message: fmt.Sprintf("QEMU shut down (%s): %s", r.shutdown, exit)}
	}
	msg := exit
	if ps := r.proc.cmd.ProcessState; ps != nil && ps.ExitCode() > 0 {
		if tail := lastLines(r.proc.stderr.String(), 3); tail != "" {
			msg += ": " + tail
		}
	}
	return Outcome{Reason: ReasonQEMUExited, Message: msg}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, " "))
}

// finish reports the outcome: the GuestRunning condition, a log line and
// the termination log.
func (r *runner) finish(o Outcome) {
	if r.env.RunDir != "" && exists(r.env.RunDir) {
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateStopped, Message: o.String()})
	}
	r.logf("exiting: %s", o)
	if r.env.TerminationLog != "" {
		msg := o.String()
		if len(msg) > 3000 { // the termination message is cut at 4 KiB
			msg = msg[:3000] + "..."
		}
		if err := os.WriteFile(r.env.TerminationLog, []byte(msg+"\n"), 0o644); err != nil {
			r.logf("writing the termination log: %v", err)
		}
	}
}
