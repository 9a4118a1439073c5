// Package cycle learns a sensor's daily (or weekly, or any) cycle from
// its feature windows, a slot of the period at a time, for the stages
// that compare a window with the same phase of earlier days (score) or
// forecast along the cycle (forecast). A Cycle is plain data that
// marshals to JSON, so a stage can keep it in a state topic.
package cycle

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Cycle is what has been learnt of one sensor's cycle: the offset of
// each part of it (a slot) from the cycle's mean. A Cycle is not safe for
// concurrent use; its Learner's methods change it in place.
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
// A cycle is worth using (Usable) once two whole cycles are in and the
// offsets stand out of the noise: their variance over the slots is at
// least four times what the slots' own scatter would give a flat sensor.
//
// A fold depends only on the windows the caller hands Advance (its
// history, which a restart replays) and on the Cycle before it, which a
// stage keeps in its state topic whenever Advance changes it; so a
// restart learns as an uninterrupted run would.
type Cycle struct {
	Since   int64     `json:"since_us"`   // when learning began: the start of the slot of the first window
	Through int64     `json:"through_us"` // the start of the slot being filled: every slot before it is folded
	Last    int64     `json:"last_us"`    // the end of the last slot folded in (slots may be skipped: gaps)
	Cycles  int       `json:"cycles"`     // whole cycles folded in
	Folds   int       `json:"folds"`      // slots folded since the first cycle was whole
	Level   float64   `json:"level"`      // the series without the cycle, at the last slot folded
	Trend   float64   `json:"trend"`      // its change a slot
	Scatter float64   `json:"scatter"`    // the variance of a slot mean about its expectation
	Offsets []float64 `json:"offsets"`    // by slot; during the first cycle, the slot means (NaN: none yet)

	usable int8 // Usable's answer since the last change: 0 not worked out, 1 no, 2 yes
}

// Learner learns cycles of one period in slots of equal length. The
// zero Learner learns nothing (On is false). A Learner is a value; its
// methods are safe for concurrent use on different Cycles.
type Learner struct {
	period, slot time.Duration
	slots        int
	gain         float64
}

// Gain is how far a slot's new mean moves its offset.
const Gain = 0.25

// New returns a Learner of period in slots parts; a period of 0 or less
// learns nothing. Validate the settings first.
func New(period time.Duration, slots int) Learner {
	if period <= 0 {
		return Learner{}
	}
	return Learner{period: period, slot: period / time.Duration(slots), slots: slots, gain: Gain}
}

// Validate reports whether period in slots parts can be learnt: 2 to
// 10000 slots of a whole number of microseconds. A period of 0 or less
// (none) is valid.
func Validate(period time.Duration, slots int) error {
	if period > 0 && (slots < 2 || slots > 10000 || period%time.Duration(slots) != 0 || (period/time.Duration(slots))%time.Microsecond != 0) {
		return fmt.Errorf("a cycle of %v in %d slots (2 to 10000 slots of whole microseconds)", period, slots)
	}
	return nil
}

// On reports whether l learns anything.
func (l Learner) On() bool { return l.slots > 0 }

// Slots is how many parts l learns a cycle in.
func (l Learner) Slots() int { return l.slots }

// Fits reports whether c, say from a state topic, is a cycle of l's
// slots.
func (l Learner) Fits(c *Cycle) bool { return c != nil && len(c.Offsets) == l.slots }

// slotStart is the start of the slot t falls in, in Unix microseconds:
// slots are aligned to the Unix epoch, so a daily cycle's first slot
// starts at midnight UTC.
func (l Learner) slotStart(t time.Time) int64 {
	us, w := t.UnixMicro(), l.slot.Microseconds()
	return us - mod(us, w)
}

