// Package features turns clean readings into per-sensor window features
// in event time: tumbling, hopping or count windows, a watermark per input
// partition with allowed lateness, and a close on idle.
//
// Features are computed in one pass from exact sums (see accum), so a
// window's FeatureVector does not depend on the order its readings
// arrived in, and a replay gives the same vectors. Only sensor types with
// a spectrum keep their window's samples, for the FFT.
//
// Crash safety: the stage retains (see pipeline.Retainer) the offset of
// the oldest reading in an open window, so a restart replays every open
// window whole; and it checkpoints (pipeline.Checkpointer), with each
// commit, how far its windows are closed, so a replay never re-emits a
// window that was already emitted, partially.
package features

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// maxAbsValue bounds the readings the stage accepts: x⁴ of anything larger
// would leave float64's range.
const maxAbsValue = 1e50

// maxMicroSpan is the longest window whose samples' times, in µs from its
// start, fit in an int32 (which holds 35.8 minutes): longer windows, and
// count windows, keep them in ms.
const maxMicroSpan = 30 * time.Minute

// Stage is the features stage. Run it with a pipeline.Runner on
// sensor.readings.clean; all its methods are called from the runner's
// goroutine.
type Stage struct {
	cfg      Config
	features *pipeline.Output[*schemas.FeatureVector]
	late     *pipeline.Output[*schemas.SensorReading]
	parts    map[pipeline.TopicPartition]*partition
	spectral map[string]bool
	met      metrics
	size     int64 // window size, µs
	hop      int64 // window hop, µs
	lateness int64 // µs
	closing  []*window
	todo     []*window                // emit's scratch: the closed windows to compute
	lateN    []int64                  // and their late counts
	calcs    []*calc                  // one per goroutine computing closed windows
	fvs      []*schemas.FeatureVector // vectors' result, reused
	// sampleUnit is the time unit of spectral samples, in µs: 1, or 1000
	// for windows that may span more than an int32 of microseconds.
	sampleUnit int64
	// warnedSparse: the warning that windows are too sparse is given.
	warnedSparse bool
}

// partition is the state of one input partition.
type partition struct {
	id     int32 // its number: outputs go to the same partition of their topics
	maxTS  int64 // largest event time seen, µs; math.MinInt64 before any
	closed int64 // every window ending at or before this is closed, µs
	next   int64 // offset after the last reading processed, before a restart too
	// seen is the offset after the last reading processed since the
	// restart (or, before any, where its replay starts): the partition's
	// state (maxTS, closed) is the one just before seen.
	seen     int64
	replayTo int64 // offsets below this were processed before a restart
	// keepFrom: below this offset, every reading was accounted for before
	// the restart, in a window emitted or as a late reading counted in
	// one (from the checkpoint; math.MinInt64 without one). They are
	// skipped on a replay that starts earlier than the stage needs, as
	// when another stage shares its consumer (Fanout).
	keepFrom int64
	// emittedTo: windows ending at or before it (the frontier at the
	// checkpoint) were emitted before the restart. The replay forms them
	// again, so that late readings are counted as they were, but does not
	// emit them again.
	emittedTo int64
	// lateFrom: readings below this offset never count as late (a resume
	// from an f2 checkpoint, which cannot replay late counts).
	lateFrom  int64
	lastInput time.Time
	// waited is set while the partition's idle close waits on input on
	// its way (Emitter.Behind); the idle time restarts when it ends.
	waited  bool
	sensors map[string]*sensor
	open    []*window // open windows
	// earliestEnd is at most the smallest end of the open windows
	// (math.MaxInt64: none), so that a batch that closes nothing does not
	// walk them. retained caches, while retainedOK, the oldest of the
	// open windows' first readings and the late readings not yet counted
	// (see held): offsets only grow within a partition, so adding
	// readings keeps it current; closing a window or counting late
	// readings invalidates it.
	earliestEnd int64
	retained    from
	retainedOK  bool
}

