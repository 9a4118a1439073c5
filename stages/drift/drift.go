// Package drift watches the distribution of each sensor's raw values and
// reports when it moves: every Window of event time it compares the
// window just closed (the current window) with the one before it (the
// reference) by a two-sample Kolmogorov–Smirnov test and the population
// stability index, and asks for the sensor type's model to be retrained
// when they agree that it moved.
//
// Comparing consecutive windows makes the test one of change, not of age:
// a step or a calibration drift is reported as it happens, and a slow
// cycle is not, as long as it moves the sensor by well under a third of
// its spread per window (with 300 values a window, KS and PSI begin to
// see about that much; a faster cycle is a change, and is reported).
//
// The KS p-value counts each window's values as the independent values
// they are worth (EffectiveSize, from the reference window's lag-1
// autocorrelation): a sensor that wanders slowly next to its sampling
// rate, as temperatures do, fills a window with values that nearly repeat
// each other, and tested as if independent any two of its windows would
// differ. Steps and drifts on a noisy sensor are reported as before.
package drift

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the drift stage.
type Config struct {
	Window    time.Duration // default 5m
	Lateness  time.Duration // default 10s: readings this far behind a sensor's latest still count
	MaxValues int           // values kept per window (default 512); beyond, every other is dropped
	MinValues int           // values both windows need before they are compared (default 50)

	Alpha        float64 // drift needs the KS p-value under Alpha (default 0.01)
	PSIThreshold float64 // and the PSI at or over this (default 0.2)
	Bins         int     // PSI bins at reference quantiles (default 10)
	Epsilon      float64 // share given to an empty PSI bin (default 1e-4)

	Cooldown      time.Duration // at most one retrain request per scope per Cooldown (default 6h)
	MaxConcurrent int           // scopes that may have a request within the last Cooldown (default 2)
	ModelPrefix   string        // model name is prefix + sensor type (default "iforest-")

	DriftTopic   string // default sensor.drift
	RetrainTopic string // default model.retrain

	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Window == 0 {
		c.Window = 5 * time.Minute
	}
	if c.Lateness == 0 {
		c.Lateness = 10 * time.Second
	}
	if c.MaxValues == 0 {
		c.MaxValues = 512
	}
	if c.MinValues == 0 {
		c.MinValues = 50
	}
	if c.Alpha == 0 {
		c.Alpha = 0.01
	}
	if c.PSIThreshold == 0 {
		c.PSIThreshold = 0.2
	}
	if c.Bins == 0 {
		c.Bins = 10
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-4
	}
	if c.Cooldown == 0 {
		c.Cooldown = 6 * time.Hour
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 2
	}
	if c.ModelPrefix == "" {
		c.ModelPrefix = "iforest-"
	}
	t := pipeline.DefaultTopics()
	if c.DriftTopic == "" {
		c.DriftTopic = t.Drift
	}
	if c.RetrainTopic == "" {
		c.RetrainTopic = t.Retrain
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Window < time.Second:
		return fmt.Errorf("%w: drift: window %v under a second", pipeline.ErrConfig, c.Window)
	case c.Lateness < 0:
		return fmt.Errorf("%w: drift: negative lateness", pipeline.ErrConfig)
	case c.MaxValues < 16 || c.MinValues < 2 || c.MinValues > c.MaxValues:
		return fmt.Errorf("%w: drift: values kept %d, needed %d", pipeline.ErrConfig, c.MaxValues, c.MinValues)
	case !(c.Alpha > 0 && c.Alpha < 1) || c.PSIThreshold <= 0:
		return fmt.Errorf("%w: drift: alpha %v, PSI threshold %v", pipeline.ErrConfig, c.Alpha, c.PSIThreshold)
	case c.Bins < 2 || c.Bins > c.MinValues || !(c.Epsilon > 0 && c.Epsilon < 0.01):
		return fmt.Errorf("%w: drift: %d bins (at most MinValues), epsilon %v", pipeline.ErrConfig, c.Bins, c.Epsilon)
	case c.Cooldown < 0 || c.MaxConcurrent < 1:
		return fmt.Errorf("%w: drift: cooldown %v, max concurrent %d", pipeline.ErrConfig, c.Cooldown, c.MaxConcurrent)
	}
	return nil
}

