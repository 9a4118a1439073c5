// Package forecast is the forecast stage: it follows one feature of each
// sensor window by window, by a smoothed level with the trend its history
// shows (Level) or, while that lags a change, a damped trend (Holt), or
// the last value once the change has stopped (Settled), and issues, as
// each window closes, where the feature will be at the horizon, with an
// 80% interval, and when it will cross the sensor's limit. The alert
// stage turns forecasts that cross into PREDICTED alerts.
//
// Where a sensor has a daily (Config.Season) cycle, the stage learns it
// slot by slot (package cycle) and forecasts the series without it, adding
// it back along the path: the level and trend models see a slow drift,
// and the cycle's turns are foreseen rather than extrapolated from the
// last hour's slope.
//
// A forecast depends only on the sensor's last History windows and its
// cycle, which the stage keeps in a compacted state topic
// (pipeline.Restorer) in the same transaction as its forecasts; so a
// restart that replays the windows (pipeline.Retainer) forecasts exactly
// as an uninterrupted run would.
package forecast

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/cycle"
)

// Stage is the forecast stage: FeatureVectors in, Forecasts out. Run it
// with a pipeline.Runner on sensor.features; its methods are called from
// the runner's goroutine. A sensor gets no forecast until WarmUp window
// lengths of it have been seen, nor for a window whose feature is not a
// number.
type Stage struct {
	cfg       Config
	forecasts *pipeline.Output[*schemas.Forecast]
	state     *pipeline.Output[*schemas.StageState]
	season    cycle.Learner
	sensors   map[string]*sensorState
	parts     map[pipeline.TopicPartition]*partState
	met       metrics
	// Scratch space for one forecast.
	path, spread, sorted, strided, errs []float64
}

type partState struct {
	next, replayTo int64
	sensors        map[string]bool
	restored       map[string]*cycle.Cycle // cycles from the state topic, until their sensor's first window
}

type sensorState struct {
	tp      pipeline.TopicPartition
	limit   *Limit
	feature string
	values  []float64     // the last History·overlap windows' feature, oldest first
	offsets []int64       // their offsets
	starts  []int64       // their starts, in Unix microseconds
	cycle   *cycle.Cycle  // nil without a Season
	hops    schemas.Hops  // its overlap: how many of its windows cover an instant
	step    time.Duration // the time a step of the model spans
}

// MaxSteps bounds the steps a forecast looks ahead: a horizon that needs
// more (windows far shorter than it) is cut to MaxSteps steps.
const MaxSteps = 1000

type metrics struct {
	forecasts, crossing prometheus.Counter
	skipped, cycle      prometheus.Counter
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := metrics{
		forecasts: prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_forecasts_total", Help: "Forecasts issued."}),
		crossing:  prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_forecast_crossings_total", Help: "Forecasts that foresee the sensor's limit crossed within the horizon (or already crossed)."}),
		skipped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_forecast_skipped_windows_total", Help: "Windows left out of the forecasts: their feature was not a number, or they were older than the sensor's last."}),
		cycle:     prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_forecast_cycle_total", Help: "Forecasts made along their sensor's learnt daily cycle (--forecast-season; model name ending in +cycle)."}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.forecasts, m.crossing, m.skipped, m.cycle)
	}
	return &Stage{
		cfg: cfg, forecasts: pipeline.NewOutput[*schemas.Forecast](cfg.ForecastsTopic),
		state:   pipeline.NewOutput[*schemas.StageState](cfg.StateTopic),
		season:  cycle.New(cfg.Season, cfg.Slots),
		sensors: map[string]*sensorState{}, parts: map[pipeline.TopicPartition]*partState{}, met: m,
	}, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port {
	if !s.season.On() {
		return []pipeline.Port{s.forecasts}
	}
	return []pipeline.Port{s.forecasts, s.state}
}

// cycleSuffix ends the model name of a forecast made along the cycle.
const cycleSuffix = "+cycle"

// Process follows each window's feature and emits a forecast for it.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.FeatureVector], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.FeatureVector]) error {
		fv := &m.Value
		if fv.SensorID == "" {
			return pipeline.Invalidf("feature vector without sensor_id")
		}
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		p := s.part(tp)
		p.next = max(p.next, m.Offset+1)
		if f := s.observe(fv, tp, m.Offset, out, m.Partition); f != nil && m.Offset >= p.replayTo {
			s.met.forecasts.Inc()
			if strings.HasSuffix(f.Model, cycleSuffix) {
				s.met.cycle.Inc()
			}
			if f.Predicts() {
				s.met.crossing.Inc()
			}
			s.forecasts.EmitAtFor(out, m.Partition, f.SensorID, f, m.ReadingID)
		}
		p.sensors[fv.SensorID] = true
		return nil
	})
	return nil
}

