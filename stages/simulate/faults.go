package simulate

import (
	"math/rand/v2"
	"time"
)

type faultKind uint8

const (
	kindLevelShift faultKind = iota
	kindDegradation
	kindDrift
)

func (k faultKind) String() string {
	return [...]string{"level_shift", "degradation", "drift"}[k]
}

// fault is one injected change on one sensor, over event time.
type fault struct {
	id     string
	kind   faultKind
	sensor *sensor
	start  time.Time
	ramp   time.Duration // from start to full severity
	end    time.Time     // back to normal (drift: never)
	size   float64       // in units of the sensor type's scale
}

// severity is 0 before the fault, rising to 1 over the ramp, and 0 again
// after its end.
func (f *fault) severity(t time.Time) float64 {
	if t.Before(f.start) || (!f.end.IsZero() && !t.Before(f.end)) {
		return 0
	}
	if f.ramp <= 0 {
		return 1
	}
	return min(1, float64(t.Sub(f.start))/float64(f.ramp))
}

// planFaults places incidents and drifts on distinct sensors, in the part
// of the span after a warm-up (so detectors have a baseline) and before
// the end (so an incident can be seen whole).
func planFaults(cfg Config, sensors []*sensor, rng *rand.Rand) []*fault {
	var faults []*fault
	on := func(s string) bool { return contains(cfg.Scenarios, s) }
	order := rng.Perm(len(sensors))
	next := 0
	pick := func() *sensor {
		if next >= len(order) {
			return nil
		}
		s := sensors[order[next]]
		next++
		return s
	}
	warm := cfg.Span / 4
	usable := cfg.Span - warm - cfg.Span/8
	var kinds []faultKind
	for i := range cfg.Incidents {
		switch {
		case on(LevelShifts) && on(Degradation):
			kinds = append(kinds, []faultKind{kindDegradation, kindLevelShift}[i%2])
		case on(Degradation):
			kinds = append(kinds, kindDegradation)
		case on(LevelShifts):
			kinds = append(kinds, kindLevelShift)
		}
	}
	for i, k := range kinds {
		s := pick()
		if s == nil {
			break
		}
		// Incidents are spread over the usable part, each lasting about a
		// tenth of the span (at least 6 minutes).
		length := max(6*time.Minute, cfg.Span/10)
		slot := usable / time.Duration(len(kinds))
		start := cfg.Start.Add(warm + time.Duration(i)*slot + time.Duration(rng.Float64()*float64(max(0, slot-length))))
		f := &fault{id: faultID("incident", i), kind: k, sensor: s, start: start, end: start.Add(length)}
		switch k {
		case kindLevelShift:
			f.size = 5 + rng.Float64()*2
			f.ramp = 0
		case kindDegradation:
			f.size = 6 + rng.Float64()*2
			f.ramp = length * 4 / 5 // wear builds up, then fails
		}
		faults = append(faults, f)
	}
	if on(Drift) {
		for i := range cfg.Drifts {
			s := pick()
			if s == nil {
				break
			}
			start := cfg.Start.Add(warm + time.Duration(rng.Float64()*float64(usable/2)))
			faults = append(faults, &fault{id: faultID("drift", i), kind: kindDrift, sensor: s, start: start,
				ramp: max(10*time.Minute, cfg.Span/6), size: 1.5 + rng.Float64()})
		}
	}
	for _, f := range faults {
		f.sensor.faults = append(f.sensor.faults, f)
	}
	return faults
}

func faultID(prefix string, i int) string {
	return prefix + "-" + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
}
