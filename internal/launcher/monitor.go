package launcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

// oPath is O_PATH on Linux, which package syscall does not name.
const oPath = 0x200000

// connect dials QMP (the socket appears shortly after QEMU starts) and
// reports the QEMU version and the guest state.
func (r *runner) connect(ctx context.Context) (Outcome, bool) {
	// The run directory may be too deep for a socket address: dial
	// through /proc/self/fd/N instead, N being an O_PATH descriptor of
	// the directory.
	dirfd, err := syscall.Open(r.env.RunDir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return failed("opening the run directory: %v", err), false
	}
	defer syscall.Close(dirfd)
	path := fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, QMPSocket)
	var opts []qmp.Option
	if r.env.QMPTranscript {
		f, err := os.OpenFile(filepath.Join(r.env.RunDir, QMPTranscriptFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			r.logf("QMP transcript: %v", err)
		} else {
			r.transcript = f
			opts = append(opts, qmp.WithTranscript(f))
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		q, err := qmp.Dial(dctx, path, opts...)
		cancel()
		if err == nil {
			r.qmp = q
			break
		}
		if r.proc.done() {
			return r.outcome(), false
		}
		if ctx.Err() != nil {
			r.stopping = true
			r.proc.terminate(10 * time.Second)
			return stoppedBeforeStart(), false
		}
		if time.Now().After(deadline) {
			return failed("QEMU did not open its QMP socket within 60s: %v", err), false
		}
		select {
		case <-r.proc.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
	qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// query-version has the running binary's package; the greeting is the
	// fallback.
	v, err := r.qmp.QueryVersion(qctx)
	if err != nil {
		v = r.qmp.Version()
	}
	msg := "QEMU " + v.String()
	if p := strings.TrimSpace(v.Package); p != "" {
		msg += " (" + p + ")"
	}
	r.rep.set(Condition{Type: ConditionQEMUVersion, Status: "True", Reason: v.String(), Message: msg})
	r.refreshState()
	return Outcome{}, true
}

// refreshState asks QEMU for the run state and reports it.
func (r *runner) refreshState() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := r.qmp.QueryStatus(ctx)
	if err != nil {
		r.logf("query-status: %v", err)
		return
	}
	switch {
	case st.Running:
		r.setRunning()
	case st.Status == qmp.RunIOError:
		msg := r.ioError
		if msg == "" {
			msg = "a disk I/O error"
		}
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateIOError, Message: "the guest is paused on " + msg})
	case st.Status == qmp.RunShutdown:
		// QEMU is on its way out; the outcome says the rest.
	default:
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StatePaused, Message: "the guest is paused (" + st.Status + ")"})
	}
}

func (r *runner) setRunning() {
	r.ioError = ""
	r.rep.set(Condition{Type: ConditionGuestRunning, Status: "True", Reason: StateRunning, Message: "the guest is running"})
}

// loop follows QEMU until it exits.
func (r *runner) loop(ctx context.Context) Outcome {
	events := r.qmp.Events()
	stopReq := ctx.Done()
	tick := time.NewTicker(r.env.ResizeInterval)
	defer tick.Stop()
	var quitAt, killAt <-chan time.Time
	for {
		select {
		case <-r.proc.exited:
			return r.outcome()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.handle(ev)
		case <-stopReq:
			stopReq = nil
			quitAt = r.requestStop()
		case <-quitAt:
			quitAt = nil
			killAt = r.quit()
		case <-killAt:
			killAt = nil
			r.forceKill()
		case <-tick.C:
			r.checkResize()
		}
	}
}

// handle turns a QMP event into state: the GuestRunning condition, and
// what the outcome needs to know.
func (r *runner) handle(ev qmp.Event) {
	p := ev.Payload
	if p == nil {
		// Data QEMU should never send: act on the name alone.
		switch ev.Name {
		case qmp.EventShutdown:
			p = qmp.ShutdownEvent{}
		case qmp.EventGuestPanicked:
			p = qmp.GuestPanickedEvent{}
		case qmp.EventBlockIOError:
			p = qmp.BlockIOErrorEvent{}
		}
	}
	switch e := p.(type) {
	case qmp.ShutdownEvent:
		r.shutdown, r.guestDown = e.Reason, e.Guest
		if r.shutdown == "" {
			r.shutdown = "unknown"
		}
		r.logf("QEMU is shutting down (%s)", r.shutdown)
	case qmp.GuestPanickedEvent:
		r.panicked = "the guest kernel panicked"
		if len(e.Info) > 0 {
			r.panicked += " (" + string(e.Info) + ")"
		}
		r.logf("%s", r.panicked)
	case qmp.StopEvent, qmp.SuspendEvent, qmp.WakeupEvent:
		r.refreshState()
	case qmp.ResumeEvent:
		r.setRunning()
	case qmp.BlockIOErrorEvent:
		r.blockIOError(e)
	case qmp.ResetEvent, qmp.PowerdownEvent:
		r.logf("QEMU event %s", ev.Name)
	}
}

// blockIOError reports a disk error that paused the guest (werror=stop),
// naming the disk as the VM does.
func (r *runner) blockIOError(e qmp.BlockIOErrorEvent) {
	disk := r.nodes[e.NodeName]
	if disk == "" {
		disk = e.NodeName
		if disk == "" {
			disk = e.Device
		}
	}
	msg := fmt.Sprintf("a %s error on disk %s: %s", e.Operation, disk, e.Reason)
	if e.Action != "stop" {
		r.logf("%s (action %s)", msg, e.Action)
		return
	}
	if r.ioError != msg {
		r.ioError = msg
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateIOError, Message: "the guest is paused on " + msg})
	}
}