func (s *Stage) part(tp pipeline.TopicPartition) *partState {
	p := s.parts[tp]
	if p == nil {
		p = &partState{sensors: map[string]bool{}, restored: map[string]*cycle.Cycle{}}
		s.parts[tp] = p
	}
	return p
}

// observe adds fv to its sensor's history and returns the forecast it
// leads to, or nil. A change to the sensor's cycle goes to the state
// topic, on partition.
func (s *Stage) observe(fv *schemas.FeatureVector, tp pipeline.TopicPartition, off int64, out *pipeline.Emitter, partition int32) *schemas.Forecast {
	sn := s.sensors[fv.SensorID]
	if sn == nil {
		sn = &sensorState{tp: tp, limit: s.cfg.limitFor(fv.SensorID, fv.SensorType), feature: s.cfg.DefaultFeature}
		if sn.limit != nil && sn.limit.Feature != "" {
			sn.feature = sn.limit.Feature
		}
		if p := s.parts[tp]; p != nil {
			sn.cycle = p.restored[fv.SensorID]
			delete(p.restored, fv.SensorID)
		}
		s.sensors[fv.SensorID] = sn
	}
	sn.tp = tp
	v, _ := fv.Value(sn.feature)
	last := sn.hops.Last()
	if math.IsNaN(v) || math.IsInf(v, 0) || (!last.IsZero() && !fv.WindowStart.After(last)) {
		s.met.skipped.Inc()
		return nil
	}
	overlap := sn.hops.Observe(fv.WindowStart, fv.WindowEnd)
	// A step of the model is a window length, or the time from the
	// window before when that is longer (count windows, gaps).
	sn.step = fv.WindowEnd.Sub(fv.WindowStart)
	if gap := fv.WindowStart.Sub(last); overlap == 1 && !last.IsZero() && gap > sn.step {
		sn.step = gap
	}
	if s.season.On() {
		changed := sn.cycle == nil
		if changed {
			sn.cycle = s.season.Start(fv.WindowStart)
		} else {
			changed = s.season.Advance(sn.cycle, fv.WindowStart, sn.starts, sn.values)
		}
		if changed {
			s.state.EmitAt(out, partition, fv.SensorID, &schemas.StageState{Key: fv.SensorID, Value: sn.cycle.Entry()})
		}
	}
	sn.values = append(sn.values, v)
	sn.offsets = append(sn.offsets, off)
	sn.starts = append(sn.starts, fv.WindowStart.UnixMicro())
	if keep := s.cfg.History * overlap; len(sn.values) > keep {
		sn.values = slices.Delete(sn.values, 0, len(sn.values)-keep)
		sn.offsets = slices.Delete(sn.offsets, 0, len(sn.offsets)-keep)
		sn.starts = slices.Delete(sn.starts, 0, len(sn.starts)-keep)
	}
	if len(sn.values) < s.cfg.WarmUp*overlap {
		return nil
	}
	return s.forecast(sn, fv, v)
}