// Stage is the drift stage. Run it with a pipeline.Runner on
// sensor.readings.clean; its methods are called from the runner's
// goroutine.
//
// A restart rebuilds each sensor's windows from retained input
// (pipeline.Retainer) and skips the reports it had already emitted
// (pipeline.Checkpointer). The retrain cooldown is per instance and not
// checkpointed: a restart may request a retrain early.
type Stage struct {
	cfg       Config
	drift     *pipeline.Output[*schemas.DriftReport]
	retrain   *pipeline.Output[*schemas.RetrainEvent]
	parts     map[pipeline.TopicPartition]*partState
	requested map[string]time.Time // scope -> last request (event time)
	met       metrics
	window    int64 // µs
	lateness  int64 // µs
	refBuf    []float64
	curBuf    []float64
	// warnedSparse: the warning that windows are too sparse is given.
	warnedSparse bool
}

type partState struct {
	sensors  map[string]*sensorState
	next     int64
	replayTo int64
	// retained caches the smallest minOffset of the partition's windows
	// (math.MaxInt64: none) while retainedOK. Offsets only grow within a
	// partition, so adding to windows keeps it current cheaply; dropping a
	// window invalidates it.
	retained   int64
	retainedOK bool
}

type sensorState struct {
	id, asset, typ string
	partition      int32 // its reports go to the same partition of sensor.drift
	maxTS          int64
	open           []*window // windows not closed yet, by start
	ref            *window   // the last closed window
	sparseRun      int       // comparisons in a row not made for want of values
}

// window holds a sample of the values of one sensor in [start, end).
type window struct {
	start, end int64 // µs
	values     []float32
	stride     int   // keep one value in stride
	seen       int64 // values that fell in the window
	minOffset  int64
	rho        float64 // lag-1 autocorrelation of values, in arrival order; set at close
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stage{
		cfg:       cfg,
		drift:     pipeline.NewOutput[*schemas.DriftReport](cfg.DriftTopic),
		retrain:   pipeline.NewOutput[*schemas.RetrainEvent](cfg.RetrainTopic),
		parts:     map[pipeline.TopicPartition]*partState{},
		requested: map[string]time.Time{},
		met:       newMetrics(cfg.Registerer),
		window:    cfg.Window.Microseconds(),
		lateness:  cfg.Lateness.Microseconds(),
	}, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.drift, s.retrain} }

// Process adds readings to their sensors' windows and compares each
// window that closes with the one before.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.SensorReading]) error {
		r := &m.Value
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return pipeline.Invalidf("value %v is not finite", r.Value)
		}
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		p := s.parts[tp]
		if p == nil {
			p = &partState{sensors: map[string]*sensorState{}}
			s.parts[tp] = p
		}
		p.next = max(p.next, m.Offset+1)
		sn := p.sensors[r.SensorID]
		if sn == nil {
			sn = &sensorState{id: r.SensorID, asset: r.AssetID, typ: r.SensorType, maxTS: math.MinInt64, partition: m.Partition}
			p.sensors[r.SensorID] = sn
		}
		ts := r.TS.UnixMicro()
		sn.maxTS = max(sn.maxTS, ts)
		closedBefore := sn.maxTS - s.lateness
		start := floorDiv(ts, s.window) * s.window
		if start+s.window <= closedBefore || (sn.ref != nil && start < sn.ref.end) {
			s.met.late.Inc()
			return nil
		}
		sn.windowAt(start, s.window).add(float32(r.Value), s.cfg.MaxValues, m.Offset)
		if p.retainedOK {
			p.retained = min(p.retained, m.Offset)
		}
		for len(sn.open) > 0 && sn.open[0].end <= closedBefore {
			w := sn.open[0]
			sn.open = sn.open[1:]
			p.retainedOK = false // the old reference goes
			s.closeWindow(sn, w, m.Offset < p.replayTo, out)
		}
		return nil
	})
	return nil
}

