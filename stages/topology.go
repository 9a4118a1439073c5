// Package stages is the pipeline's topology: every stage, what it reads
// and writes, whether it may share a consumer, and how it is built from
// its configuration. "smaint run", demo, backtest, train and bench all
// read it. Adding a stage is one entry in Topology and its package under
// stages/.
//
// The stages themselves live in the packages below (dedupe, features,
// score, drift, forecast, alert). They know no clients: what they use of Redis,
// the notifiers or the database comes in through their Configs, as
// interfaces and hooks that sinks/ implements.
package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/byasset"
	"github.com/smaint/smaint/stages/dedupe"
	"github.com/smaint/smaint/stages/drift"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/forecast"
	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/retrain"
	"github.com/smaint/smaint/stages/score"
)

// Topology is every stage over the topics t, in pipeline order.
func Topology(t pipeline.Topics) []Spec {
	return []Spec{
		{Name: "dedupe", Inputs: topics(t.Readings), Outputs: topics(t.Clean), build: newDedupe},
		{Name: "features", Inputs: topics(t.Clean), Outputs: topics(t.Features, t.Late), Shares: true, build: newFeatures},
		{Name: "score", Inputs: topics(t.Features), Outputs: topics(t.Scores, t.ScoreState), build: newScore},
		{Name: "drift", Inputs: topics(t.Clean), Outputs: topics(t.Drift, t.Retrain), Shares: true, build: newDrift},
		{Name: "forecast", Inputs: topics(t.Features), Outputs: topics(t.Forecasts, t.ForecastState), build: newForecast},
		{Name: "alert", Inputs: topics(t.Scores, t.Drift, t.Forecasts), Outputs: topics(t.Alerts), build: newAlert},
		{Name: "retrain", Inputs: topics(t.Features, t.Retrain, t.Alerts), Outputs: topics(t.ModelUpdates), Named: true, build: newRetrain},
		{Name: "byasset", Inputs: topics(t.Features), Outputs: topics(t.AssetFeatures), Named: true, build: newByAsset},
		{Name: "predict", Inputs: topics(t.AssetFeatures), Outputs: topics(t.Predictions), Named: true, build: newPredict},
		{Name: "rul", Inputs: topics(t.AssetFeatures), Outputs: topics(t.Predictions, t.RULState), Named: true, build: newPredict},
		{Name: "sink-readings", Group: "sink", Inputs: topics(t.Clean), Storage: true, build: store},
		{Name: "sink-features", Group: "sink", Inputs: topics(t.Features), Storage: true, build: store},
		{Name: "sink-scores", Group: "sink", Inputs: topics(t.Scores), Storage: true, build: store},
		{Name: "sink-drift", Group: "sink", Inputs: topics(t.Drift), Storage: true, build: store},
		{Name: "sink-forecasts", Group: "sink", Inputs: topics(t.Forecasts), Storage: true, build: store},
		{Name: "sink-alerts", Group: "sink", Inputs: topics(t.Alerts), Storage: true, build: store},
		{Name: "sink-retrain", Group: "sink", Inputs: topics(t.Retrain), Storage: true, build: store},
		{Name: "sink-predictions", Group: "sink", Inputs: topics(t.Predictions), Storage: true, build: store},
		{Name: "sink-maintenance", Group: "sink", Inputs: topics(t.Maintenance), Storage: true, build: store},
	}
}

// Spec is one entry of the topology.
type Spec struct {
	Name    string   // metrics, logs, dead letters; its consumer group is smaint-<Name>
	Group   string   // what a selection calls it, when not its Name ("sink")
	Inputs  []string // topics it reads; several are read co-partitioned
	Outputs []string // topics it writes
	// Shares: it may share one consumer with the other sharing stages that
	// read its inputs, when they run in one process (see pipeline.Share).
	Shares bool
	// Storage: it writes to the database, so "all" selects it only when
	// there is one.
	Storage bool
	// Named: it runs only when named (the retrain worker, which needs a
	// model store): "all" and Downstream leave it out.
	Named bool
	build func(ctx context.Context, c *Config, s Spec) (pipeline.Node, error)
}

func topics(ts ...string) []string { return ts }

// Selector is the name a selection picks the stage by: its Group, or its
// Name.
func (s Spec) Selector() string {
	if s.Group != "" {
		return s.Group
	}
	return s.Name
}

