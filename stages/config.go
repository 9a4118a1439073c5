package stages

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/dedupe"
	"github.com/smaint/smaint/stages/drift"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/forecast"
	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/retrain"
	"github.com/smaint/smaint/stages/score"
)

// Config configures every stage of the topology. Build gives each stage
// its part, with its output topics from the topology and the injections
// below; what a part says of those is overwritten.
type Config struct {
	Dedupe   dedupe.Config
	Features features.Config
	Score    score.Config
	Drift    drift.Config
	Forecast forecast.Config
	Alert    alert.Config
	Retrain  retrain.Config
	// Predict and RUL configure the predict stage (failure task) and the
	// rul stage; their models and versions come from the model store
	// (Models).
	Predict predict.Config
	RUL     predict.Config
	// Models is the model store (--models): the retrain stage publishes
	// to it, and the score stage loads the versions model.updates names
	// from it. Nil without one.
	Models score.ModelStore
	// FollowModels, when set with Models, is given the score stage's
	// handler of model.updates records; the caller feeds it every record
	// of that topic, from its start, from a goroutine of its own.
	FollowModels func(apply func(context.Context, *schemas.ModelUpdated))
	// FollowMaintenance, when set, is given the rul stage's handler of
	// asset.maintenance records; the caller feeds it every record of that
	// topic, from its start: those there at the start before the stage
	// reads any input, the rest as they come, from a goroutine of its own.
	FollowMaintenance func(apply func(*schemas.Maintenance))
	// Store returns the node named name that stores the records of topic in
	// the database: the sink. Nil when there is no database; the storage
	// stages then fail to build.
	Store func(ctx context.Context, name, topic string) (pipeline.Node, error)

	Registerer prometheus.Registerer // nil: metrics are not exported
	Logger     *slog.Logger          // nil: discard; each stage logs with stage=<name>
	Clock      pipeline.Clock        // nil: the system clock
}

// DefaultConfig returns a Config whose every stage part is at its
// WithDefaults: the single source of the stages' defaults.
func DefaultConfig() Config {
	return Config{
		Dedupe: dedupe.Config{}.WithDefaults(), Features: features.Config{}.WithDefaults(), Score: score.Config{}.WithDefaults(),
		Drift: drift.Config{}.WithDefaults(), Forecast: forecast.Config{}.WithDefaults(), Alert: alert.Config{}.WithDefaults(), Retrain: retrain.Config{}.WithDefaults(),
		Predict: predict.Config{}.WithDefaults(), RUL: predict.Config{Task: predict.TaskRUL}.WithDefaults(),
	}
}

func (c *Config) logger(s Spec) *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("stage", s.Name)
}