// index is the slot, within the cycle, of the slot starting at us.
func (l Learner) index(us int64) int {
	return int(mod(us, l.period.Microseconds()) / l.slot.Microseconds())
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Start returns a Cycle that begins learning at the window starting at
// start. A Cycle from anywhere else (a state topic) must have Slots
// offsets.
func (l Learner) Start(start time.Time) *Cycle {
	at := l.slotStart(start)
	offs := make([]float64, l.slots)
	for i := range offs {
		offs[i] = math.NaN()
	}
	return &Cycle{Since: at, Through: at, Offsets: offs}
}

// Advance folds into c every slot before the one a window starting at
// start falls in, from windows (their starts, in Unix microseconds, and
// values, in any order) that include those slots'. It reports whether c
// changed; windows of the slot being filled change nothing. A slot's
// mean is summed in the order of its windows' starts, so that the same
// windows in another order (a ring buffer rotated differently after a
// restart) give the same bits.
func (l Learner) Advance(c *Cycle, start time.Time, starts []int64, values []float64) bool {
	at := l.slotStart(start)
	if at <= c.Through {
		return false
	}
	w := l.slot.Microseconds()
	// Slots with no window in the history (a gap) are skipped; a gap
	// longer than a cycle skips them all.
	from := max(c.Through, at-l.period.Microseconds())
	var in []int
	for s := from; s < at; s += w {
		in = in[:0]
		for i, st := range starts {
			if st >= s && st < s+w {
				in = append(in, i)
			}
		}
		if len(in) == 0 {
			continue
		}
		slices.SortFunc(in, func(a, b int) int { return cmp.Compare(starts[a], starts[b]) })
		var sum float64
		for _, i := range in {
			sum += values[i]
		}
		l.fold(c, l.index(s), sum/float64(len(in)), s+w)
		c.Last = s + w
	}
	c.Through = at
	c.usable = 0
	return true
}

// fold takes in slot j's mean m; end is when the slot ended.
func (l Learner) fold(c *Cycle, j int, m float64, end int64) {
	if c.Cycles == 0 {
		c.Offsets[j] = m
		if end-c.Since < l.period.Microseconds() {
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
		if n < l.slots/2 { // too much missing: learn again from here
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
	a := 4 / float64(l.slots)
	expect := c.Level + c.Trend*float64((end-c.Last)/l.slot.Microseconds()) // slots since the last fold
	e := m - expect - c.Offsets[j]
	c.Level = expect + a*(m-c.Offsets[j]-expect)
	c.Trend += a * a / 4 * (m - c.Offsets[j] - expect)
	c.Offsets[j] += l.gain * e
	// Offsets sum to zero, so that the level means the cycle's mean.
	var sum float64
	for _, v := range c.Offsets {
		sum += v
	}
	for i := range c.Offsets {
		c.Offsets[i] -= sum / float64(l.slots)
	}
	if c.Folds < l.slots { // the scatter's first cycle: a plain mean
		c.Scatter += (e*e - c.Scatter) / float64(c.Folds+1)
	} else {
		c.Scatter += (e*e - c.Scatter) / float64(l.slots)
	}
	c.Folds++
	c.Cycles = 1 + c.Folds/l.slots
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

// Usable reports whether c is worth using: two whole cycles in,
// and the offsets' variance over the slots at least four times what the
// scatter of slot means would leave on a flat sensor (an offset is an
// exponential average of Gain, whose variance is Gain/(2-Gain) of the
// scatter). The answer is kept until c changes: stages ask it of every
// window.
func (l Learner) Usable(c *Cycle) bool {
	if c == nil || c.Cycles < 2 {
		return false
	}
	if c.usable == 0 {
		var ss float64
		for _, v := range c.Offsets {
			ss += v * v
		}
		c.usable = 1
		if ss/float64(l.slots) >= 4*c.Scatter*l.gain/(2-l.gain) {
			c.usable = 2
		}
	}
	return c.usable == 2
}

// At is the cycle's offset at time t, by straight lines between the
// slots' middles. c must have Slots offsets.
func (l Learner) At(c *Cycle, t time.Time) float64 {
	w := float64(l.slot.Microseconds())
	pos := float64(mod(t.UnixMicro(), l.period.Microseconds()))/w - 0.5
	j := math.Floor(pos)
	f := pos - j
	i := int(mod(int64(j), int64(l.slots)))
	return c.Offsets[i]*(1-f) + c.Offsets[(i+1)%l.slots]*f
}

// Entry is c as JSON, for a state topic; UnmarshalJSON reads it back
// exactly. It is written by hand: a stage writes one at every fold of
// every sensor's cycle.
func (c *Cycle) Entry() []byte {
	b := make([]byte, 0, 128+24*len(c.Offsets))
	b = append(b, `{"since_us":`...)
	b = strconv.AppendInt(b, c.Since, 10)
	b = append(b, `,"through_us":`...)
	b = strconv.AppendInt(b, c.Through, 10)
	b = append(b, `,"last_us":`...)
	b = strconv.AppendInt(b, c.Last, 10)
	b = append(b, `,"cycles":`...)
	b = strconv.AppendInt(b, int64(c.Cycles), 10)
	b = append(b, `,"folds":`...)
	b = strconv.AppendInt(b, int64(c.Folds), 10)
	b = append(b, `,"level":`...)
	b = appendNumber(b, c.Level)
	b = append(b, `,"trend":`...)
	b = appendNumber(b, c.Trend)
	b = append(b, `,"scatter":`...)
	b = appendNumber(b, c.Scatter)
	b = append(b, `,"offsets":[`...)
	for i, v := range c.Offsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNumber(b, v)
	}
	return append(b, "]}"...)
}

// appendNumber appends v as JSON: null when it is not finite (a slot not
// yet seen is NaN).
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// MarshalJSON implements json.Marshaler: Entry.
func (c *Cycle) MarshalJSON() ([]byte, error) { return c.Entry(), nil }

// UnmarshalJSON reads null offsets as NaN.
func (c *Cycle) UnmarshalJSON(b []byte) error {
	type plain Cycle
	var v struct {
		*plain
		Offsets []*float64 `json:"offsets"`
	}
	v.plain = (*plain)(c)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.usable = 0
	c.Offsets = make([]float64, len(v.Offsets))
	for i, p := range v.Offsets {
		c.Offsets[i] = math.NaN()
		if p != nil {
			c.Offsets[i] = *p
		}
	}
	return nil
}