// Names are the names a selection takes besides "all", in pipeline order.
func Names() []string {
	var names []string
	for _, s := range Topology(pipeline.DefaultTopics()) {
		if !slices.Contains(names, s.Selector()) {
			names = append(names, s.Selector())
		}
	}
	return names
}

// Select returns the stages of t that names pick: "all" is every stage
// but the Named ones, those with Storage only when withStorage. An unknown name is an error
// wrapping pipeline.ErrConfig.
func Select(t pipeline.Topics, names []string, withStorage bool) ([]Spec, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no stages selected", pipeline.ErrConfig)
	}
	all := len(names) == 1 && names[0] == "all"
	for _, n := range names {
		if !all && !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("%w: unknown stage %q (known: all, %s)", pipeline.ErrConfig, n, strings.Join(Names(), ", "))
		}
	}
	var out []Spec
	for _, s := range Topology(t) {
		if (all && !s.Named && (withStorage || !s.Storage)) || slices.Contains(names, s.Selector()) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Downstream returns the stages of t that run on what reaches topic, the
// storage aside: the analytics a backtest replays history through.
func Downstream(t pipeline.Topics, topic string) []Spec {
	reached := map[string]bool{topic: true}
	var out []Spec
	for _, s := range Topology(t) {
		if s.Storage || s.Named || !slices.ContainsFunc(s.Inputs, func(in string) bool { return reached[in] }) {
			continue
		}
		out = append(out, s)
		for _, o := range s.Outputs {
			reached[o] = true
		}
	}
	return out
}

// Build returns the nodes of specs, configured by c.
func Build(ctx context.Context, c *Config, specs []Spec) ([]pipeline.Node, error) {
	out := make([]pipeline.Node, 0, len(specs))
	for _, s := range specs {
		n, err := s.build(ctx, c, s)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		n.Shares = s.Shares
		out = append(out, n)
	}
	return out, nil
}

// Offline builds specs to run in process (see pipeline.Offline), as a
// backtest or a training on history does.
func Offline(ctx context.Context, c *Config, specs []Spec) (*pipeline.Offline, error) {
	nodes, err := Build(ctx, c, specs)
	if err != nil {
		return nil, err
	}
	return pipeline.NewOffline(ctx, nodes...)
}

// node is the Node of a stage of the record type T.
func node[T any](s Spec, st pipeline.Stage[T], err error) (pipeline.Node, error) {
	if err != nil {
		return pipeline.Node{}, err
	}
	return pipeline.NewNode(s.Name, s.Inputs, st, nil), nil
}

func newDedupe(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Dedupe
	cfg.CleanTopic, cfg.Registerer, cfg.Logger, cfg.Clock = s.Outputs[0], c.Registerer, c.logger(s), c.Clock
	st, err := dedupe.New(cfg)
	return node[schemas.SensorReading](s, st, err)
}

func newFeatures(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Features
	cfg.FeaturesTopic, cfg.LateTopic, cfg.Registerer, cfg.Logger, cfg.Clock = s.Outputs[0], s.Outputs[1], c.Registerer, c.logger(s), c.Clock
	st, err := features.New(cfg)
	return node[schemas.SensorReading](s, st, err)
}

func newScore(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Score
	cfg.ScoresTopic, cfg.StateTopic, cfg.Registerer, cfg.Logger = s.Outputs[0], s.Outputs[1], c.Registerer, c.logger(s)
	st, err := score.New(cfg)
	if err == nil && c.Models != nil && c.FollowModels != nil {
		log := c.logger(s)
		c.FollowModels(func(ctx context.Context, u *schemas.ModelUpdated) {
			// A version that fails its checks is refused for good (Apply
			// logged it); one the store could not deliver is fetched again,
			// with backoff, before the next record is read.
			for wait := time.Second; ; wait = min(2*wait, time.Minute) {
				err := st.Apply(ctx, c.Models, u)
				if err == nil || errors.Is(err, score.ErrNotAModel) || errors.Is(err, score.ErrChecksum) || errors.Is(err, score.ErrCorrupt) {
					return
				}
				log.Warn("model update not applied yet: the store failed; trying again", "model", u.ModelName, "version", u.Version, "in", wait, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		})
	}
	return node[schemas.FeatureVector](s, st, err)
}

func newRetrain(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Retrain
	cfg.Store, cfg.UpdatesTopic, cfg.Registerer, cfg.Logger, cfg.Clock = c.Models, s.Outputs[0], c.Registerer, c.logger(s), c.Clock
	st, err := retrain.New(cfg)
	if err != nil {
		return pipeline.Node{}, err
	}
	return pipeline.NewNode(s.Name, s.Inputs, pipeline.Stage[retrain.Event](st), retrain.Decode(s.Inputs[0], s.Inputs[1], s.Inputs[2])), nil
}

func newByAsset(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	st, err := byasset.New(byasset.Config{AssetFeaturesTopic: s.Outputs[0], Registerer: c.Registerer, Logger: c.logger(s)})
	return node[schemas.FeatureVector](s, st, err)
}

// newPredict builds the predict stage (failure task) or the rul stage
// (remaining life), and keeps its model the live version of its Model
// (gbdt-failure, gbdt-rul) in the model store: loaded now if there is
// one, and looked for again every Reload while ctx lasts. Until one is
// there the stage scores nothing, and says so once.
func newPredict(ctx context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Predict
	if s.Name == "rul" {
		cfg = c.RUL
		cfg.Task, cfg.StateTopic = predict.TaskRUL, s.Outputs[1]
	}
	if c.Models == nil {
		return pipeline.Node{}, fmt.Errorf("%w: %s: no model store (--models) to load the model from", pipeline.ErrConfig, s.Name)
	}
	cfg.Classifier, cfg.RUL, cfg.PredictionsTopic, cfg.Registerer, cfg.Logger = nil, nil, s.Outputs[0], c.Registerer, c.logger(s)
	st, err := predict.New(cfg)
	if err != nil {
		return pipeline.Node{}, err
	}
	cfg = cfg.WithDefaults()
	var loaded string
	warned := false
	load := func() {
		man, b, err := score.LiveArtifact(ctx, c.Models, cfg.Model)
		switch {
		case errors.Is(err, score.ErrNoModel):
			if !warned {
				cfg.Logger.Warn("no model in the model store yet: nothing is scored until one is trained (smaint train)", "model", cfg.Model)
				warned = true
			}
			return
		case err != nil:
			cfg.Logger.Warn("the model could not be loaded; the one in use stays", "model", cfg.Model, "err", err)
			return
		case man.Version == loaded:
			return
		}
		if cfg.Task == predict.TaskRUL {
			m := new(predict.RUL)
			if err = json.Unmarshal(b, m); err == nil {
				err = st.SetRUL(m, man.Version)
			}
		} else {
			clf := new(predict.Classifier)
			if err = json.Unmarshal(b, clf); err == nil {
				err = st.SetClassifier(clf, man.Version)
			}
		}
		if err != nil {
			cfg.Logger.Warn("the live model is refused; the one in use stays", "model", cfg.Model, "version", man.Version, "err", err)
		}
		loaded = man.Version // refused or taken, it is not fetched again
	}
	load()
	go pipeline.Every(ctx, cfg.Reload, load)
	if cfg.Task == predict.TaskRUL && c.FollowMaintenance != nil {
		c.FollowMaintenance(st.Maintained)
	}
	return node[schemas.FeatureVector](s, st, nil)
}

func newDrift(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Drift
	cfg.DriftTopic, cfg.RetrainTopic, cfg.Registerer, cfg.Logger = s.Outputs[0], s.Outputs[1], c.Registerer, c.logger(s)
	st, err := drift.New(cfg)
	return node[schemas.SensorReading](s, st, err)
}

func newForecast(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Forecast
	cfg.ForecastsTopic, cfg.StateTopic, cfg.Registerer, cfg.Logger = s.Outputs[0], s.Outputs[1], c.Registerer, c.logger(s)
	st, err := forecast.New(cfg)
	return node[schemas.FeatureVector](s, st, err)
}

func newAlert(_ context.Context, c *Config, s Spec) (pipeline.Node, error) {
	cfg := c.Alert
	cfg.AlertsTopic, cfg.Registerer, cfg.Logger = s.Outputs[0], c.Registerer, c.logger(s)
	st, err := alert.New(cfg)
	if err != nil {
		return pipeline.Node{}, err
	}
	return pipeline.NewNode(s.Name, s.Inputs, pipeline.Stage[alert.Event](st), alert.Decode(s.Inputs[0], s.Inputs[1], s.Inputs[2])), nil
}

func store(ctx context.Context, c *Config, s Spec) (pipeline.Node, error) {
	if c.Store == nil {
		return pipeline.Node{}, fmt.Errorf("%w: no database to store %s in", pipeline.ErrConfig, s.Inputs[0])
	}
	return c.Store(ctx, s.Name, s.Inputs[0])
}
