package forecast

import (
	"encoding/json"
	"math"
	"time"
)

// cycle is what the stage has learnt of one sensor's daily (or weekly:
// Config.Season) cycle: the offset of each part of it (a slot) from the
// cycle's mean.
//
// It learns a slot at a time. When a window starts in a later slot than
// the one being filled, that slot is folded in: the mean of the sensor's
// history windows that started in it. The first whole cycle's slot means
// give the first offsets, each the slot's mean less theirs (one cycle
// cannot tell a drift over it from the cycle's shape: the next ones
// can). After that a slot's mean moves its offset by Gain of the
// difference between it and the level expected then; the level, with its
// trend, follows the slot means less their offsets by exponential
// smoothing (Holt's, with a time constant of a quarter cycle), so that a
// slow drift is neither lagged into nor learnt as the cycle.
//
// The stage forecasts with the offsets (see use) once two whole cycles
// are in and the offsets stand out of the noise: their variance over
// the slots is at least four times what the slots' own scatter would
// give a flat sensor.
//
// A fold depends only on the history windows, which a restart replays,
// and on the cycle before it, which the stage keeps in its state topic
// at each fold; so a restart learns as an uninterrupted run would.
type cycle struct {
	Since   int64     `json:"since_us"`   // when learning began: the start of the slot of the first window
	Through int64     `json:"through_us"` // the start of the slot being filled: every slot before it is folded
	Cycles  int       `json:"cycles"`     // whole cycles folded in
	Folds   int       `json:"folds"`      // slots folded since the first cycle was whole
	Level   float64   `json:"level"`      // the series without the cycle, at the last slot folded
	Trend   float64   `json:"trend"`      // its change a slot
	Scatter float64   `json:"scatter"`    // the variance of a slot mean about its expectation
	Offsets []float64 `json:"offsets"`    // by slot; during the first cycle, the slot means (NaN: none yet)
}

// seasonal is the stage's cycle settings, resolved.
type seasonal struct {
	period, slot time.Duration
	slots        int
	gain         float64
}

func (c Config) seasonal() seasonal {
	if c.Season <= 0 {
		return seasonal{}
	}
	return seasonal{period: c.Season, slot: c.Season / time.Duration(c.Slots), slots: c.Slots, gain: 0.25}
}

func (z seasonal) on() bool { return z.slots > 0 }

// slotStart is the start of the slot t falls in, in Unix microseconds:
// slots are aligned to the Unix epoch, so a daily cycle's first slot
// starts at midnight UTC.
func (z seasonal) slotStart(t time.Time) int64 {
	us, w := t.UnixMicro(), z.slot.Microseconds()
	return us - mod(us, w)
}

