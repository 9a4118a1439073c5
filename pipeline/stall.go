package pipeline

import (
	"context"
	"fmt"
	"time"
)

// watchStalls checks, a few times per stall limit until ctx ends, whether
// the runner has held one batch too long, in Process or awaiting its
// acknowledgements, and says so: Health not ready with the reason, a
// warning, smaint_stage_stalled at 1; and says when it is over. A stage
// blocked on a lock or a broker that stopped answering has input waiting
// and does nothing about it: without this, nothing would show it.
func (r *Runner[T]) watchStalls(ctx context.Context) {
	period := min(max(r.cfg.stallAfter/4, 50*time.Millisecond), 5*time.Second)
	Every(ctx, period, func() { r.checkStall(time.Now()) })
}

// checkStall updates the stall state as of now.
func (r *Runner[T]) checkStall(now time.Time) {
	reason := ""
	if since := r.busySince.Load(); since != 0 {
		if held := now.Sub(time.Unix(0, since)); held > r.cfg.stallAfter {
			reason = fmt.Sprintf("a batch of %d records has been in Process for %s (see the retries in the log)", r.busyRecords.Load(), held.Round(time.Second))
		}
	}
	if since := r.ackSince.Load(); reason == "" && since != 0 {
		if held := now.Sub(time.Unix(0, since)); held > r.cfg.stallAfter {
			reason = fmt.Sprintf("outputs of a batch unacknowledged for %s: the brokers are not taking them", held.Round(time.Second))
		}
	}
	r.stallMu.Lock()
	defer r.stallMu.Unlock()
	switch {
	case reason != "" && !r.stalled:
		r.stalled = true
		r.met.stalled.Set(1)
		r.cfg.health.Set("stage/"+r.name, false, "stalled: "+reason)
		r.log.Warn("stage stalled", "reason", reason, "stall_after", r.cfg.stallAfter)
	case reason == "" && r.stalled:
		r.stalled = false
		r.met.stalled.Set(0)
		r.cfg.health.Set("stage/"+r.name, true, "consuming")
		r.log.Info("stage going again after a stall")
	}
}

// setConsuming reports the stage ready, unless it is stalled: then only
// the end of the stall does.
func (r *Runner[T]) setConsuming() {
	r.stallMu.Lock()
	defer r.stallMu.Unlock()
	if !r.stalled {
		r.cfg.health.Set("stage/"+r.name, true, "consuming")
	}
}
