package schemas

import "time"

// Overlap is how many windows of one sensor cover an instant, judged from
// a window [start, end) and the start of the sensor's window before it:
// the window's length over the gap between the two starts, rounded, when
// the gap is shorter than the length (hopping windows); otherwise 1
// (tumbling or count windows, or input missing between the two). Hopping
// windows start a hop apart, so a sensor's overlap is the most Overlap
// returns over its windows. A zero prevStart (no window before) gives 1.
func Overlap(start, end, prevStart time.Time) int {
	size, gap := end.Sub(start), start.Sub(prevStart)
	if prevStart.IsZero() || gap <= 0 || gap >= size {
		return 1
	}
	return int((size + gap/2) / gap)
}