// from is the state of a partition just before it processed the reading
// at off: resuming there with it, the stage goes through the same states
// as before.
type from struct {
	off, maxTS, closed int64
}

// at returns the state before the reading at off.
func (p *partition) at(off int64) from { return from{off, p.maxTS, p.closed} }

// held notes that the reading at f.off joined an open window of p or is a
// late reading not yet counted in one: the partition must be replayed
// from there after a restart.
func (p *partition) held(f from) {
	if p.retainedOK && f.off < p.retained.off {
		p.retained = f
	}
}

type sensor struct {
	id, asset, typ string
	windows        []*window // open windows of this sensor
	// late are the late readings not counted in a window yet, in offset
	// order. Each is counted in the first window of the sensor emitted
	// that holds a later reading (see emit).
	late        []from
	lastSamples int // samples in its last emitted window
	sparseRun   int // its last windows in a row with too few readings
}

type window struct {
	p          *partition
	s          *sensor
	start, end int64 // µs; for count windows, the first and last+1 event times
	origin     int64 // µs; time offsets in acc are from here
	acc        accum
	first      from   // the partition before the window's first reading
	maxOffset  int64  // of its last reading
	lastID     string // its last reading's id: the window's record carries it (pipeline.HeaderReadingID)
	idx        int    // in partition.open
	emitted    bool   // emitted before a restart: formed again, not emitted again
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{
		cfg:      cfg,
		features: pipeline.NewOutput[*schemas.FeatureVector](cfg.FeaturesTopic),
		late:     pipeline.NewOutput[*schemas.SensorReading](cfg.LateTopic),
		parts:    map[pipeline.TopicPartition]*partition{},
		spectral: map[string]bool{},
		met:      newMetrics(cfg.Registerer),
		size:     cfg.Size.Microseconds(),
		hop:      cfg.Hop.Microseconds(),
		lateness: cfg.Lateness.Microseconds(),
	}
	for _, t := range cfg.SpectralTypes {
		s.spectral[t] = true
	}
	s.sampleUnit = 1
	if cfg.Count > 0 || cfg.Size > maxMicroSpan {
		s.sampleUnit = 1000
	}
	for range cfg.Workers {
		s.calcs = append(s.calcs, &calc{spec: newSpectrum(cfg.Bands)})
	}
	return s, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.features, s.late} }

func (s *Stage) part(tp pipeline.TopicPartition) *partition {
	p := s.parts[tp]
	if p == nil {
		p = &partition{maxTS: math.MinInt64, closed: math.MinInt64, keepFrom: math.MinInt64, emittedTo: math.MinInt64, lateFrom: math.MinInt64,
			sensors: map[string]*sensor{}, earliestEnd: math.MaxInt64, id: tp.Partition}
		s.parts[tp] = p
	}
	return p
}

// frontier is the time at or before which windows of p are closed.
func (s *Stage) frontier(p *partition) int64 {
	wm := int64(math.MinInt64)
	if p.maxTS != math.MinInt64 {
		wm = p.maxTS - s.lateness
	}
	return max(wm, p.closed)
}