// closeWindow compares w with the sensor's reference, emits the report
// (unless replaying), and makes w the reference.
func (s *Stage) closeWindow(sn *sensorState, w *window, replay bool, out *pipeline.Emitter) {
	// A closed window takes no more values: sorted now, it is sorted when
	// it is the reference of the next comparison.
	w.rho = Lag1(w.values)
	slices.Sort(w.values)
	ref := sn.ref
	sn.ref = w
	if ref == nil {
		return
	}
	if n := min(len(ref.values), len(w.values)); n < s.cfg.MinValues {
		s.sparse(sn, n)
		return
	}
	sn.sparseRun = 0
	s.refBuf = widen(s.refBuf, ref.values)
	s.curBuf = widen(s.curBuf, w.values)
	// Both samples count as many independent values as the reference's
	// autocorrelation allows: the current window's own is inflated by the
	// very change under test.
	d, p := KSTestSized(s.refBuf, s.curBuf, EffectiveSize(len(s.refBuf), ref.rho), EffectiveSize(len(s.curBuf), ref.rho))
	psi := PSI(s.refBuf, s.curBuf, s.cfg.Bins, s.cfg.Epsilon)
	rep := &schemas.DriftReport{
		SensorID: sn.id, AssetID: sn.asset, SensorType: sn.typ,
		ReferenceStart: time.UnixMicro(ref.start).UTC(), ReferenceEnd: time.UnixMicro(ref.end).UTC(),
		CurrentStart: time.UnixMicro(w.start).UTC(), CurrentEnd: time.UnixMicro(w.end).UTC(),
		ReferenceCount: ref.seen, CurrentCount: w.seen,
		KSStatistic: d, KSPValue: p, PSI: psi,
		Drifted: p < s.cfg.Alpha && psi >= s.cfg.PSIThreshold, Method: "ks+psi",
	}
	if replay {
		s.met.replayed.Inc()
		return
	}
	s.met.reports.Inc()
	s.drift.EmitAt(out, sn.partition, sn.id, rep)
	if rep.Drifted {
		s.met.drifted.WithLabelValues(sn.typ).Inc()
		s.maybeRetrain(rep, out)
	}
}

// maybeRetrain asks for the sensor type's model to be retrained, unless
// its scope is cooling down or too many scopes already have requests out.
func (s *Stage) maybeRetrain(rep *schemas.DriftReport, out *pipeline.Emitter) {
	scope := "sensor_type:" + rep.SensorType
	at := rep.CurrentEnd
	if last, ok := s.requested[scope]; ok && at.Sub(last) < s.cfg.Cooldown {
		s.met.cooldown.Inc()
		return
	}
	outstanding := 0
	for _, t := range s.requested {
		if at.Sub(t) < s.cfg.Cooldown {
			outstanding++
		}
	}
	if outstanding >= s.cfg.MaxConcurrent {
		s.met.capped.Inc()
		s.cfg.Logger.Info("retrain request held back: too many outstanding", "scope", scope, "outstanding", outstanding)
		return
	}
	s.requested[scope] = at
	s.met.retrains.Inc()
	model := s.cfg.ModelPrefix + rep.SensorType
	s.retrain.Emit(out, model, &schemas.RetrainEvent{
		EventID:   scope + "@" + strconv.FormatInt(at.UnixMicro(), 10),
		ModelName: model, Scope: scope, SensorID: rep.SensorID,
		Reason: fmt.Sprintf("drift on %s: KS D=%.3f p=%.2g, PSI=%.2f between %s and %s",
			rep.SensorID, rep.KSStatistic, rep.KSPValue, rep.PSI, rep.ReferenceStart.Format(time.RFC3339), rep.CurrentEnd.Format(time.RFC3339)),
		KSStatistic: rep.KSStatistic, KSPValue: rep.KSPValue, PSI: rep.PSI, RequestedAt: at,
	})
}

// widen converts vs into dst; sorted float32s stay sorted as float64s.
func widen(dst []float64, vs []float32) []float64 {
	dst = dst[:0]
	for _, v := range vs {
		dst = append(dst, float64(v))
	}
	return dst
}

// windowAt returns the open window starting at start, opening it (in
// start order) if need be.
func (sn *sensorState) windowAt(start, length int64) *window {
	i, found := slices.BinarySearchFunc(sn.open, start, func(w *window, s int64) int { return int(w.start - s) })
	if found {
		return sn.open[i]
	}
	w := &window{start: start, end: start + length, stride: 1, minOffset: math.MaxInt64}
	sn.open = slices.Insert(sn.open, i, w)
	return w
}

