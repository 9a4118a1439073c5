package score

import (
	"slices"

	"github.com/smaint/smaint/schemas"
)

// sensorDetector is a Detector that keeps a baseline per sensor, built
// from the sensor's last history() windows at most (its baseline's
// windows, and the anomalous ones it may have kept out between them): the
// score stage retains that many to rebuild it after a restart.
type sensorDetector interface {
	Detector
	// Sensors returns how many sensors the detector holds state for.
	Sensors() int
	history() int
	forget(sensor string)
	// changedCycle is the state entry of the sensor the last Score
	// changed the cycle of, nil if it changed none; restoreCycle takes
	// one back, reporting whether it fit.
	changedCycle() []byte
	restoreCycle(sensor string, value []byte) bool
}

// evictOldest drops the least recently seen tenth of m's sensors once it
// holds limit of them.
func evictOldest[T any](m map[string]T, limit int, lastSeen func(T) int64) {
	if len(m) < limit {
		return
	}
	ages := make([]int64, 0, len(m))
	for _, b := range m {
		ages = append(ages, lastSeen(b))
	}
	slices.Sort(ages)
	cut := ages[len(ages)/10]
	for id, b := range m {
		if lastSeen(b) <= cut {
			delete(m, id)
		}
	}
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return middle(s)
}

// middle is the median of sorted xs.
func middle(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// newest returns the newest n of ring xs, whose oldest is at next,
// oldest first, in a new slice.
func newest[T any](xs []T, next, n int) []T {
	out := make([]T, 0, len(xs))
	out = append(append(out, xs[next:]...), xs[:next]...)
	return out[len(out)-n:]
}

// hops follows how many of a sensor's windows cover one instant
// (schemas.Hops). The detectors multiply their window counts (warm-up,
// baseline, frozen span) by it, so that those count window lengths of
// event time whatever the hop.
type hops struct {
	overlap int
	starts  schemas.Hops
}

// observe takes fv's window into account and returns the overlap now.
func (h *hops) observe(fv *schemas.FeatureVector) int {
	h.overlap = h.starts.Observe(fv.WindowStart, fv.WindowEnd)
	return h.overlap
}
