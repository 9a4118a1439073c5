package predict

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the predict stage, which scores assets in the stream
// with a failure classifier or a remaining-life model.
type Config struct {
	// Task is failure (default: a Classifier) or rul (remaining useful
	// life: a RUL model).
	Task string
	// Classifier or RUL is the model, stored as Model, version Version;
	// both are named in every record. Nil: the stage waits for one
	// (SetClassifier, SetRUL), and scores nothing until then.
	Classifier *Classifier
	RUL        *RUL
	Model      string // default gbdt-failure, or gbdt-rul
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
	// RunGap ends an asset's run (the rul task) when its next complete
	// window starts this long or more after its last one ended: a repair
	// or a replacement took it off line, and that window begins a new
	// run. 0: runs never end.
	RunGap time.Duration
	// Attributes gives each asset's category inputs (asset id, then input
	// name, then level): what a classifier learnt from a column of words,
	// a product type or a machine model, that no sensor reports. An input
	// an asset lacks here codes as unseen, as a level training never saw.
	Attributes map[string]map[string]string

	PredictionsTopic string // default asset.predictions
	// StateTopic is where the rul task keeps each asset's run start (its
	// first Window rows' means): default asset.rul.state, compacted.
	StateTopic string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Task == "" {
		c.Task = TaskFailure
	}
	if c.Model == "" {
		c.Model = "gbdt-" + c.Task
	}
	if c.StateTopic == "" {
		c.StateTopic = pipeline.DefaultTopics().RULState
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
	switch c.Task {
	case TaskFailure:
		if c.RUL != nil {
			return fmt.Errorf("%w: predict: a remaining-life model for the failure task", pipeline.ErrConfig)
		}
		if c.Classifier != nil {
			if err := c.Classifier.Check(); err != nil {
				return err
			}
		}
	case TaskRUL:
		if c.Classifier != nil {
			return fmt.Errorf("%w: predict: a classifier for the rul task", pipeline.ErrConfig)
		}
		if c.RUL != nil {
			if err := c.RUL.Check(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: predict: task %q (want %s or %s)", pipeline.ErrConfig, c.Task, TaskFailure, TaskRUL)
	}
	switch {
	case c.RunGap < 0:
		return fmt.Errorf("%w: predict: run gap %v", pipeline.ErrConfig, c.RunGap)
	case c.Pending < 1 || c.Drivers < 0 || c.Reload < 0:
		return fmt.Errorf("%w: predict: pending %d, drivers %d, reload %v", pipeline.ErrConfig, c.Pending, c.Drivers, c.Reload)
	}
	if _, ok := (&schemas.FeatureVector{}).Value(c.Feature); !ok {
		return fmt.Errorf("%w: predict: no feature %q", pipeline.ErrConfig, c.Feature)
	}
	return nil
}

// Tasks of the predict stage.
const (
	TaskFailure = "failure"
	TaskRUL     = "rul"
)

// Stage scores each asset's window once every input its model needs has
// arrived: it reads asset.features (the windows keyed by asset, so an
// asset's sensors share a partition) and emits one Prediction per asset
// and window start whose inputs are complete. An input is named by a
// sensor type or sensor id, alone or as "<name>.<feature>"; a category
// input (a column of words in training) takes the asset's level from
// Config.Attributes, and codes as unseen where it has none. The rul task
// follows each asset's run from its first complete window: the time is
// the window lengths since then, and the means of its first Window rows,
// once known, go to the state topic (the stage is a pipeline.Restorer),
// since no replay of retained input brings them back. Process and the runner hooks are called from the
// runner's goroutine. A restart replays the windows still needed
// (Retained) and emits nothing twice (Checkpoint).
type Stage struct {
	cfg    Config // its model and Version: the ones scoring
	out    *pipeline.Output[*schemas.Prediction]
	state  *pipeline.Output[*schemas.StageState]
	need   []string // the model's numeric inputs
	assets map[string]*assetState
	runs   map[string]*runState // rul: by asset
	parts  map[pipeline.TopicPartition]*partState
	met    stageMetrics

	// renewed is, by asset, when renewing maintenance was done, sorted,
	// the latest maxRenewals at most:
	// every record of the topic, for assets of other instances too; an
	// asset's are forgotten once its run has passed them (renewal).
	renewed map[string][]time.Time

	task     string // cfg.Task, which never changes: read by SetClassifier and SetRUL from any goroutine
	mu       sync.Mutex
	incoming *model                 // a model SetClassifier or SetRUL gave, for the next batch
	maint    map[string][]time.Time // maintenance Maintained gave, for the next batch
}

// maxRenewals bounds the renewals kept per asset, for the assets of
// other instances too, whose runs never pass them.
const maxRenewals = 64

// model is one SetClassifier or SetRUL gave: one of the two is set.
type model struct {
	classifier *Classifier
	rul        *RUL
	version    string
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
	maintenance                                  *prometheus.CounterVec
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := stageMetrics{
		predictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_total", Help: "Predictions issued: an asset's window scored by the model."}),
		predicted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_failure_total", Help: "Predictions with some label at or over the threshold (failure task)."}),
		incomplete:  prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_incomplete_total", Help: "An asset's window starts dropped before every input the model needs arrived."}),
		unscored:    prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_predictions_waiting_windows_total", Help: "Windows passed by while no model was loaded."}),
		maintenance: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smaint_predictions_maintenance_total",
			Help: "Maintenance records taken (rul task), by whether the work renewed the asset and so ended its run."}, []string{"renews"}),
	}
	if cfg.Registerer != nil {
		labels := prometheus.Labels{"task": cfg.Task}
		reg := prometheus.WrapRegistererWith(labels, cfg.Registerer)
		reg.MustRegister(m.predictions, m.predicted, m.incomplete, m.unscored, m.maintenance)
	}
	s := &Stage{cfg: cfg, task: cfg.Task, out: pipeline.NewOutput[*schemas.Prediction](cfg.PredictionsTopic),
		assets: map[string]*assetState{}, runs: map[string]*runState{}, parts: map[pipeline.TopicPartition]*partState{}, met: m,
		renewed: map[string][]time.Time{}, maint: map[string][]time.Time{}}
	if cfg.Task == TaskRUL {
		s.state = pipeline.NewOutput[*schemas.StageState](cfg.StateTopic)
	}
	s.need = cfg.inputs()
	return s, nil
}

// inputs are the numeric inputs of c's model (nil without one).
func (c *Config) inputs() []string {
	switch {
	case c.Classifier != nil:
		return c.Classifier.numeric()
	case c.RUL != nil:
		return c.RUL.used()
	}
	return nil
}

// SetClassifier makes c, version version, score from the next batch on
// (failure task); the rows waiting for inputs are dropped, since c may
// need others. It may be called from any goroutine; it returns c's error
// when c is not a usable classifier, and the one scoring stays.
func (s *Stage) SetClassifier(c *Classifier, version string) error {
	if err := c.Check(); err != nil {
		return err
	}
	if s.task != TaskFailure {
		return fmt.Errorf("%w: predict: a classifier for the %s task", pipeline.ErrConfig, s.task)
	}
	s.set(&model{classifier: c, version: version})
	return nil
}

// SetRUL is SetClassifier for a remaining-life model (rul task). The
// assets' runs carry over when m reads the same channels over the same
// Window as the model before; otherwise each starts again.
func (s *Stage) SetRUL(m *RUL, version string) error {
	if err := m.Check(); err != nil {
		return err
	}
	if s.task != TaskRUL {
		return fmt.Errorf("%w: predict: a remaining-life model for the %s task", pipeline.ErrConfig, s.task)
	}
	s.set(&model{rul: m, version: version})
	return nil
}

// set hands m to the runner's goroutine, for swap; a later one replaces
// it.
func (s *Stage) set(m *model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incoming = m
}

// Version returns the version of the model scoring ("" for none). It is
// called from the runner's goroutine, as Process is.
func (s *Stage) Version() string { return s.cfg.Version }

// Maintained notes work done on an asset (the rul task; the failure task
// ignores it). Work that renewed the asset (Renews) ends its run: the
// first row the stage scores from then on that starts at or after
// PerformedAt begins a new run, dated from PerformedAt (from the latest,
// when several renewals fall before the row). A row after the run gap
// (Config.RunGap) begins a run dated from itself, whatever was done
// meanwhile. Rows replayed after a restart never end a run: the state
// topic holds the runs the stage began before it, so a restart follows
// them as they were. It may be called from any goroutine, and takes
// effect from the next batch.
func (s *Stage) Maintained(m *schemas.Maintenance) {
	s.met.maintenance.WithLabelValues(strconv.FormatBool(m.Renews)).Inc()
	if s.task != TaskRUL || !m.Renews || m.AssetID == "" || m.PerformedAt.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maint[m.AssetID] = append(s.maint[m.AssetID], m.PerformedAt)
}

// swap takes up a model SetClassifier or SetRUL gave, and the
// maintenance Maintained did.
func (s *Stage) swap() {
	s.mu.Lock()
	in := s.incoming
	s.incoming = nil
	for asset, ts := range s.maint {
		all := append(s.renewed[asset], ts...)
		slices.SortFunc(all, time.Time.Compare)
		all = slices.CompactFunc(all, time.Time.Equal)
		if over := len(all) - maxRenewals; over > 0 {
			all = slices.Delete(all, 0, over) // the oldest: a run that began before them all can only end at a later one
		}
		s.renewed[asset] = all
	}
	clear(s.maint)
	s.mu.Unlock()
	if in == nil {
		return
	}
	next := s.cfg
	next.Classifier, next.RUL, next.Version = in.classifier, in.rul, in.version
	for _, a := range s.assets {
		s.met.incomplete.Add(float64(len(a.rows)))
	}
	if old, m := s.cfg.RUL, next.RUL; m != nil && old == nil {
		// The first model: the runs restored from the state topic carry
		// over if they fit it.
		maps.DeleteFunc(s.runs, func(asset string, run *runState) bool { return run.start != nil && len(run.start) != len(m.Channels) })
	} else if m != nil && (old.Window != m.Window || !slices.Equal(old.Channels, m.Channels) || !slices.Equal(old.Used, m.Used)) {
		if len(s.runs) > 0 {
			s.cfg.Logger.Warn("the new remaining-life model reads other channels or another window: every asset's run starts again", "assets", len(s.runs))
		}
		s.runs = map[string]*runState{}
	}
	s.cfg, s.assets = next, map[string]*assetState{}
	s.need = s.cfg.inputs()
	s.cfg.Logger.Info("model loaded", "task", s.cfg.Task, "model", s.cfg.Model, "version", s.cfg.Version, "inputs", s.need)
}

// Check reports why c cannot score, wrapping pipeline.ErrConfig: a
// classifier read from a model store is checked before use.
func (c *Classifier) Check() error {
	switch {
	case c == nil || len(c.Models) == 0:
		return fmt.Errorf("%w: predict: no classifier (smaint train --labels stores one as gbdt-failure)", pipeline.ErrConfig)
	case len(c.Models) != len(c.Labels):
		return fmt.Errorf("%w: predict: the classifier has %d models for %d labels", pipeline.ErrConfig, len(c.Models), len(c.Labels))
	case !slices.Equal(c.Features, c.featureNames()):
		return fmt.Errorf("%w: predict: the classifier's features are not those of its inputs %q", pipeline.ErrConfig, c.Inputs)
	}
	for i, b := range c.Models {
		if err := b.check(len(c.Features)); err != nil {
			return fmt.Errorf("%w: predict: the classifier's model of %s: %w", pipeline.ErrConfig, c.Labels[i], err)
		}
	}
	return nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port {
	if s.state != nil {
		return []pipeline.Port{s.out, s.state}
	}
	return []pipeline.Port{s.out}
}

// StateTopic implements pipeline.Restorer: the rul task's state topic;
// the failure task keeps no state ("").
func (s *Stage) StateTopic() string {
	if s.state == nil {
		return ""
	}
	return s.cfg.StateTopic
}

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
		p := s.part(tp)
		p.next = max(p.next, m.Offset+1)
		p.assets[fv.AssetID] = true
		if len(s.need) == 0 {
			s.met.unscored.Inc()
			return nil
		}
		if in, v, bad := s.nonFinite(fv); bad {
			return pipeline.Invalidf("feature vector of sensor %q: input %s is %v, not a finite number", fv.SensorID, in, v)
		}
		r := s.add(fv, tp, m.Offset)
		replay := m.Offset < p.replayTo
		var pr *schemas.Prediction
		switch {
		case r == nil:
			return nil
		case s.cfg.RUL != nil:
			if pr = s.remaining(fv.AssetID, r, replay, m.Partition, out); pr == nil { // in replay too: it rebuilds the run
				return nil
			}
		case replay:
			return nil // scored before the restart
		default:
			pr = s.classify(fv.AssetID, r)
		}
		if !replay {
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

func (s *Stage) part(tp pipeline.TopicPartition) *partState {
	p := s.parts[tp]
	if p == nil {
		p = &partState{assets: map[string]bool{}}
		s.parts[tp] = p
	}
	return p
}

// add puts fv's inputs into its asset's row for its window start, and
// returns the row when that completes it. A row is dropped once it can
// no longer complete: an input it lacks has come for a later window
// start (its sensor skipped this one); and the oldest go when more than
// Config.Pending wait (an input no sensor of the asset gives).
func (s *Stage) add(fv *schemas.FeatureVector, tp pipeline.TopicPartition, off int64) *row {
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
	var done *row
	if len(r.num) == len(s.need) {
		done = r
		a.rows = slices.Delete(a.rows, i, i+1)
	}
	before := len(a.rows)
	a.rows = slices.DeleteFunc(a.rows, func(r *row) bool { return s.dead(a, r) })
	if over := len(a.rows) - s.cfg.Pending; over > 0 {
		a.rows = a.rows[over:]
	}
	s.met.incomplete.Add(float64(before - len(a.rows)))
	return done
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

// nonFinite returns an input of the model that fv gives as NaN or
// infinite, and its value. Such a window is refused: one NaN would end up
// in a prediction, and in a run's start (rul) poison every later one.
func (s *Stage) nonFinite(fv *schemas.FeatureVector) (string, float64, bool) {
	for _, in := range s.need {
		if v, ok := s.input(fv, in); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			return in, v, true
		}
	}
	return "", 0, false
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

// classify scores a complete row with the classifier.
func (s *Stage) classify(asset string, r *row) *schemas.Prediction {
	c := s.cfg.Classifier
	x, _ := c.Vector(r.num, s.cfg.Attributes[asset])
	probs := c.Probabilities(x)
	pr := s.record(asset, r)
	pr.Probabilities, pr.Threshold = make(map[string]float64, len(probs)), c.Threshold
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

// record is the Prediction of r, without its verdict.
func (s *Stage) record(asset string, r *row) *schemas.Prediction {
	return &schemas.Prediction{AssetID: asset, WindowStart: r.start, WindowEnd: r.end, Model: s.cfg.Model, ModelVersion: s.cfg.Version,
		Probabilities: map[string]float64{}, Inputs: r.num, Drivers: map[string]float64{}, RemainingLife: -1, RemainingLower: -1, RemainingUpper: -1}
}

// Retained implements pipeline.Retainer: the first window of every row
// still waiting, and of every row an asset's remaining life still looks
// back over.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	keep := func(tp pipeline.TopicPartition, off int64) {
		if cur, ok := out[tp]; !ok || off < cur {
			out[tp] = off
		}
	}
	for _, a := range s.assets {
		for _, r := range a.rows {
			keep(r.tp, r.offset)
		}
	}
	for _, run := range s.runs {
		for _, r := range run.recent {
			keep(r.tp, r.offset)
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
		p := s.part(tp)
		p.next, p.replayTo = next, next
	}
}

// Revoked implements pipeline.Revoker: the partitions' assets go.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		if p := s.parts[tp]; p != nil {
			for id := range p.assets {
				delete(s.assets, id)
				delete(s.runs, id)
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