// Process adds a batch of readings to their windows and emits the windows
// the watermark has passed. Late readings go to the late topic.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	touched := map[*partition]bool{}
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.SensorReading]) error {
		r := &m.Value
		if math.IsNaN(r.Value) || math.Abs(r.Value) > maxAbsValue {
			return pipeline.Invalidf("value %g outside ±%g", r.Value, maxAbsValue)
		}
		p := s.part(pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition})
		p.next = max(p.next, m.Offset+1)
		if m.Offset < p.keepFrom {
			return nil // accounted for before the restart
		}
		p.seen = max(p.seen, m.Offset+1)
		touched[p] = true
		sn := p.sensor(r)
		ts := r.TS.UnixMicro()
		if s.cfg.Count > 0 {
			s.addCount(p, sn, ts, r.Value, m.Offset, r.ReadingID, out)
			return nil
		}
		before := p.at(m.Offset)
		p.maxTS = max(p.maxTS, ts)
		front := s.frontier(p)
		late := false
		// Windows start at multiples of hop; those holding ts start in
		// (ts-size, ts].
		for start := floorDiv(ts, s.hop) * s.hop; start > ts-s.size; start -= s.hop {
			if start+s.size <= front {
				late = true
				continue
			}
			w := p.window(sn, start, start+s.size, s.sampleUnitOf(sn), before)
			w.add(ts, r.Value, m.Offset, r.ReadingID)
			p.held(before)
		}
		if late && m.Offset >= p.lateFrom {
			sn.late = append(sn.late, before)
			p.held(before)
			if m.Offset >= p.replayTo { // a replay's were sent before
				s.met.late.Inc()
				s.late.EmitAt(out, m.Partition, r.SensorID, r)
			}
		}
		return nil
	})
	// Every partition's windows close at about the same moment: they are
	// computed together, so that the burst is spread over the workers.
	s.closing = s.closing[:0]
	now := s.cfg.Clock.Now() // after the batch: its own processing is not idle time
	for p := range touched {
		p.lastInput, p.waited = now, false
		front := s.frontier(p)
		if front >= p.earliestEnd {
			s.takeClosed(p, front)
		}
		if front != math.MinInt64 {
			s.met.watermark.WithLabelValues(strconv.Itoa(int(p.id))).Set(float64(front) / 1e6)
		}
	}
	s.emit(s.closing, out)
	s.met.open.Set(float64(s.openWindows()))
	return nil
}

// addCount adds a reading to its sensor's count window, which is emitted
// once it holds Count readings. Count windows are not aligned: their
// bounds are their readings' first and last event times.
func (s *Stage) addCount(p *partition, sn *sensor, ts int64, x float64, off int64, id string, out *pipeline.Emitter) {
	if len(sn.windows) == 0 {
		p.window(sn, ts, ts+1, s.sampleUnitOf(sn), p.at(off))
	}
	w := sn.windows[0]
	w.start, w.end = min(w.start, ts), max(w.end, ts+1)
	w.add(ts, x, off, id)
	p.held(p.at(off))
	if w.acc.n >= int64(s.cfg.Count) {
		p.drop(w)
		s.emit([]*window{w}, out)
	}
}

// takeClosed moves the windows of p that end at or before front to
// s.closing, for emit.
func (s *Stage) takeClosed(p *partition, front int64) {
	n := len(s.closing)
	keep := p.open[:0]
	p.earliestEnd = math.MaxInt64
	for _, w := range p.open {
		if w.end <= front {
			w.emitted = w.end <= p.emittedTo
			s.closing = append(s.closing, w)
			p.forget(w)
			continue
		}
		w.idx = len(keep)
		keep = append(keep, w)
		p.earliestEnd = min(p.earliestEnd, w.end)
	}
	if len(s.closing) > n {
		p.retainedOK = false
	}
	clear(p.open[len(keep):])
	p.open = keep
}

