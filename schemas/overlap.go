package schemas

import "time"

// MaxOverlap is the most windows of one sensor that may cover an instant:
// the features stage refuses a hop under a sixtieth of the window, and
// Hops never reports more.
const MaxOverlap = 60

// hopMemory is how many of a sensor's latest start-to-start gaps Hops
// judges its overlap by.
const hopMemory = 5

// overlapOf is how many windows of length size cover an instant when
// they start gap apart: size over gap, rounded, when the gap is shorter
// (hopping windows), otherwise 1; at most MaxOverlap.
func overlapOf(size, gap time.Duration) int {
	if gap <= 0 || gap >= size {
		return 1
	}
	return int(min((size+gap/2)/gap, MaxOverlap))
}

// Hops follows one sensor's windows and tells how many of them cover an
// instant, its overlap: 1 for tumbling or count windows, about length
// over hop for hopping ones. Stages that count windows (warm-up, history,
// alert runs) multiply by it, so that their counts mean window lengths of
// event time whatever the hop.
//
// It judges by the shortest of the sensor's latest hopMemory gaps between
// window starts that could be a hop: shorter than the window, and not
// under a MaxOverlap-th of it (no features configuration hops so little:
// such a gap is a stray window, the same one a microsecond late). A
// window missing now and then, or a sensor read less often than its
// windows hop, lengthens some gaps but not the shortest; a changed hop
// shows once its first gap is remembered (a shorter hop) or the last
// gap of the old one is forgotten (a longer one). It depends on the
// sensor's last hopMemory+1 windows only, so a stage that replays a
// sensor's retained windows after a restart gets the overlap it had. It
// is 1 until the sensor's second window.
//
// The zero value is ready to use. A Hops is not safe for concurrent use.
type Hops struct {
	last    time.Time
	gaps    [hopMemory]time.Duration
	n, next int
	overlap int
}

// Observe takes a window [start, end) of the sensor into account and
// returns its overlap. A window that does not start after the one before
// is counted in no gap.
func (h *Hops) Observe(start, end time.Time) int {
	if !h.last.IsZero() && start.After(h.last) {
		h.gaps[h.next] = start.Sub(h.last)
		h.next = (h.next + 1) % hopMemory
		h.n = min(h.n+1, hopMemory)
	}
	if h.last.IsZero() || start.After(h.last) {
		h.last = start
	}
	size := end.Sub(start)
	hop := time.Duration(0)
	for _, g := range h.gaps[:h.n] {
		if g < size && g*MaxOverlap >= size && (hop == 0 || g < hop) {
			hop = g
		}
	}
	h.overlap = 1
	if hop > 0 {
		h.overlap = overlapOf(size, hop)
	}
	return h.overlap
}

// Overlap returns the overlap the last Observe returned, 1 before any.
func (h *Hops) Overlap() int { return max(h.overlap, 1) }

// Last returns the start of the latest window observed, zero before any.
func (h *Hops) Last() time.Time { return h.last }
