package predict

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the predict stage, which scores assets in the stream
// with a failure classifier.
type Config struct {
	// Classifier is the model, stored as Model, version Version; both are
	// named in every record. Nil: the stage waits for one (SetClassifier),
	// and scores nothing until then.
	Classifier *Classifier
	Model      string // default gbdt-failure
	Version    string
	// Feature is the feature an input named by a sensor type (or sensor
	// id) alone takes from that sensor's window (default mean); an input
	// named "<type>.<feature>" takes the feature it names.
	Feature string
	// Pending is how many window starts of an asset may wait for the rest
	// of its sensors at once (default 240): the oldest go beyond it. It
	// bounds memory for an asset without a sensor the classifier needs; a
	// window start is dropped anyway once an input it lacks has come for a
	// later one.
	Pending int
	// Drivers is how many features a record names as drivers (default 3).
	Drivers int
	// Reload is how often the model store is asked for a new live version
	// of Model (default 1m); the stage's builder does the asking.
	Reload time.Duration

	PredictionsTopic string // default asset.predictions
	Registerer       prometheus.Registerer
	Logger           *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Model == "" {
		c.Model = "gbdt-failure"
	}
	if c.Feature == "" {
		c.Feature = "mean"
	}
	if c.Pending == 0 {
		c.Pending = 240
	}
	if c.Drivers == 0 {
		c.Drivers = 3
	}
	if c.Reload == 0 {
		c.Reload = time.Minute
	}
	if c.PredictionsTopic == "" {
		c.PredictionsTopic = pipeline.DefaultTopics().Predictions
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	if c.Classifier != nil {
		if err := c.Classifier.usable(); err != nil {
			return err
		}
	}
	switch {
	case c.Pending < 1 || c.Drivers < 0 || c.Reload < 0:
		return fmt.Errorf("%w: predict: pending %d, drivers %d, reload %v", pipeline.ErrConfig, c.Pending, c.Drivers, c.Reload)
	}
	if _, ok := (&schemas.FeatureVector{}).Value(c.Feature); !ok {
		return fmt.Errorf("%w: predict: no feature %q", pipeline.ErrConfig, c.Feature)
	}
	return nil
}

// Stage scores each asset's window with the classifier once every input
// it needs has arrived: it reads asset.features (the windows keyed by
// asset, so an asset's sensors share a partition) and emits one
// Prediction per asset and window start whose inputs are complete. An
// input is named by a sensor type or sensor id, alone or as
// "<name>.<feature>"; a category input (a column of words in training)
// has no value in the stream and codes as unseen. Process and the runner
// hooks are called from the runner's goroutine. A restart replays the
// windows still waiting (Retained) and emits nothing twice (Checkpoint).
type Stage struct {
	cfg    Config // its Classifier and Version: the ones scoring
	out    *pipeline.Output[*schemas.Prediction]
	need   []string // the classifier's numeric inputs
	assets map[string]*assetState
	parts  map[pipeline.TopicPartition]*partState
	met    stageMetrics

	mu       sync.Mutex
	incoming *Config // a classifier SetClassifier gave, for the next batch
}

// assetState is an asset's rows waiting for inputs, oldest first, and
// the latest window start each input has come for.
type assetState struct {
	rows   []*row
	latest map[string]time.Time
}

// row is the inputs of one asset at one window start, filling up.
type row struct {
	start, end time.Time
	num        map[string]float64
	tp         pipeline.TopicPartition
	offset     int64 // of its first window
}

type partState struct {
	next, replayTo int64
	assets         map[string]bool
}

type stageMetrics struct {
	predictions, predicted, incomplete, unscored prometheus.Counter
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := stageMetrics{
		predictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_total", Help: "Predictions issued: an asset's window scored by the failure classifier."}),
		predicted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_failure_total", Help: "Predictions with some label at or over the threshold."}),
		incomplete:  prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_incomplete_total", Help: "An asset's window starts dropped before every input the classifier needs arrived."}),
		unscored:    prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_waiting_windows_total", Help: "Windows passed by while no classifier was loaded."}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.predictions, m.predicted, m.incomplete, m.unscored)
	}
	s := &Stage{cfg: cfg, out: pipeline.NewOutput[*schemas.Prediction](cfg.PredictionsTopic),
		assets: map[string]*assetState{}, parts: map[pipeline.TopicPartition]*partState{}, met: m}
	if cfg.Classifier != nil {
		s.need = cfg.Classifier.numeric()
	}
	return s, nil
}

// SetClassifier makes c, version version, score from the next batch on;
// the rows waiting for inputs are dropped, since c may need others. It
// may be called from any goroutine; it returns c's error when c is not a
// usable classifier, and the one scoring stays.
func (s *Stage) SetClassifier(c *Classifier, version string) error {
	if err := c.usable(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.cfg
	next.Classifier, next.Version = c, version
	s.incoming = &next
	return nil
}

// Version returns the version of the classifier scoring ("" for none).
// It is called from the runner's goroutine, as Process is.
func (s *Stage) Version() string { return s.cfg.Version }

// swap takes up a classifier SetClassifier gave.
func (s *Stage) swap() {
	s.mu.Lock()
	next := s.incoming
	s.incoming = nil
	s.mu.Unlock()
	if next == nil {
		return
	}
	for _, a := range s.assets {
		s.met.incomplete.Add(float64(len(a.rows)))
	}
	s.cfg, s.need, s.assets = *next, next.Classifier.numeric(), map[string]*assetState{}
	s.cfg.Logger.Info("classifier loaded", "model", s.cfg.Model, "version", s.cfg.Version, "inputs", next.Classifier.Inputs, "labels", next.Classifier.Labels)
}

// usable reports why c cannot score, wrapping pipeline.ErrConfig.
func (c *Classifier) usable() error {
	switch {
	case c == nil || len(c.Models) == 0:
		return fmt.Errorf("%w: predict: no classifier (smaint train --labels stores one as gbdt-failure)", pipeline.ErrConfig)
	case len(c.Models) != len(c.Labels):
		return fmt.Errorf("%w: predict: the classifier has %d models for %d labels", pipeline.ErrConfig, len(c.Models), len(c.Labels))
	}
	return nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.out} }

// Process adds each window to its asset's row and scores the rows it
// completes.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.FeatureVector], out *pipeline.Emitter) error {
	s.swap()
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.FeatureVector]) error {
		fv := &m.Value
		if fv.AssetID == "" {
			return pipeline.Invalidf("feature vector of sensor %q without asset_id", fv.SensorID)
		}
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		p := s.parts[tp]
		if p == nil {
			p = &partState{assets: map[string]bool{}}
			s.parts[tp] = p
		}
		p.next = max(p.next, m.Offset+1)
		p.assets[fv.AssetID] = true
		if s.cfg.Classifier == nil {
			s.met.unscored.Inc()
			return nil
		}
		if pr := s.add(fv, tp, m.Offset); pr != nil && m.Offset >= p.replayTo {
			s.met.predictions.Inc()
			if len(pr.Predicted()) > 0 {
				s.met.predicted.Inc()
			}
			s.out.EmitAtFor(out, m.Partition, pr.AssetID, pr, m.ReadingID)
		}
		return nil
	})
	return nil
}