// emit computes and emits closed windows, ordered by end, sensor, start.
// It does nothing for none.
//
// A late reading is counted in the first window of its sensor, in this
// order, that holds a reading after it (a larger offset). The rule is one
// of offsets alone, so the same input gives the same counts however it
// is batched, and a replay after a restart gives them again.
func (s *Stage) emit(ws []*window, out *pipeline.Emitter) {
	slices.SortFunc(ws, func(a, b *window) int {
		return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.s.id, b.s.id), cmp.Compare(a.start, b.start))
	})
	s.todo, s.lateN = s.todo[:0], s.lateN[:0]
	for _, w := range ws {
		sn := w.s
		sn.lastSamples = len(w.acc.samples)
		n := 0
		for n < len(sn.late) && sn.late[n].off < w.maxOffset {
			n++
		}
		if n > 0 {
			sn.late = slices.Delete(sn.late, 0, n)
			w.p.retainedOK = false
			if len(sn.windows) == 0 && len(sn.late) == 0 {
				delete(w.p.sensors, sn.id)
			}
		}
		if !w.emitted {
			s.todo, s.lateN = append(s.todo, w), append(s.lateN, int64(n))
		}
	}
	for i, fv := range s.vectors(s.todo) {
		sn := s.todo[i].s
		if fv == nil {
			continue
		}
		fv.LateCount = s.lateN[i]
		s.features.EmitAtFor(out, s.todo[i].p.id, fv.SensorID, fv, s.todo[i].lastID)
		s.met.windows.Inc()
		if fv.Count < SparseReadings && s.cfg.Count == 0 { // count windows hold what they were asked to
			sn.sparseRun++
			s.sparse(fv, sn.sparseRun)
		} else {
			sn.sparseRun = 0
		}
	}
	clear(ws) // closed windows are garbage now
	clear(s.todo)
	clear(s.fvs)
}

// SparseReadings is the fewest readings a window needs for all its
// statistics (std from 2, skewness from 3, kurtosis from 4); time windows
// with fewer are emitted, and counted in
// smaint_features_sparse_windows_total. (Count windows hold what they
// were asked to: "count:1" is a point per reading on purpose.)
const SparseReadings = 4

// sparse counts a window with too few readings, the run-th in a row of
// its sensor, and says so the first time a sensor has more in a row than
// windows cover an instant: on data sampled more slowly than the windows
// are long, every window is such, and the scores built on them mean
// little. (Fewer are a sensor's first or last windows, cut short by
// where its readings begin or end: one with tumbling windows, up to
// Size/Hop with hopping ones.)
func (s *Stage) sparse(fv *schemas.FeatureVector, run int) {
	s.met.sparse.Inc()
	if !s.warnedSparse && s.cfg.Hop > 0 && run > max(1, int(s.cfg.Size/s.cfg.Hop)) {
		s.warnedSparse = true
		// The window held Count readings: they come about every
		// size/Count, and WindowsFor says what would hold enough.
		span := fv.WindowEnd.Sub(fv.WindowStart)
		s.cfg.Logger.Warn("feature windows hold too few readings for their statistics: each window is scored as a single point; for windows with statistics, lengthen them (--windows); said once, counted in smaint_features_sparse_windows_total",
			"sensor", fv.SensorID, "readings", fv.Count, "needed", SparseReadings, "windows", s.cfg.Windows(),
			"suggested_windows", WindowsFor(span/time.Duration(max(fv.Count, 1))))
	}
}

// TickEvery implements pipeline.Ticker.
func (s *Stage) TickEvery() time.Duration { return max(time.Second, s.cfg.IdleTimeout/4) }

// Tick closes every window of the partitions that have been idle for the
// idle timeout, and marks those windows' time as closed. A partition is
// idle when it has been read to its end (see pipeline.Emitter.Behind) and
// nothing came for the idle timeout: a backlog, however slowly the
// machine works through it, never closes windows early, and neither do
// readings an upstream instance wrote in a transaction it has not ended
// (it crashed mid-transaction and has not restarted yet).
func (s *Stage) Tick(ctx context.Context, now time.Time, out *pipeline.Emitter) {
	s.closing = s.closing[:0]
	for tp, p := range s.parts {
		if len(p.open) == 0 || now.Sub(p.lastInput) < s.cfg.IdleTimeout {
			continue
		}
		if out.Behind(ctx, tp) {
			p.lastInput, p.waited = now, true // input is on its way
			s.met.idleWaits.Inc()
			continue
		}
		if p.waited { // it no longer is: the quiet starts now
			p.lastInput, p.waited = now, false
			continue
		}
		last := p.closed
		for _, w := range p.open {
			last = max(last, w.end)
		}
		s.met.idleCloses.Inc()
		s.takeClosed(p, math.MaxInt64)
		if s.cfg.Count == 0 {
			p.closed = last
		}
	}
	s.emit(s.closing, out)
	s.met.open.Set(float64(s.openWindows()))
}