// add keeps v if it falls on the window's stride; when the sample is
// full, it keeps every other value and doubles the stride.
func (w *window) add(v float32, maxValues int, off int64) {
	w.minOffset = min(w.minOffset, off)
	w.seen++
	if (w.seen-1)%int64(w.stride) != 0 {
		return
	}
	if len(w.values) == maxValues {
		kept := w.values[:0]
		for i := 0; i < len(w.values); i += 2 {
			kept = append(kept, w.values[i])
		}
		w.values = kept
		w.stride *= 2
		if (w.seen-1)%int64(w.stride) != 0 {
			return
		}
	}
	w.values = append(w.values, v)
}

// Retained implements pipeline.Retainer: the oldest offset of any window
// a sensor still needs (its reference and its open windows). It walks a
// partition's sensors only after a window was dropped.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := make(map[pipeline.TopicPartition]int64, len(s.parts))
	for tp, p := range s.parts {
		if !p.retainedOK {
			p.retained = math.MaxInt64
			for _, sn := range p.sensors {
				if sn.ref != nil {
					p.retained = min(p.retained, sn.ref.minOffset)
				}
				for _, w := range sn.open {
					p.retained = min(p.retained, w.minOffset)
				}
			}
			p.retainedOK = true
		}
		if p.retained != math.MaxInt64 {
			out[tp] = p.retained
		}
	}
	return out
}

// Checkpoint implements pipeline.Checkpointer: the next offset to process.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	if p := s.parts[tp]; p != nil {
		return pipeline.NextOffset("d1", p.next)
	}
	return ""
}

// Resume implements pipeline.Checkpointer.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	delete(s.parts, tp)
	if next, ok := pipeline.ParseNextOffset("d1", checkpoint); ok {
		s.parts[tp] = &partState{sensors: map[string]*sensorState{}, next: next, replayTo: next}
	}
}

// Revoked implements pipeline.Revoker.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		delete(s.parts, tp)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// sparse counts a comparison not made for want of values, and says so
// the first time it happens twice in a row to a sensor: a sensor too slow
// for its windows never reports drift, and without a word that would look
// like a steady sensor. (Once is a sensor's first or last window, cut
// short by where its readings begin or end.)
func (s *Stage) sparse(sn *sensorState, n int) {
	s.met.sparse.Inc()
	sn.sparseRun++
	if !s.warnedSparse && sn.sparseRun >= 2 {
		s.warnedSparse = true
		s.cfg.Logger.Warn("drift windows too sparse to compare: with these settings this sensor never reports drift; lengthen the drift window (--drift-window) or lower the values it needs (--drift-min-values); said once, counted in smaint_drift_sparse_windows_total",
			"sensor", sn.id, "values", n, "needed", s.cfg.MinValues, "window", s.cfg.Window.String(), "window_needed", WindowFor(s.cfg.Window, n, s.cfg.MinValues).String())
	}
}

// WindowFor is the drift window that would hold need values of a sensor
// that had got in window: whole minutes, at least window. A sensor that
// got none gets a day, the longest a drift window usefully runs.
func WindowFor(window time.Duration, got, need int) time.Duration {
	if got <= 0 {
		return 24 * time.Hour
	}
	w := time.Duration(float64(window) * float64(need) / float64(got))
	return max(window, min(24*time.Hour, (w+time.Minute-1).Truncate(time.Minute)))
}

type metrics struct {
	reports, late, replayed, retrains, cooldown, capped, sparse prometheus.Counter
	drifted                                                     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := metrics{
		reports:  c("smaint_drift_reports_total", "Drift reports emitted."),
		late:     c("smaint_drift_late_total", "Readings for a window already compared, left out."),
		replayed: c("smaint_drift_replayed_total", "Comparisons redone after a restart without emitting again."),
		retrains: c("smaint_drift_retrain_requests_total", "Retrain events emitted."),
		cooldown: c("smaint_drift_retrain_cooldown_total", "Retrain requests not made because their scope was cooling down."),
		capped:   c("smaint_drift_retrain_capped_total", "Retrain requests held back by the cap on outstanding requests."),
		sparse:   c("smaint_drift_sparse_windows_total", "Comparisons not made because a window held fewer values than MinValues."),
		drifted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_drift_drifted_total", Help: "Comparisons that found drift, by sensor type.",
		}, []string{"sensor_type"}),
	}
	if reg != nil {
		reg.MustRegister(m.reports, m.late, m.replayed, m.retrains, m.cooldown, m.capped, m.sparse, m.drifted)
	}
	return m
}