// add puts fv's inputs into its asset's row for its window start, and
// returns the prediction when that completes the row. A row is dropped
// once it can no longer complete: an input it lacks has come for a later
// window start (its sensor skipped this one); and the oldest go when more
// than Config.Pending wait (an input no sensor of the asset gives).
func (s *Stage) add(fv *schemas.FeatureVector, tp pipeline.TopicPartition, off int64) *schemas.Prediction {
	a := s.assets[fv.AssetID]
	if a == nil {
		a = &assetState{latest: map[string]time.Time{}}
		s.assets[fv.AssetID] = a
	}
	vals := map[string]float64{}
	for _, in := range s.need {
		if v, ok := s.input(fv, in); ok {
			vals[in] = v
			if fv.WindowStart.After(a.latest[in]) {
				a.latest[in] = fv.WindowStart
			}
		}
	}
	if len(vals) == 0 {
		return nil
	}
	i := slices.IndexFunc(a.rows, func(r *row) bool { return r.start.Equal(fv.WindowStart) })
	if i < 0 {
		a.rows = append(a.rows, &row{start: fv.WindowStart, end: fv.WindowEnd, num: map[string]float64{}, tp: tp, offset: off})
		slices.SortFunc(a.rows, func(x, y *row) int { return x.start.Compare(y.start) })
		i = slices.IndexFunc(a.rows, func(r *row) bool { return r.start.Equal(fv.WindowStart) })
	}
	r := a.rows[i]
	r.end = maxTime(r.end, fv.WindowEnd)
	maps.Copy(r.num, vals)
	var pr *schemas.Prediction
	if x, missing := s.cfg.Classifier.Vector(r.num, nil); len(missing) == 0 {
		pr = s.predict(fv.AssetID, r, x)
		a.rows = slices.Delete(a.rows, i, i+1)
	}
	before := len(a.rows)
	a.rows = slices.DeleteFunc(a.rows, func(r *row) bool { return s.dead(a, r) })
	if over := len(a.rows) - s.cfg.Pending; over > 0 {
		a.rows = a.rows[over:]
	}
	s.met.incomplete.Add(float64(before - len(a.rows)))
	return pr
}

