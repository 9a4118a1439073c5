package simulate

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// profile is how one sensor type behaves when nothing is wrong.
type profile struct {
	hz        float64 // samples per second of event time
	unit      string
	base      float64    // level
	daily     float64    // amplitude of the 24 h cycle
	noise     float64    // standard deviation of white noise
	harmonics []harmonic // oscillations (vibration, acoustic)
	failure   failureMode
}

type harmonic struct{ hz, amp float64 }

// failureMode says how an incident shows on a sensor type.
type failureMode uint8

const (
	levelMode   failureMode = iota // the level moves (heat, pressure, current draw)
	bearingMode                    // amplitude and impulsiveness grow (vibration, acoustic)
)

// Daily cycles move a sensor at most about 0.1 of its spread per 5
// minutes: slow next to the drift scenario (about 1 spread per 5 minutes),
// which is what the drift stage must tell apart.
var profiles = map[string]profile{
	"temperature": {hz: 1, unit: "C", base: 65, daily: 1.5, noise: 0.3, failure: levelMode},
	"vibration": {hz: 20, unit: "mm/s", noise: 0.35, failure: bearingMode,
		harmonics: []harmonic{{1.7, 2.0}, {3.4, 0.8}, {5.1, 0.3}}},
	"pressure": {hz: 2, unit: "bar", base: 4.2, daily: 0.1, noise: 0.03, failure: levelMode},
	"current":  {hz: 5, unit: "A", base: 12, daily: 1.5, noise: 0.2, failure: levelMode},
	"acoustic": {hz: 20, unit: "Pa", noise: 0.1, failure: bearingMode, harmonics: []harmonic{{2.3, 0.5}, {7.1, 0.2}}},
	"humidity": {hz: 0.2, unit: "%RH", base: 45, daily: 8, noise: 0.5, failure: levelMode},
}

func knownTypes() []string {
	out := make([]string, 0, len(profiles))
	for k := range profiles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scale is a sensor type's typical spread: faults are sized in it.
func (p profile) scale() float64 {
	s := p.noise * p.noise
	for _, h := range p.harmonics {
		s += h.amp * h.amp / 2
	}
	return math.Sqrt(s)
}

// sensor is one simulated sensor and its state.
type sensor struct {
	id, asset, typ string
	p              profile
	period         time.Duration
	next           time.Time
	phase          float64 // random phase so sensors of a type differ
	gain           float64 // per-sensor level offset, in scale units
	faults         []*fault
}

// value returns the sensor's reading at event time t, with faults applied.
func (s *sensor) value(t time.Time, rng *rand.Rand) float64 {
	secs := float64(t.UnixNano()) / 1e9
	day := 2 * math.Pi * secs / 86400
	v := s.p.base + s.gain*s.p.scale() + s.p.daily*math.Sin(day+s.phase)
	amp := 1.0
	impulses := 0.0
	for _, f := range s.faults {
		sev := f.severity(t)
		if sev == 0 {
			continue
		}
		switch {
		case f.kind == kindDrift:
			v += sev * f.size * s.p.scale()
		case s.p.failure == bearingMode:
			// Wear: the running harmonics grow, and a defect frequency
			// adds sharp impulses that raise kurtosis and crest factor.
			amp += 1.5 * sev
			if math.Mod(secs*7.3+s.phase, 1) < 0.06 {
				impulses += sev * 6 * s.p.scale()
			}
		default:
			v += sev * f.size * s.p.scale()
		}
	}
	for _, h := range s.p.harmonics {
		v += amp * h.amp * math.Sin(2*math.Pi*h.hz*secs+s.phase)
	}
	return v + impulses + rng.NormFloat64()*s.p.noise
}
