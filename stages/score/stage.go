package score

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the score stage.
type Config struct {
	// Thresholds are the score at or above which a window is anomalous,
	// per sensor type; DefaultThreshold (0.5) covers the others. An
	// Isolation Forest model's own threshold applies to its type unless
	// Thresholds names the type.
	Thresholds       map[string]float64
	DefaultThreshold float64
	// Detector names the detector for every sensor type without a loaded
	// model: "robust" (the default; see Robust) or "adaptive" (see
	// Adaptive). Robust and Adaptive tune them.
	Detector string
	Robust   RobustConfig
	Adaptive AdaptiveConfig
	// Models are Isolation Forests by sensor type (see LoadModels); they
	// can be replaced while running with SetModel.
	Models map[string]*IForest

	ScoresTopic string // default sensor.scores
	// StateTopic keeps the robust detector's cycles (compacted; default
	// sensor.score.state): see Stage.
	StateTopic string

	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.DefaultThreshold == 0 {
		c.DefaultThreshold = 0.5
	}
	if c.Detector == "" {
		c.Detector = "robust"
	}
	c.Robust = c.Robust.WithDefaults()
	c.Adaptive = c.Adaptive.WithDefaults()
	if c.ScoresTopic == "" {
		c.ScoresTopic = pipeline.DefaultTopics().Scores
	}
	if c.StateTopic == "" {
		c.StateTopic = pipeline.DefaultTopics().ScoreState
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	bad := func(v float64) bool { return !(v > 0 && v < 1) }
	if bad(c.DefaultThreshold) {
		return fmt.Errorf("%w: score: default threshold %v outside (0, 1)", pipeline.ErrConfig, c.DefaultThreshold)
	}
	switch c.Detector {
	case "robust":
		if err := c.Robust.Validate(); err != nil {
			return fmt.Errorf("%w: score: %v", pipeline.ErrConfig, err)
		}
	case "adaptive":
	default:
		return fmt.Errorf("%w: score: unknown detector %q (want robust or adaptive)", pipeline.ErrConfig, c.Detector)
	}
	for t, v := range c.Thresholds {
		if bad(v) {
			return fmt.Errorf("%w: score: threshold %v for %s outside (0, 1)", pipeline.ErrConfig, v, t)
		}
	}
	return nil
}

// Stage is the score stage: FeatureVectors in, AnomalyScores out. Run it
// with a pipeline.Runner on sensor.features. Process and the runner hooks
// are called from the runner's goroutine; SetModel may be called from any.
//
// Each sensor's baseline is built from its last windows, so on a restart
// the stage retains (pipeline.Retainer) enough input to rebuild every
// baseline, and checkpoints (pipeline.Checkpointer) where it had got to:
// replayed windows rebuild the baselines without being scored again.
//
// The robust detector's daily cycles take days to learn, longer than any
// retained input: each change to a sensor's cycle goes to StateTopic in
// the batch's transaction, and the stage gets the cycles back from there
// (pipeline.Restorer) before it replays, so a restart scores as an
// uninterrupted run would.
type Stage struct {
	cfg      Config
	scores   *pipeline.Output[*schemas.AnomalyScore]
	state    *pipeline.Output[*schemas.StageState]
	baseline sensorDetector // for types without a model
	met      metrics

	mu      sync.Mutex // guards models and shadows
	models  map[string]*IForest
	shadows map[string]*IForest // scored beside models (Apply, SetShadow)

	parts map[pipeline.TopicPartition]*partState
}

// partState tracks, per partition, each sensor's recent input offsets
// (as many as its baseline holds) and the offset processing had reached.
type partState struct {
	offsets  map[string][]int64 // sensor -> ring of offsets, oldest first
	next     int64
	replayTo int64
	restored map[string]bool // sensors whose cycle came from the state topic
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{
		cfg:     cfg,
		scores:  pipeline.NewOutput[*schemas.AnomalyScore](cfg.ScoresTopic),
		state:   pipeline.NewOutput[*schemas.StageState](cfg.StateTopic),
		met:     newMetrics(cfg.Registerer),
		models:  map[string]*IForest{},
		shadows: map[string]*IForest{},
		parts:   map[pipeline.TopicPartition]*partState{},
	}
	s.baseline = NewRobust(cfg.Robust, s.threshold)
	if cfg.Detector == "adaptive" {
		s.baseline = NewAdaptive(cfg.Adaptive, s.threshold)
	}
	for t, m := range cfg.Models {
		s.models[t] = m
		s.met.live.WithLabelValues(t, m.Model, m.Version).Set(1)
	}
	return s, nil
}

// SetModel makes m score its sensor type from the next window on, and
// ends the type's shadow, if any.
func (s *Stage) SetModel(m *IForest) {
	s.mu.Lock()
	if old := s.models[m.SensorType]; old != nil {
		s.met.live.DeleteLabelValues(m.SensorType, old.Model, old.Version)
	}
	s.models[m.SensorType] = m
	delete(s.shadows, m.SensorType)
	s.met.live.WithLabelValues(m.SensorType, m.Model, m.Version).Set(1)
	s.mu.Unlock()
	s.cfg.Logger.Info("model loaded", "model", m.Model, "version", m.Version, "sensor_type", m.SensorType)
}

func (s *Stage) model(sensorType string) *IForest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.models[sensorType]
}

