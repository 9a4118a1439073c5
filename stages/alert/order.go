package alert

import (
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// The stage reads two topics, and how their records interleave in a batch
// depends on fetch timing: after a restart a replay can bring a sensor's
// drift report before or after the score of the same time. Alerts must
// not depend on that (an open anomaly alert notes the drift it overlaps;
// a drift alert becomes the anomaly alert). So each sensor's inputs are
// applied in event-time order: a drift report ending at T comes right
// after the sensor's score of the window ending at T. A report that
// arrives first waits for that score (held); one that arrives after it is
// applied at once. The order is the causal one: the drift stage emits the
// report ending at T no later than the features stage emits the window
// after T, whose score is therefore never read before the report is
// visible, except under a fetch skew longer than a window.
//
// A sensor with no score yet (no score stage, or before its first window)
// has nothing to wait for. A report whose sensor's scores have stopped is
// applied once the partition's scores are SilentAfter past it.

// heldDrift is a drift report waiting for its sensor's score.
type heldDrift struct {
	report schemas.DriftReport
	tp     pipeline.TopicPartition
	off    int64
}

// holdDrift reports whether r must wait for sn's score of its time, and
// holds it if so.
func (s *Stage) holdDrift(sn *sensorState, r *schemas.DriftReport, tp pipeline.TopicPartition, off int64) bool {
	if len(sn.held) == 0 && (sn.lastEnd.IsZero() || !r.CurrentEnd.After(sn.lastEnd) || s.pastSilence(sn, r.CurrentEnd)) {
		return false
	}
	sn.held = append(sn.held, heldDrift{report: *r, tp: tp, off: off})
	return true
}

// pastSilence reports whether sn's partition's scores have passed t by
// SilentAfter: a report of t waits for sn's score no longer.
func (s *Stage) pastSilence(sn *sensorState, t time.Time) bool {
	p := s.parts[sn.partition]
	return p != nil && !p.latest.Before(t.Add(s.cfg.SilentAfter))
}

// releaseDrift applies, in order, sn's held reports whose time its scores
// have reached (or whose wait is over). Each is sent as a replay if its
// own offset is below its topic's replay point.
func (s *Stage) releaseDrift(sn *sensorState, out *pipeline.Emitter) {
	n := 0
	for _, h := range sn.held {
		if h.report.CurrentEnd.After(sn.lastEnd) && !s.pastSilence(sn, h.report.CurrentEnd) {
			break
		}
		n++
		s.applyDrift(sn, &h.report, h.tp, h.off, emitter{s: s, out: out, replay: h.off < s.replayTo[h.tp]})
	}
	sn.held = append(sn.held[:0], sn.held[n:]...)
}
