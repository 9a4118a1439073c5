package forecast

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/cycle"
)

// Config configures the forecast stage.
type Config struct {
	// Slow is the model a sensor is forecast by (default Alpha 0.3, T 4),
	// and Fast the one while Slow keeps missing to one side (see Select;
	// default Alpha 0.6, Beta 0.6, Phi 0.9): chosen by evaluation, see
	// the README.
	Slow Level
	Fast Holt
	// Select is how many of the latest one-step errors decide, at each
	// forecast, between Slow and Fast (default 5): Fast is used while the
	// mean of Slow's last Select errors is Bias (default 3) or more of
	// its usual error's standard deviation from zero, unless the change
	// Slow lags has stopped, when the last value is held (see pick and
	// Settled).
	Select int
	Bias   float64
	// History is how many window lengths of a sensor's past the model is
	// fitted on (default 60); WarmUp how many it needs before its first
	// forecast (default 10). Hopping windows count as in the score stage:
	// a window length is as many windows as cover an instant.
	History, WarmUp int
	// Horizon is how far ahead a forecast looks (default 30m), rounded up
	// to whole window hops.
	Horizon time.Duration
	// Limits are the sensors' failure limits (see Limit). A sensor with
	// none is forecast on DefaultFeature (default "mean") and never
	// predicted to cross anything.
	Limits         []Limit
	DefaultFeature string

	// Season is the period of the cycle the stage learns for each sensor
	// (default 24h; negative: none), in Slots parts (default 96: a
	// quarter of an hour each); Season must be a whole number of
	// microseconds per slot. See package cycle.
	Season time.Duration
	Slots  int

	ForecastsTopic string // default sensor.forecasts
	StateTopic     string // the sensors' cycles, compacted (default sensor.forecast.state)

	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// z80 is the standard normal quantile of 0.9: an 80% interval is ±z80·sd.
const z80 = 1.2815515655446004

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Slow == (Level{}) {
		c.Slow = Level{Alpha: 0.3, T: 4}
	}
	if c.Fast == (Holt{}) {
		c.Fast = Holt{Alpha: 0.6, Beta: 0.6, Phi: 0.9}
	}
	if c.History == 0 {
		c.History = 60
	}
	if c.Select == 0 {
		c.Select = 5
	}
	if c.Bias == 0 {
		c.Bias = 3
	}
	if c.WarmUp == 0 {
		c.WarmUp = 10
	}
	if c.Horizon == 0 {
		c.Horizon = 30 * time.Minute
	}
	if c.Season == 0 {
		c.Season = 24 * time.Hour
	}
	if c.Slots == 0 {
		c.Slots = 96
	}
	if c.StateTopic == "" {
		c.StateTopic = pipeline.DefaultTopics().ForecastState
	}
	if c.DefaultFeature == "" {
		c.DefaultFeature = "mean"
	}
	if c.ForecastsTopic == "" {
		c.ForecastsTopic = pipeline.DefaultTopics().Forecasts
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	if err := c.Slow.Validate(); err != nil {
		return fmt.Errorf("%w: forecast: %v", pipeline.ErrConfig, err)
	}
	if err := c.Fast.Validate(); err != nil {
		return fmt.Errorf("%w: forecast: %v", pipeline.ErrConfig, err)
	}
	switch {
	case c.WarmUp < 4 || c.History < c.WarmUp || c.History > 10000:
		return fmt.Errorf("%w: forecast: history %d, warm-up %d (4 to history, history at most 10000)", pipeline.ErrConfig, c.History, c.WarmUp)
	case c.Select < 1 || c.Select >= c.WarmUp:
		return fmt.Errorf("%w: forecast: select %d must be 1 to under the warm-up %d", pipeline.ErrConfig, c.Select, c.WarmUp)
	case !(c.Bias > 0):
		return fmt.Errorf("%w: forecast: bias %v must be positive", pipeline.ErrConfig, c.Bias)
	case cycle.Validate(c.Season, c.Slots) != nil:
		return fmt.Errorf("%w: forecast: season: %v", pipeline.ErrConfig, cycle.Validate(c.Season, c.Slots))
	case c.Horizon <= 0:
		return fmt.Errorf("%w: forecast: horizon %v must be positive", pipeline.ErrConfig, c.Horizon)
	case !knownFeature(c.DefaultFeature):
		return fmt.Errorf("%w: forecast: unknown feature %q (%s)", pipeline.ErrConfig, c.DefaultFeature, featureNames)
	}
	for i, l := range c.Limits {
		if err := l.validate(); err != nil {
			return fmt.Errorf("%w: forecast: limit %d: %v", pipeline.ErrConfig, i+1, err)
		}
	}
	return nil
}

// Limit is where a feature of a sensor, or of every sensor of a type,
// fails: above or below a value, or a rise or fall from the sensor's
// usual level (the median of the windows the model is fitted on). Set
// exactly one of Above, Below, Rise and Fall. A rule for a sensor_id wins
// over one for its sensor_type; among equals, the first in the list.
type Limit struct {
	SensorID   string   `json:"sensor_id,omitempty"`
	SensorType string   `json:"sensor_type,omitempty"`
	Feature    string   `json:"feature,omitempty"` // default mean
	Above      *float64 `json:"above,omitempty"`
	Below      *float64 `json:"below,omitempty"`
	Rise       *float64 `json:"rise,omitempty"`
	Fall       *float64 `json:"fall,omitempty"`
	Unit       string   `json:"unit,omitempty"` // for the alert's text, e.g. °C
}

var errLimit = errors.New("a limit needs sensor_id or sensor_type, and exactly one of above, below, rise (positive) and fall (positive)")

func (l Limit) validate() error {
	n := 0
	for _, v := range []*float64{l.Above, l.Below, l.Rise, l.Fall} {
		if v != nil {
			n++
		}
	}
	switch {
	case n != 1 || (l.SensorID == "" && l.SensorType == ""):
		return errLimit
	case l.Rise != nil && !(*l.Rise > 0), l.Fall != nil && !(*l.Fall > 0):
		return errLimit
	case l.Feature != "" && !knownFeature(l.Feature):
		return fmt.Errorf("unknown feature %q (%s)", l.Feature, featureNames)
	}
	return nil
}

// direction is "above" or "below": the failure side.
func (l Limit) direction() string {
	if l.Above != nil || l.Rise != nil {
		return "above"
	}
	return "below"
}

// at is the limit's value for a sensor whose usual level is usual.
func (l Limit) at(usual float64) float64 {
	switch {
	case l.Above != nil:
		return *l.Above
	case l.Below != nil:
		return *l.Below
	case l.Rise != nil:
		return usual + *l.Rise
	}
	return usual - *l.Fall
}

// relative reports whether the limit follows the sensor's usual level.
func (l Limit) relative() bool { return l.Rise != nil || l.Fall != nil }

// featureNames lists what knownFeature knows, for errors.
const featureNames = "mean, std, min, max, rms, skewness, kurtosis, crest_factor, peak_to_peak, slope or band_N"

func knownFeature(name string) bool {
	_, ok := (&schemas.FeatureVector{BandEnergies: make([]float64, 64)}).Value(name)
	return ok
}

// LoadLimits reads limits from a JSON file: an array of Limit.
func LoadLimits(path string) ([]Limit, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: limits: %w", pipeline.ErrConfig, err)
	}
	var ls []Limit
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("%w: limits %s: %w", pipeline.ErrConfig, path, err)
	}
	for i, l := range ls {
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("%w: limits %s: entry %d: %v", pipeline.ErrConfig, path, i+1, err)
		}
	}
	return ls, nil
}

// Unused returns the limits that apply to none of sensors (sensor id to
// sensor type), as the stage picks a sensor's limit: a misspelt name, a
// sensor the data does not have, or a limit another takes the place of
// for every sensor it names (a sensor's own, or an earlier one for the
// same sensor or type).
func (c *Config) Unused(sensors map[string]string) []Limit {
	used := map[*Limit]bool{}
	for id, typ := range sensors {
		used[c.limitFor(id, typ)] = true
	}
	var out []Limit
	for i := range c.Limits {
		if !used[&c.Limits[i]] {
			out = append(out, c.Limits[i])
		}
	}
	return out
}

// limitFor returns the limit that applies to a sensor, or nil.
func (c *Config) limitFor(id, typ string) *Limit {
	var byType *Limit
	for i := range c.Limits {
		l := &c.Limits[i]
		if l.SensorID != "" && l.SensorID == id {
			return l
		}
		if byType == nil && l.SensorID == "" && l.SensorType == typ {
			byType = l
		}
	}
	return byType
}