// forecast fits the model to sn's history and looks Horizon ahead; nil
// when the fit is not finite (values near the float64 limit).
func (s *Stage) forecast(sn *sensorState, fv *schemas.FeatureVector, observed float64) *schemas.Forecast {
	// The model steps a window length at a time: over hopping windows it
	// is fitted on every overlap-th window back from this one, windows
	// that do not share readings, so that its smoothing and its errors
	// mean the same whatever the hop.
	hop := sn.step
	if hop <= 0 {
		return nil
	}
	steps := min(int((s.cfg.Horizon+hop-1)/hop), MaxSteps)
	// With a cycle, the models see the series without it, and the path
	// gets it back at each step's middle.
	cyc := s.season.Usable(sn.cycle)
	half := fv.WindowEnd.Sub(fv.WindowStart) / 2
	s.strided = s.strided[:0]
	overlap := sn.hops.Overlap()
	for i := (len(sn.values) - 1) % overlap; i < len(sn.values); i += overlap {
		v := sn.values[i]
		if cyc {
			v -= s.season.At(sn.cycle, time.UnixMicro(sn.starts[i]).Add(half))
		}
		s.strided = append(s.strided, v)
	}
	st, model := pick(s.strided, s.cfg.Slow, s.cfg.Fast, s.cfg.Select, s.cfg.Bias, &s.errs)
	s.path = slices.Grow(s.path[:0], steps)[:steps]
	s.spread = slices.Grow(s.spread[:0], steps)[:steps]
	model.path(st, s.path, s.spread)
	name := model.name()
	if cyc {
		mid := fv.WindowStart.Add(half)
		for h := range s.path {
			s.path[h] += s.season.At(sn.cycle, mid.Add(time.Duration(h+1)*hop))
		}
		st.level += s.season.At(sn.cycle, mid)
		name += cycleSuffix
	}
	last := steps - 1
	f := &schemas.Forecast{
		SensorID: fv.SensorID, AssetID: fv.AssetID, SensorType: fv.SensorType, Feature: sn.feature,
		IssuedAt: fv.WindowEnd, HorizonS: (time.Duration(steps) * hop).Seconds(), Observed: observed,
		Level: st.level, TrendPerHour: st.trend * float64(time.Hour) / float64(hop),
		Value: s.path[last], Lower: s.path[last] - z80*st.sigma*s.spread[last], Upper: s.path[last] + z80*st.sigma*s.spread[last],
		CrossesInS: -1, CrossesEarliestS: -1, CrossesLatestS: -1, Model: name,
	}
	if !finite(f.Level, f.TrendPerHour, f.Value, f.Lower, f.Upper) {
		return nil // values near the float64 limit: no forecast can be told of them
	}
	if sn.limit != nil {
		s.cross(f, sn, st, hop)
	}
	return f
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// cross sets f's limit and when the forecast, and its interval's ends,
// cross it. Below-limits are handled as above-limits of the negated
// series.
func (s *Stage) cross(f *schemas.Forecast, sn *sensorState, st state, hop time.Duration) {
	l := sn.limit
	usual := 0.0
	if l.relative() {
		s.sorted = append(s.sorted[:0], sn.values...)
		slices.Sort(s.sorted)
		n := len(s.sorted)
		usual = (s.sorted[(n-1)/2] + s.sorted[n/2]) / 2
	}
	f.LimitDirection, f.Limit = l.direction(), l.at(usual)
	sign := 1.0
	if f.LimitDirection == "below" {
		sign = -1
	}
	limit := sign * f.Limit
	secs := func(steps float64) float64 {
		if steps < 0 {
			return -1
		}
		return steps * hop.Seconds()
	}
	if sign*f.Observed >= limit { // the window itself is beyond
		f.CrossesInS, f.CrossesEarliestS, f.CrossesLatestS = 0, 0, 0
		return
	}
	// The path (k 0) and its interval's near (k 1) and far (k -1) ends.
	at := func(k float64, h int) float64 {
		if h < 0 {
			return sign*st.level + k*z80*st.sigma
		}
		return sign*s.path[h] + k*z80*st.sigma*s.spread[h]
	}
	f.CrossesInS = secs(crossing(len(s.path), func(h int) float64 { return at(0, h) }, limit))
	f.CrossesEarliestS = secs(crossing(len(s.path), func(h int) float64 { return at(1, h) }, limit))
	f.CrossesLatestS = secs(crossing(len(s.path), func(h int) float64 { return at(-1, h) }, limit))
}

// Retained implements pipeline.Retainer: the oldest offset any sensor's
// history holds, per input partition.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	for _, sn := range s.sensors {
		if len(sn.offsets) == 0 {
			continue
		}
		if cur, ok := out[sn.tp]; !ok || sn.offsets[0] < cur {
			out[sn.tp] = sn.offsets[0]
		}
	}
	return out
}

// Checkpoint implements pipeline.Checkpointer: the next offset to forecast.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	if p := s.parts[tp]; p != nil {
		return pipeline.NextOffset("f1", p.next)
	}
	return ""
}

// Resume implements pipeline.Checkpointer: windows below the checkpointed
// offset rebuild histories without being forecast again.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	if next, ok := pipeline.ParseNextOffset("f1", checkpoint); ok {
		p := s.part(tp)
		p.next, p.replayTo = next, next
	}
}

// StateTopic implements pipeline.Restorer: the topic of the sensors'
// cycles; "" (no state) without a Season.
func (s *Stage) StateTopic() string {
	if !s.season.On() {
		return ""
	}
	return s.cfg.StateTopic
}

// Restore implements pipeline.Restorer: a sensor's cycle as its last
// fold left it. One that does not fit the configured cycle is dropped,
// and the sensor learns its cycle again.
func (s *Stage) Restore(tp pipeline.TopicPartition, key string, value []byte) {
	c := &cycle.Cycle{}
	if err := c.UnmarshalJSON(value); err != nil || !s.season.Fits(c) {
		delete(s.part(tp).restored, key) // an earlier entry of the key is no better
		s.cfg.Logger.Warn("a sensor's cycle in the state topic does not fit the configured season; it is learnt again", "sensor", key, "err", err)
		return
	}
	p := s.part(tp)
	p.restored[key] = c
	p.sensors[key] = true
}

var _ pipeline.Restorer = (*Stage)(nil)

// Revoked implements pipeline.Revoker: the partitions' sensors go.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		if p := s.parts[tp]; p != nil {
			for id := range p.sensors {
				delete(s.sensors, id)
			}
		}
		delete(s.parts, tp)
	}
}