// dead reports whether r lacks an input that has come for a later window
// start already.
func (s *Stage) dead(a *assetState, r *row) bool {
	for _, in := range s.need {
		if _, ok := r.num[in]; !ok && a.latest[in].After(r.start) {
			return true
		}
	}
	return false
}

// input is the value fv gives input in, if in names fv's sensor type or
// id, alone (Config.Feature) or as "<name>.<feature>".
func (s *Stage) input(fv *schemas.FeatureVector, in string) (float64, bool) {
	if in == fv.SensorType || in == fv.SensorID {
		return fv.Value(s.cfg.Feature)
	}
	for _, name := range [...]string{fv.SensorType, fv.SensorID} {
		if f, ok := strings.CutPrefix(in, name+"."); ok && name != "" {
			return fv.Value(f)
		}
	}
	return 0, false
}

// predict scores a complete row.
func (s *Stage) predict(asset string, r *row, x []float64) *schemas.Prediction {
	c := s.cfg.Classifier
	probs := c.Probabilities(x)
	pr := &schemas.Prediction{AssetID: asset, WindowStart: r.start, WindowEnd: r.end, Model: s.cfg.Model, ModelVersion: s.cfg.Version,
		Probabilities: make(map[string]float64, len(probs)), Threshold: c.Threshold, Inputs: r.num, Drivers: map[string]float64{}}
	top := 0
	for k, p := range probs {
		pr.Probabilities[c.Labels[k]] = p
		if p > probs[top] {
			top = k
		}
	}
	for _, d := range c.DriversOf(x, top, s.cfg.Drivers) {
		pr.Drivers[d.Feature] = d.Effect
	}
	return pr
}

// Retained implements pipeline.Retainer: the first window of every row
// still waiting.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	for _, a := range s.assets {
		for _, r := range a.rows {
			if cur, ok := out[r.tp]; !ok || r.offset < cur {
				out[r.tp] = r.offset
			}
		}
	}
	return out
}

// Checkpoint implements pipeline.Checkpointer: the next offset to score.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	if p := s.parts[tp]; p != nil {
		return pipeline.NextOffset("p1", p.next)
	}
	return ""
}

// Resume implements pipeline.Checkpointer: windows below the checkpointed
// offset fill rows again without being scored again.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	if next, ok := pipeline.ParseNextOffset("p1", checkpoint); ok {
		s.parts[tp] = &partState{next: next, replayTo: next, assets: map[string]bool{}}
	}
}

// Revoked implements pipeline.Revoker: the partitions' assets go.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		if p := s.parts[tp]; p != nil {
			for id := range p.assets {
				delete(s.assets, id)
			}
		}
		delete(s.parts, tp)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
