// Package retrain is the retrain worker: it closes the model loop. It
// reads retrain requests (model.retrain, which the drift stage writes),
// feature windows (sensor.features) and alerts (maintenance.alerts); for each
// request it waits for enough windows of the model's sensor type after
// the request (the new normal), leaves out those of sensors in an
// incident (a degradation drifts too, and is no normal to learn), trains
// a candidate Isolation Forest on the rest, compares it with
// the version in the model store on windows held out, and publishes it to
// the store only if it is not worse. Every decision (published, shadow,
// rejected, skipped, with the reason and the metrics) is a ModelUpdated
// record on model.updates and a log line; the score stage follows
// model.updates and swaps the published version in.
package retrain

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages/score"
)

// Config configures the retrain stage.
type Config struct {
	Store  score.ModelStore // required: where candidates are published and the current version is read
	Forest score.IForestConfig
	// After is how many windows of the sensor type, starting at the
	// request, a candidate trains and is judged on (default 200): the
	// request waits for them.
	After int
	// Holdout is the share of those windows held out to judge the
	// candidate and the current version on (default 0.25: every fourth).
	Holdout float64
	// Tolerance is how much higher than the current version's the
	// candidate's false-alert rate on the held-out windows may be (default
	// 0.02). The held-out windows come after the drift and are taken as
	// normal: a version that flags many of them is out of date.
	Tolerance float64
	// MaxFalseAlerts is the most of the held-out windows a candidate may
	// flag (default 0.05, five times the forest's usual contamination):
	// one that flags significantly more (a binomial tail under 1%) is
	// rejected. It bounds a candidate when there is no version to compare
	// with: one that flags more has not learnt what normal looks like, and
	// would raise false alerts.
	MaxFalseAlerts float64
	// Shift and MinSensitivity: a candidate must flag at least
	// MinSensitivity (default 0.5) of the held-out windows once each is
	// moved by Shift (default 6) of its own standard deviations. A forest
	// whose threshold is set by glitches in the shape features can score a
	// degradation of the level below it; it would take over from a
	// detector that sees one, and is rejected.
	Shift          float64
	MinSensitivity float64
	// MinNormal is the least share of a request's windows that must come
	// from sensors in no incident (default 0.5). Windows of a sensor with
	// an ANOMALY, THRESHOLD or PREDICTED alert (read from maintenance.alerts)
	// that touches the request's span are left out of training and
	// judging; when fewer than this share are left, the request is
	// rejected: the change it saw is a fault, not a new normal.
	MinNormal float64
	// Cooldown is the least event time between two trainings of one model
	// (default 1h); a request sooner is skipped.
	Cooldown time.Duration
	// MaxConcurrent caps the trainings run at once (default 2).
	MaxConcurrent int
	// Shadow publishes candidates as shadow versions, scored beside the
	// live one until promoted (smaint models promote), instead of live.
	Shadow bool

	UpdatesTopic string // default model.updates
	Clock        pipeline.Clock
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	c.Forest = c.Forest.WithDefaults()
	if c.After == 0 {
		c.After = 200
	}
	if c.Holdout == 0 {
		c.Holdout = 0.25
	}
	if c.Tolerance == 0 {
		c.Tolerance = 0.02
	}
	if c.MaxFalseAlerts == 0 {
		c.MaxFalseAlerts = 0.05
	}
	if c.Shift == 0 {
		c.Shift = 6
	}
	if c.MinSensitivity == 0 {
		c.MinSensitivity = 0.5
	}
	if c.MinNormal == 0 {
		c.MinNormal = 0.5
	}
	if c.Cooldown == 0 {
		c.Cooldown = time.Hour
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 2
	}
	if c.UpdatesTopic == "" {
		c.UpdatesTopic = pipeline.DefaultTopics().ModelUpdates
	}
	if c.Clock == nil {
		c.Clock = pipeline.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: retrain: no model store (--models)", pipeline.ErrConfig)
	case c.After < 20:
		return fmt.Errorf("%w: retrain: %d windows after a request; at least 20", pipeline.ErrConfig, c.After)
	case !(c.Holdout > 0 && c.Holdout <= 0.5):
		return fmt.Errorf("%w: retrain: holdout %v outside (0, 0.5]", pipeline.ErrConfig, c.Holdout)
	case !(c.MaxFalseAlerts > 0 && c.MaxFalseAlerts <= 1):
		return fmt.Errorf("%w: retrain: max false-alert share %v outside (0, 1]", pipeline.ErrConfig, c.MaxFalseAlerts)
	case !(c.Shift > 0) || !(c.MinSensitivity > 0 && c.MinSensitivity <= 1):
		return fmt.Errorf("%w: retrain: shift %v (want over 0), min sensitivity %v outside (0, 1]", pipeline.ErrConfig, c.Shift, c.MinSensitivity)
	case !(c.MinNormal > 0 && c.MinNormal <= 1):
		return fmt.Errorf("%w: retrain: min normal share %v outside (0, 1]", pipeline.ErrConfig, c.MinNormal)
	case c.Tolerance < 0 || c.Cooldown < 0 || c.MaxConcurrent < 1:
		return fmt.Errorf("%w: retrain: tolerance %v, cooldown %v, concurrency %d", pipeline.ErrConfig, c.Tolerance, c.Cooldown, c.MaxConcurrent)
	}
	return c.Forest.Validate()
}