// Retained implements pipeline.Retainer: the oldest offset of each
// partition in an open window or late and not yet counted in one.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := make(map[pipeline.TopicPartition]int64, len(s.parts))
	for tp, p := range s.parts {
		if r := p.oldestNeeded(); r.off != math.MaxInt64 {
			out[tp] = r.off
		}
	}
	return out
}

// oldestNeeded is the state of p before the oldest reading in an open
// window or late and not yet counted in one (off math.MaxInt64 if none).
func (p *partition) oldestNeeded() from {
	if !p.retainedOK {
		p.retained = from{off: math.MaxInt64}
		for _, w := range p.open {
			if w.first.off < p.retained.off {
				p.retained = w.first
			}
		}
		for _, sn := range p.sensors {
			if len(sn.late) > 0 && sn.late[0].off < p.retained.off {
				p.retained = sn.late[0]
			}
		}
		p.retainedOK = true
	}
	return p.retained
}

// Checkpoint implements pipeline.Checkpointer: "f3", the frontier up to
// which windows were emitted, the next offset to process, then the offset
// to replay from after a restart (keep: every reading before it is
// accounted for) with the largest event time and closed frontier just
// before it, so that a replay goes through the same states.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	p := s.parts[tp]
	if p == nil {
		return ""
	}
	keep := p.oldestNeeded()
	if keep.off >= p.seen {
		keep = p.at(p.seen)
	}
	b := make([]byte, 0, 96)
	b = append(b, "f3"...)
	for _, v := range []int64{max(p.emittedTo, s.frontier(p)), p.next, keep.off, keep.maxTS, keep.closed} {
		b = strconv.AppendInt(append(b, ' '), v, 10)
	}
	return string(b)
}

// Resume implements pipeline.Checkpointer. The replay starts at the
// checkpoint's keep offset, in the state the partition had there: it
// goes through the same states as before the restart, counts the same
// late readings, and forms again the windows emitted before the commit
// (ending at or before the checkpointed frontier) without emitting them
// again. Late readings below the checkpointed next offset are not sent
// to the late topic again.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	delete(s.parts, tp)
	if checkpoint == "" {
		return
	}
	var maxTS, closed, next, emitted int64
	keep := from{off: math.MinInt64}
	if _, err := fmt.Sscanf(checkpoint, "f3 %d %d %d %d %d", &emitted, &next, &keep.off, &keep.maxTS, &keep.closed); err == nil {
		p := s.part(tp)
		p.maxTS, p.closed, p.next, p.replayTo, p.keepFrom, p.emittedTo = keep.maxTS, keep.closed, next, next, keep.off, emitted
		p.seen = keep.off
		return
	}
	// f2 and f1, from before late readings were replayed: resume at the
	// checkpointed frontier, skip what was emitted, and count no replayed
	// reading as late (its count went with a window before the restart,
	// or is lost).
	keep.off = math.MinInt64
	if _, err := fmt.Sscanf(checkpoint, "f2 %d %d %d %d", &maxTS, &closed, &next, &keep.off); err != nil {
		keep.off = math.MinInt64
		if _, err := fmt.Sscanf(checkpoint, "f1 %d %d %d", &maxTS, &closed, &next); err != nil {
			s.cfg.Logger.Error("unreadable checkpoint; resuming without it", "topic", tp.Topic, "partition", tp.Partition, "checkpoint", checkpoint)
			return
		}
	}
	p := s.part(tp)
	p.maxTS, p.closed, p.next, p.replayTo, p.keepFrom, p.lateFrom, p.seen = maxTS, closed, next, next, keep.off, next, next
	p.emittedTo = s.frontier(p)
}

