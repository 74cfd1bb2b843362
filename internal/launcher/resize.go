package launcher

import (
	"context"
	"time"
)

// checkResize grows the guest's disks whose volume grew (block_resize of
// the disk's format node: the guest sees a capacity change) and, when the
// guest is paused on an I/O error, lets it retry now that there is room.
// A shrink is logged once and left alone: QEMU would cut the guest's data.
func (r *runner) checkResize() {
	for _, d := range r.disks {
		size, err := d.wanted()
		if err != nil || size < 0 {
			continue
		}
		switch {
		case size > d.size:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.qmp.BlockResize(ctx, d.node, size)
			cancel()
			if err != nil {
				r.logf("disk %s: growing to %d bytes: %v", d.name, size, err)
				continue
			}
			d.size, d.shrunk = size, false
			r.logf("disk %s grown to %d bytes", d.name, size)
			if r.rep.get(ConditionGuestRunning).Reason == StateIOError {
				// The guest stopped on a full disk and there is room now:
				// retry its I/O.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := r.qmp.Cont(ctx); err != nil {
					r.logf("resuming the guest: %v", err)
				}
				cancel()
			}
		case size < d.size && !d.shrunk:
			d.shrunk = true
			r.logf("disk %s shrank to %d bytes; left as it is", d.name, size)
		}
	}
}
