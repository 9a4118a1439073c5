// Package simulate generates the readings of a plant, with faults injected
// where and when a seed decides, and writes down what it injected (its
// ground truth) so that what the pipeline detects can be scored.
//
// It is the source of the pipeline for the simulate, demo and bench
// commands: it yields typed readings (and, for the malformed scenario,
// bytes no producer should send) that the caller sends to Kafka.
package simulate

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/smaint/smaint/schemas"
)

// EventKind says what an event is.
type EventKind uint8

// Event kinds.
const (
	// KindReading is the first sending of a valid reading.
	KindReading EventKind = iota
	// KindDuplicate is a resend of a valid reading. It may be sent before
	// its original when the original is held back (out of order, late).
	KindDuplicate
	// KindMalformed is a record dedupe must dead-letter: undecodable bytes
	// (Raw) or a reading that breaks the rules.
	KindMalformed
)

// Event is one record to send to the readings topic.
type Event struct {
	Kind    EventKind
	Key     string                // Kafka key: the sensor id
	Reading schemas.SensorReading // the reading, unless Raw is set
	Raw     []byte                // when set, send these bytes instead: not a decodable reading
	// Seq numbers the readings in the order they were taken. A duplicate
	// carries the Seq of its original; a malformed record a Seq of its own.
	// Exactly one record per Seq of a valid reading must reach the clean
	// topic.
	Seq uint64
}

// Stats counts what the simulator has injected so far.
type Stats struct {
	Events     int64 `json:"events"`   // records yielded, duplicates and malformed included
	Readings   int64 `json:"readings"` // distinct valid readings (KindReading events)
	Duplicates int64 `json:"duplicates"`
	Malformed  int64 `json:"malformed"` // undecodable (Raw) plus invalid readings
	OutOfOrder int64 `json:"out_of_order"`
	Late       int64 `json:"late"`
	Spikes     int64 `json:"spikes"`
	Incidents  int   `json:"incidents"`
	Drifts     int   `json:"drifts"`
}

// Sim yields the events of one simulated plant in the order a gateway
// would send them. A Sim is used by one goroutine.
type Sim struct {
	cfg     Config
	rng     *rand.Rand
	sensors []*sensor
	faults  []*fault
	truth   *truthWriter
	idBase  [3]uint64

	now     time.Time // event time of the current step
	end     time.Time
	step    time.Duration
	cursor  int       // next sensor to look at in the current step
	delayed delayHeap // readings held back: out of order, late, duplicates
	seq     uint64
	stats   Stats
	done    bool
}

// New returns a Sim for cfg (after defaults), or cfg's validation error.
// It writes the plan of incidents and drifts to cfg.Truth at once.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		truth: newTruthWriter(cfg.Truth),
		now:   cfg.Start,
		end:   cfg.Start.Add(cfg.Span),
	}
	// Reading ids depend on the start too, so two runs of the same seed at
	// different times do not send each other's ids (dedupe would drop them).
	ids := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Start.UnixNano())))
	s.idBase = [3]uint64{ids.Uint64(), ids.Uint64(), ids.Uint64()}
	fastest := 0.0
	for a := range cfg.Assets {
		asset := fmt.Sprintf("asset-%03d", a+1)
		for _, typ := range cfg.Types {
			p := profiles[typ]
			fastest = max(fastest, p.hz)
			s.sensors = append(s.sensors, &sensor{
				id: asset + "-" + typ, asset: asset, typ: typ, p: p,
				period: time.Duration(float64(time.Second) / p.hz),
				next:   cfg.Start,
				phase:  s.rng.Float64() * 2 * math.Pi,
				gain:   s.rng.NormFloat64() * 0.5,
			})
		}
	}
	s.step = time.Duration(float64(time.Second) / fastest)
	s.faults = planFaults(cfg, s.sensors, s.rng)
	for _, f := range s.faults {
		if f.kind == kindDrift {
			s.stats.Drifts++
		} else {
			s.stats.Incidents++
		}
		s.truth.fault(f)
	}
	return s, s.truth.err
}

// Sensors returns how many sensors the plant has.
func (s *Sim) Sensors() int { return len(s.sensors) }

// ReadingsPerSecond returns how many readings the plant takes per second
// of event time (before duplicates and malformed records).
func (s *Sim) ReadingsPerSecond() float64 {
	n := 0.0
	for _, sn := range s.sensors {
		n += sn.p.hz
	}
	return n
}

// Stats returns the counts so far.
func (s *Sim) Stats() Stats { return s.stats }

// EventTime returns the event time the simulation has reached.
func (s *Sim) EventTime() time.Time { return s.now }

// Truth returns the injected incidents and drifts.
func (s *Sim) Truth() []Fault {
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, f.public())
	}
	return out
}

// Next returns the next event, or false once the span is covered and
// every held-back reading has been released. Its error is the ground
// truth writer's.
func (s *Sim) Next() (Event, bool, error) {
	for {
		if ev, ok := s.release(); ok {
			return s.count(ev)
		}
		if s.done {
			if len(s.delayed) > 0 {
				ev := heap.Pop(&s.delayed).(delayed).ev
				return s.count(ev)
			}
			return Event{}, false, s.truth.err
		}
		if ev, ok := s.take(); ok {
			return s.count(ev)
		}
	}
}