// threshold is the anomaly threshold of a sensor type.
func (s *Stage) threshold(sensorType string) float64 {
	return s.thresholdOf(sensorType, s.model(sensorType))
}

// thresholdOf is the threshold of a sensor type scored by m (nil: by the
// stage's detector).
func (s *Stage) thresholdOf(sensorType string, m *IForest) float64 {
	if v, ok := s.cfg.Thresholds[sensorType]; ok {
		return v
	}
	if m != nil {
		return m.Threshold
	}
	return s.cfg.DefaultThreshold
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port {
	if s.StateTopic() == "" {
		return []pipeline.Port{s.scores}
	}
	return []pipeline.Port{s.scores, s.state}
}

// StateTopic implements pipeline.Restorer: where the robust detector
// keeps its cycles; "" when it learns none (another detector, or no
// Season).
func (s *Stage) StateTopic() string {
	if s.cfg.Detector != "robust" || s.cfg.Robust.Season <= 0 {
		return ""
	}
	return s.cfg.StateTopic
}

// Restore implements pipeline.Restorer: a sensor's cycle. One that does
// not fit the configured season is dropped, and the sensor learns its
// cycle again.
func (s *Stage) Restore(tp pipeline.TopicPartition, key string, value []byte) {
	if !s.baseline.restoreCycle(key, value) {
		s.cfg.Logger.Warn("a sensor's cycle in the state topic does not fit the configured season; it is learnt again", "sensor", key)
		return
	}
	s.part(tp).restored[key] = true
}

var _ pipeline.Restorer = (*Stage)(nil)

// Process scores each FeatureVector; replayed ones only feed baselines.
// Vectors that warm a sensor's baseline up are emitted with score 0 and
// a model version ending in "/warm-up".
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.FeatureVector], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.FeatureVector]) error {
		fv := &m.Value
		if fv.SensorID == "" {
			return pipeline.Invalidf("feature vector without sensor_id")
		}
		p := s.part(pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition})
		p.next = max(p.next, m.Offset+1)
		p.track(fv.SensorID, m.Offset, s.baseline.history())

		// One read of the type's model per window: a swap between two
		// reads would pair one model's score with another's threshold. A
		// sensor the model was not trained on, and a window cut short,
		// stay with the baseline (IForest.Judges).
		// The baseline follows every window, those a model scores too, so
		// that a sensor a new version leaves out (one in an incident while
		// it trained) or a rollback finds it warm, and a restart builds it
		// from the same windows whichever version is live then.
		mdl := s.model(fv.SensorType)
		if mdl != nil && !mdl.Judges(fv) {
			mdl = nil
		}
		var d Detector = s.baseline
		v := s.baseline.Score(fv)
		if e := s.baseline.changedCycle(); e != nil {
			s.state.EmitAt(out, m.Partition, fv.SensorID, &schemas.StageState{Key: fv.SensorID, Value: e})
		}
		if mdl != nil {
			d = mdl.Detector()
			v = d.Score(fv)
		}
		if m.Offset < p.replayTo {
			s.met.replayed.Inc()
			return nil
		}
		if math.IsNaN(v.Score) {
			v.Score = 0
		}
		th := s.thresholdOf(fv.SensorType, mdl)
		as := &schemas.AnomalyScore{
			SensorID: fv.SensorID, AssetID: fv.AssetID, SensorType: fv.SensorType,
			WindowStart: fv.WindowStart, WindowEnd: fv.WindowEnd,
			Score: v.Score, Threshold: th, IsAnomaly: v.OK && v.Score >= th,
			Detector: d.Name(), ModelVersion: d.Version(), Contributions: v.Shares, Deviations: v.Deviations,
		}
		if !v.OK {
			as.Score, as.ModelVersion = 0, as.ModelVersion+"/warm-up"
			s.met.warmUp.Inc()
		}
		if as.IsAnomaly {
			s.met.anomalies.WithLabelValues(fv.SensorType).Inc()
		}
		if v.OK {
			s.shadow(fv, as.IsAnomaly)
		}
		if v.Cycle {
			s.met.cycle.Inc()
		}
		s.met.scored.WithLabelValues(d.Name()).Inc()
		s.scores.EmitAtFor(out, m.Partition, fv.SensorID, as, m.ReadingID)
		return nil
	})
	s.met.sensors.Set(float64(s.baseline.Sensors()))
	return nil
}