// Revoked implements pipeline.Revoker.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		delete(s.parts, tp)
		s.met.watermark.DeleteLabelValues(strconv.Itoa(int(tp.Partition)))
	}
	s.met.open.Set(float64(s.openWindows()))
}

func (s *Stage) openWindows() int {
	n := 0
	for _, p := range s.parts {
		n += len(p.open)
	}
	return n
}

func (p *partition) sensor(r *schemas.SensorReading) *sensor {
	sn := p.sensors[r.SensorID]
	if sn == nil {
		sn = &sensor{id: r.SensorID, asset: r.AssetID, typ: r.SensorType}
		p.sensors[r.SensorID] = sn
	}
	return sn
}

// window returns sensor sn's open window [start, end), opening it if need
// be, as of first; a new window keeps samples, in sampleUnit, if
// sampleUnit is not 0.
func (p *partition) window(sn *sensor, start, end, sampleUnit int64, first from) *window {
	for _, w := range sn.windows {
		if w.start == start {
			return w
		}
	}
	w := &window{p: p, s: sn, start: start, end: end, origin: start, first: first,
		acc: accum{spectral: sampleUnit != 0, sampleUnit: sampleUnit}, idx: len(p.open)}
	if sampleUnit != 0 {
		// Room for as many samples as the sensor's last window had, and a
		// little more: no regrowing, and no slack left by doubling.
		w.acc.samples = make([]sample, 0, sn.lastSamples+sn.lastSamples/16+4)
	}
	sn.windows = append(sn.windows, w)
	p.open = append(p.open, w)
	p.earliestEnd = min(p.earliestEnd, end)
	return w
}

// drop removes one window from p's open windows.
func (p *partition) drop(w *window) {
	last := len(p.open) - 1
	p.open[w.idx] = p.open[last]
	p.open[w.idx].idx = w.idx
	p.open[last] = nil
	p.open = p.open[:last]
	p.retainedOK = false
	p.forget(w)
}

// forget removes a closed window from its sensor, and the sensor once it
// has nothing left.
func (p *partition) forget(w *window) {
	sn := w.s
	sn.windows = slices.DeleteFunc(sn.windows, func(x *window) bool { return x == w })
	if len(sn.windows) == 0 && len(sn.late) == 0 {
		delete(p.sensors, sn.id)
	}
}

// add adds the reading at event time ts (µs) to w.
func (w *window) add(ts int64, x float64, off int64, id string) {
	w.acc.add(ts-w.origin, x)
	w.maxOffset, w.lastID = off, id
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ParseWindows sets c's windows (Size, Hop, Count, Auto) from a spec such
// as "60s", "60s/15s" (hopping), "count:600" or "auto" (see Config.Auto);
// Config.Windows writes one.
func ParseWindows(spec string, c *Config) error {
	c.Size, c.Hop, c.Count, c.Auto = 0, 0, 0, false
	if spec == "auto" {
		c.Auto = true
		return nil
	}
	if n, ok := strings.CutPrefix(spec, "count:"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return fmt.Errorf("%w: window %q: count must be a positive integer", pipeline.ErrConfig, spec)
		}
		c.Count = v
		return nil
	}
	size, hop, hopping := strings.Cut(spec, "/")
	d, err := time.ParseDuration(size)
	if err != nil {
		return fmt.Errorf("%w: window %q: %v", pipeline.ErrConfig, spec, err)
	}
	c.Size = d
	if hopping {
		if c.Hop, err = time.ParseDuration(hop); err != nil {
			return fmt.Errorf("%w: window %q: hop: %v", pipeline.ErrConfig, spec, err)
		}
	}
	return nil
}

// sampleUnitOf is the time unit of sn's spectral samples, 0 if its type
// gets no spectrum.
func (s *Stage) sampleUnitOf(sn *sensor) int64 {
	if !s.spectral[sn.typ] {
		return 0
	}
	return s.sampleUnit
}
