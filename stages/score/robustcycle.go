package score

import (
	"encoding/json"
	"strconv"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/cycle"
)

// cycleState is what the robust detector keeps of a sensor's daily
// cycle: the cycle, and the verdicts that make a restart exact.
//
// A restart rebuilds a sensor's baseline by replaying its retained
// windows, and a replayed window's verdict (normal, into the baseline;
// anomalous, kept out) depends on the cycle it was judged with. The
// stage restores the latest cycle, which may be newer than the one a
// replayed window met. So each state entry also carries which of the
// sensor's recent windows were anomalous, and replay takes their
// verdicts from it for every window before the cycle's last fold; the
// windows after it met the restored cycle itself.
type cycleState struct {
	cycle      *cycle.Cycle
	marks      []mark         // the last windows' verdicts, oldest first
	known      map[int64]bool // restored: anomalous window starts
	knownUntil int64          // restored: windows starting before this take their verdict from known
}

// mark is one window's verdict.
type mark struct {
	start     int64 // Unix microseconds
	anomalous bool
}

// cycleEntry is the state-topic value of the robust detector.
type cycleEntry struct {
	Cycle     *cycle.Cycle `json:"cycle"`
	Anomalous []int64      `json:"anomalous_us"` // starts of the recent windows found anomalous
}

// advanceCycle starts or advances b's cycle with fv's window, before
// the window joins anything, and sets r.changed when it changed.
func (r *Robust) advanceCycle(b *robustSensor, fv *schemas.FeatureVector) {
	r.changed = nil
	if !r.cyc.On() {
		return
	}
	if b.cycle == nil {
		b.cycle = r.cyc.Start(fv.WindowStart)
	} else if !r.cyc.Advance(b.cycle, fv.WindowStart, b.start, b.mean) {
		return
	}
	e := append(append([]byte(nil), `{"cycle":`...), b.cycle.Entry()...)
	e = append(e, `,"anomalous_us":[`...)
	n := 0
	for _, m := range b.marks {
		if m.anomalous {
			if n > 0 {
				e = append(e, ',')
			}
			e = strconv.AppendInt(e, m.start, 10)
			n++
		}
	}
	r.changed = append(e, "]}"...)
}

// verdict is fv's verdict: computed, unless a restored entry knows it.
func (r *Robust) verdict(b *robustSensor, fv *schemas.FeatureVector, computed bool) bool {
	if b.known == nil {
		return computed
	}
	if start := fv.WindowStart.UnixMicro(); start < b.knownUntil {
		return b.known[start]
	}
	b.known = nil // past the restored fold: windows meet the cycle as they did
	return computed
}

// mark notes fv's verdict, keeping as many as a restart replays.
func (r *Robust) mark(b *robustSensor, fv *schemas.FeatureVector, anomalous bool) {
	if !r.cyc.On() {
		return
	}
	b.marks = append(b.marks, mark{fv.WindowStart.UnixMicro(), anomalous})
	if keep := r.history() + 1; len(b.marks) > keep {
		b.marks = b.marks[len(b.marks)-keep:]
	}
}

// changedCycle implements sensorDetector: the state entry of the sensor
// whose cycle the last Score changed, nil if it changed none.
func (r *Robust) changedCycle() []byte { return r.changed }

// restoreCycle implements sensorDetector: a sensor's cycle and recent
// verdicts from a state topic, before any of its windows. It reports
// false, and keeps nothing, when value is not an entry of the configured
// cycle.
func (r *Robust) restoreCycle(sensor string, value []byte) bool {
	var e cycleEntry
	if !r.cyc.On() || json.Unmarshal(value, &e) != nil || !r.cyc.Fits(e.Cycle) {
		return false
	}
	r.clock++
	b := r.sensors[sensor]
	if b == nil {
		r.evict()
		b = &robustSensor{}
		r.sensors[sensor] = b
	}
	b.lastSeen = r.clock // not the first to be evicted
	b.cycle = e.Cycle
	b.known, b.knownUntil = map[int64]bool{}, e.Cycle.Through
	for _, at := range e.Anomalous {
		b.known[at] = true
	}
	return true
}