// index is the slot, within the cycle, of the slot starting at us.
func (z seasonal) index(us int64) int {
	return int(mod(us, z.period.Microseconds()) / z.slot.Microseconds())
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// newCycle begins learning at the window starting at start.
func (z seasonal) newCycle(start time.Time) *cycle {
	at := z.slotStart(start)
	offs := make([]float64, z.slots)
	for i := range offs {
		offs[i] = math.NaN()
	}
	return &cycle{Since: at, Through: at, Offsets: offs}
}

// advance folds in every slot before the one start falls in, given the
// history's windows (their starts, in Unix microseconds, and values). It
// reports whether the cycle changed.
func (z seasonal) advance(c *cycle, start time.Time, starts []int64, values []float64) bool {
	at := z.slotStart(start)
	if at <= c.Through {
		return false
	}
	w := z.slot.Microseconds()
	// Slots with no window in the history (a gap) are skipped; a gap
	// longer than a cycle skips them all.
	from := max(c.Through, at-z.period.Microseconds())
	for s := from; s < at; s += w {
		var sum float64
		n := 0
		for i, st := range starts {
			if st >= s && st < s+w {
				sum += values[i]
				n++
			}
		}
		if n > 0 {
			z.fold(c, z.index(s), sum/float64(n), s+w)
			c.Through = s + w
		}
	}
	c.Through = at
	return true
}

// fold takes in slot j's mean m; end is when the slot ended.
func (z seasonal) fold(c *cycle, j int, m float64, end int64) {
	if c.Cycles == 0 {
		c.Offsets[j] = m
		if end-c.Since < z.period.Microseconds() {
			return
		}
		// The first whole cycle: offsets from the slot means' mean, and
		// slots with none from their nearest neighbours'.
		var sum float64
		n := 0
		for _, v := range c.Offsets {
			if !math.IsNaN(v) {
				sum += v
				n++
			}
		}
		if n < z.slots/2 { // too much missing: learn again from here
			for i := range c.Offsets {
				c.Offsets[i] = math.NaN()
			}
			c.Since = end
			return
		}
		c.Level = sum / float64(n)
		for i := range c.Offsets {
			c.Offsets[i] -= c.Level
		}
		fillGaps(c.Offsets)
		c.Cycles = 1
		return
	}
	a := 4 / float64(z.slots)
	expect := c.Level + c.Trend*float64((end-c.Through)/z.slot.Microseconds()) // slots since the last fold ended
	e := m - expect - c.Offsets[j]
	c.Level = expect + a*(m-c.Offsets[j]-expect)
	c.Trend += a * a / 4 * (m - c.Offsets[j] - expect)
	c.Offsets[j] += z.gain * e
	// Offsets sum to zero, so that the level means the cycle's mean.
	var sum float64
	for _, v := range c.Offsets {
		sum += v
	}
	for i := range c.Offsets {
		c.Offsets[i] -= sum / float64(z.slots)
	}
	if c.Folds < z.slots { // the scatter's first cycle: a plain mean
		c.Scatter += (e*e - c.Scatter) / float64(c.Folds+1)
	} else {
		c.Scatter += (e*e - c.Scatter) / float64(z.slots)
	}
	c.Folds++
	c.Cycles = 1 + c.Folds/z.slots
}

// fillGaps gives each NaN in a ring the value of its nearest non-NaN
// neighbour (at least one must be a number).
func fillGaps(xs []float64) {
	n := len(xs)
	filled := make([]float64, n)
	for i := range xs {
		filled[i] = xs[i]
		for d := 1; math.IsNaN(filled[i]) && d <= n/2; d++ {
			if v := xs[(i+d)%n]; !math.IsNaN(v) {
				filled[i] = v
			} else if v := xs[(i-d+n)%n]; !math.IsNaN(v) {
				filled[i] = v
			}
		}
	}
	copy(xs, filled)
}

// usable reports whether forecasts should use c: two whole cycles in,
// and the offsets' variance over the slots at least four times what the
// scatter of slot means would leave on a flat sensor (an offset is an
// exponential average of Gain, whose variance is Gain/(2-Gain) of the
// scatter).
func (z seasonal) usable(c *cycle) bool {
	if c == nil || c.Cycles < 2 {
		return false
	}
	var ss float64
	for _, v := range c.Offsets {
		ss += v * v
	}
	return ss/float64(z.slots) >= 4*c.Scatter*z.gain/(2-z.gain)
}

// at is the cycle's offset at time t, by straight lines between the
// slots' middles.
func (z seasonal) at(c *cycle, t time.Time) float64 {
	w := float64(z.slot.Microseconds())
	pos := float64(mod(t.UnixMicro(), z.period.Microseconds()))/w - 0.5
	j := math.Floor(pos)
	f := pos - j
	i := int(mod(int64(j), int64(z.slots)))
	return c.Offsets[i]*(1-f) + c.Offsets[(i+1)%z.slots]*f
}

// entry is c's state-topic value.
func (c *cycle) entry() []byte {
	b, _ := json.Marshal(c) // NaN offsets only in the first cycle: see marshal
	return b
}

// MarshalJSON writes NaN (a slot not yet seen) as null.
func (c *cycle) MarshalJSON() ([]byte, error) {
	type plain cycle
	offs := make([]*float64, len(c.Offsets))
	for i := range c.Offsets {
		if !math.IsNaN(c.Offsets[i]) {
			offs[i] = &c.Offsets[i]
		}
	}
	return json.Marshal(struct {
		*plain
		Offsets []*float64 `json:"offsets"`
	}{(*plain)(c), offs})
}

// UnmarshalJSON reads null offsets as NaN.
func (c *cycle) UnmarshalJSON(b []byte) error {
	type plain cycle
	var v struct {
		*plain
		Offsets []*float64 `json:"offsets"`
	}
	v.plain = (*plain)(c)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.Offsets = make([]float64, len(v.Offsets))
	for i, p := range v.Offsets {
		c.Offsets[i] = math.NaN()
		if p != nil {
			c.Offsets[i] = *p
		}
	}
	return nil
}