func (s *Stage) part(tp pipeline.TopicPartition) *partState {
	p := s.parts[tp]
	if p == nil {
		p = &partState{offsets: map[string][]int64{}, restored: map[string]bool{}}
		s.parts[tp] = p
	}
	return p
}

// track remembers the offset of a sensor's window, keeping as many as
// its baseline holds.
func (p *partState) track(sensor string, off int64, keep int) {
	ring := append(p.offsets[sensor], off)
	if len(ring) > keep+1 {
		ring = ring[len(ring)-keep-1:]
	}
	p.offsets[sensor] = ring
}

// Retained implements pipeline.Retainer: the oldest offset any sensor's
// baseline was built from.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	for tp, p := range s.parts {
		for _, ring := range p.offsets {
			if off, ok := out[tp]; !ok || ring[0] < off {
				out[tp] = ring[0]
			}
		}
	}
	return out
}

// Checkpoint implements pipeline.Checkpointer: the next offset to score.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	if p := s.parts[tp]; p != nil {
		return pipeline.NextOffset("s1", p.next)
	}
	return ""
}

// Resume implements pipeline.Checkpointer. It comes after Restore, whose
// sensors it keeps.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	var restored map[string]bool
	if p := s.parts[tp]; p != nil {
		restored = p.restored
	}
	delete(s.parts, tp)
	if next, ok := pipeline.ParseNextOffset("s1", checkpoint); ok {
		p := s.part(tp)
		p.next, p.replayTo = next, next
	}
	if len(restored) > 0 {
		s.part(tp).restored = restored
	}
}

// Revoked implements pipeline.Revoker: the partitions' sensors' baselines
// go too; whoever owns them next rebuilds them from the retained input.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		if p := s.parts[tp]; p != nil {
			for sensor := range p.offsets {
				s.baseline.forget(sensor)
			}
			for sensor := range p.restored {
				s.baseline.forget(sensor)
			}
		}
		delete(s.parts, tp)
	}
}

type metrics struct {
	scored, anomalies, shadow *prometheus.CounterVec
	warmUp, replayed, refused prometheus.Counter
	cycle                     prometheus.Counter
	sensors                   prometheus.Gauge
	live                      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		scored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_score_windows_total", Help: "Windows scored, by detector.",
		}, []string{"detector"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_score_anomalies_total", Help: "Windows scored at or above their threshold, by sensor type.",
		}, []string{"sensor_type"}),
		warmUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_score_warmup_total", Help: "Windows that went into a baseline still warming up.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_score_replayed_total", Help: "Windows consumed again after a restart, used to rebuild baselines only.",
		}),
		sensors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_score_sensors", Help: "Sensors with a baseline.",
		}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_score_shadow_windows_total", Help: "Windows a shadow model scored beside the live one, by sensor type, shadow version and whether the two agreed on anomalous.",
		}, []string{"sensor_type", "version", "agree"}),
		live: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_score_model_info", Help: "1 for the model version each sensor type is scored by (types scored by --detector have none).",
		}, []string{"sensor_type", "model", "version"}),
		cycle: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_score_cycle_windows_total", Help: "Windows judged against the same phase of their sensor's learnt daily cycle (--baseline-season).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_score_models_refused_total", Help: "Model versions announced on model.updates and refused (checksum, format); the model in use stayed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.scored, m.anomalies, m.warmUp, m.replayed, m.sensors, m.shadow, m.refused, m.live, m.cycle)
	}
	return m
}