// Run calls fn for every event until the span is covered, ctx ends or fn
// fails. It is Next in a loop, for callers without flow control of their
// own.
func (s *Sim) Run(ctx context.Context, fn func(Event) error) error {
	for ctx.Err() == nil {
		ev, ok, err := s.Next()
		if err != nil || !ok {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *Sim) count(ev Event) (Event, bool, error) {
	s.stats.Events++
	if ev.Kind == KindReading {
		s.stats.Readings++
	}
	return ev, true, s.truth.err
}

// release returns a held-back reading whose time has come.
func (s *Sim) release() (Event, bool) {
	if len(s.delayed) == 0 || s.delayed[0].at.After(s.now) {
		return Event{}, false
	}
	return heap.Pop(&s.delayed).(delayed).ev, true
}

// take advances through the sensors of the current step and returns the
// next reading to send now; readings that are held back are queued.
func (s *Sim) take() (Event, bool) {
	for {
		if s.cursor == len(s.sensors) {
			s.cursor = 0
			s.now = s.now.Add(s.step)
			if !s.now.Before(s.end) {
				s.done = true
				return Event{}, false
			}
			if len(s.delayed) > 0 && !s.delayed[0].at.After(s.now) {
				return Event{}, false // let release run first
			}
		}
		sn := s.sensors[s.cursor]
		if sn.next.After(s.now) {
			s.cursor++
			continue
		}
		ts := sn.next
		sn.next = sn.next.Add(sn.period)
		if sn.next.After(s.now) {
			s.cursor++
		}
		if ev, send := s.emit(sn, ts); send {
			return ev, true
		}
	}
}

func (s *Sim) on(scenario string) bool { return contains(s.cfg.Scenarios, scenario) }

// emit makes the reading of sensor sn at ts and applies the per-reading
// scenarios. It returns the event to send now, if any.
func (s *Sim) emit(sn *sensor, ts time.Time) (Event, bool) {
	s.seq++
	r := schemas.SensorReading{
		ReadingID: s.readingID(s.seq), SensorID: sn.id, AssetID: sn.asset, SensorType: sn.typ,
		TS: ts, Value: sn.value(ts, s.rng), Unit: sn.p.unit, Quality: int32(90 + s.rng.IntN(11)),
	}
	if s.on(Spikes) && s.rng.Float64() < s.cfg.SpikeRate {
		r.Value += (8 + 4*s.rng.Float64()) * sn.p.scale() * sign(s.rng)
		s.stats.Spikes++
		s.truth.reading("spike", &r, 0)
	}
	if s.on(Malformed) && s.rng.Float64() < s.cfg.MalformedRate {
		s.stats.Malformed++
		return s.malform(r), true
	}
	ev := Event{Kind: KindReading, Key: r.SensorID, Reading: r, Seq: s.seq}
	if s.on(Duplicates) && s.rng.Float64() < s.cfg.DuplicateRate {
		dup := ev
		dup.Kind = KindDuplicate
		s.stats.Duplicates++
		s.truth.reading("duplicate", &r, 0)
		s.hold(dup, ts.Add(time.Duration(s.rng.Float64()*float64(2*time.Second))))
	}
	switch {
	case s.on(Late) && s.rng.Float64() < s.cfg.LateRate:
		d := 30*time.Second + time.Duration(s.rng.Float64()*float64(60*time.Second))
		s.stats.Late++
		s.truth.reading("late", &r, d)
		s.hold(ev, ts.Add(d))
		return Event{}, false
	case s.on(OutOfOrder) && s.rng.Float64() < s.cfg.OutOfOrderRate:
		d := time.Duration(s.rng.Float64() * float64(s.cfg.OutOfOrderMax))
		s.stats.OutOfOrder++
		s.hold(ev, ts.Add(d))
		return Event{}, false
	}
	return ev, true
}

// malform turns reading r into one of the bad records producers send.
func (s *Sim) malform(r schemas.SensorReading) Event {
	ev := Event{Kind: KindMalformed, Key: r.SensorID, Seq: s.seq}
	var reason string
	switch s.rng.IntN(6) {
	case 0:
		reason, ev.Raw = "garbage", []byte(fmt.Sprintf(`{"sensor_id":%q,"value":%g}`, r.SensorID, r.Value))
	case 1:
		reason = "truncated"
		body := r.AppendAvro(nil)
		ev.Raw = append(binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, schemas.SensorReadingSchema.Fingerprint()), body[:len(body)/2]...)
	case 2:
		reason, r.Value = "nan", math.NaN()
	case 3:
		reason, r.ReadingID = "bad_id", "reading-"+r.ReadingID[:8]
	case 4:
		reason, r.Quality = "quality", 150+int32(s.rng.IntN(100))
	case 5:
		reason, r.TS = "future_ts", r.TS.Add(48*time.Hour)
	}
	ev.Reading = r
	s.truth.malformed(&r, reason)
	return ev
}

func (s *Sim) hold(ev Event, at time.Time) { heap.Push(&s.delayed, delayed{at: at, ev: ev}) }

// readingID returns a UUID-shaped id whose last group is seq, so that the
// sequence of a reading can be read back from its id (SeqOf).
func (s *Sim) readingID(seq uint64) string {
	var b [36]byte
	hexPut(b[0:8], s.idBase[0]>>32, 8)
	b[8] = '-'
	hexPut(b[9:13], s.idBase[0]>>16, 4)
	b[13] = '-'
	hexPut(b[14:18], 0x4000|s.idBase[1]&0x0fff, 4)
	b[18] = '-'
	hexPut(b[19:23], 0x8000|s.idBase[2]&0x0fff, 4)
	b[23] = '-'
	hexPut(b[24:36], seq, 12)
	return string(b[:])
}

// SeqOf returns the sequence number in a reading id made by a Sim, and
// false for any other id.
func SeqOf(id string) (uint64, bool) {
	if len(id) != 36 || id[23] != '-' {
		return 0, false
	}
	var v uint64
	for i := 24; i < 36; i++ {
		c := id[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func hexPut(dst []byte, v uint64, n int) {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

func sign(rng *rand.Rand) float64 {
	if rng.IntN(2) == 0 {
		return -1
	}
	return 1
}

type delayed struct {
	at time.Time
	ev Event
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
