package simulate

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
)

// Scenario names, for Config.Scenarios and the --scenarios flag.
const (
	Duplicates  = "duplicates"   // readings sent twice, as a retrying producer does
	OutOfOrder  = "out-of-order" // readings delayed less than the allowed lateness
	Late        = "late"         // readings delayed well beyond it
	Malformed   = "malformed"    // undecodable bytes and invalid readings
	Spikes      = "spikes"       // one-sample glitches (not incidents)
	LevelShifts = "level-shifts" // sustained steps: an incident each
	Degradation = "degradation"  // gradual wear ending in a failure: an incident each
	Drift       = "drift"        // slow calibration drift that moves a sensor's distribution
)

// AllScenarios lists every scenario.
var AllScenarios = []string{Duplicates, OutOfOrder, Late, Malformed, Spikes, LevelShifts, Degradation, Drift}

// Config describes the simulated plant and what goes wrong in it. The zero
// value, after defaults, is 20 assets with temperature, vibration,
// pressure and current sensors over one hour of event time ending now,
// with every scenario on.
type Config struct {
	Assets int      // default 20
	Types  []string // sensor types on every asset; default temperature, vibration, pressure, current

	Start time.Time     // event time of the first reading; default Clock.Now() - Span
	Span  time.Duration // event time covered; default 1h
	Seed  int64         // default 1; equal seeds give equal streams

	// Scenarios switched on; nil means all, an empty non-nil slice none.
	Scenarios []string

	DuplicateRate  float64 // fraction of readings re-sent; default 0.02
	OutOfOrderRate float64 // fraction delayed by up to OutOfOrderMax; default 0.01
	OutOfOrderMax  time.Duration
	LateRate       float64 // fraction delayed by 30-90 s of event time; default 0.001
	MalformedRate  float64 // fraction replaced by bad records; default 0.002
	SpikeRate      float64 // per-reading chance of a glitch; default 0.0002
	Incidents      int     // level shifts plus degradations; default one per 4 assets
	Drifts         int     // drifting sensors; default one per 10 assets

	// Truth receives the ground truth as JSON lines; nil discards it.
	Truth io.Writer
	Clock pipeline.Clock // nil: system clock
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Assets == 0 {
		c.Assets = 20
	}
	if len(c.Types) == 0 {
		c.Types = []string{"temperature", "vibration", "pressure", "current"}
	}
	if c.Span == 0 {
		c.Span = time.Hour
	}
	if c.Clock == nil {
		c.Clock = pipeline.SystemClock{}
	}
	if c.Start.IsZero() {
		c.Start = c.Clock.Now().Add(-c.Span).Truncate(time.Second)
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Scenarios == nil {
		c.Scenarios = AllScenarios
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.DuplicateRate, 0.02)
	def(&c.OutOfOrderRate, 0.01)
	def(&c.LateRate, 0.001)
	def(&c.MalformedRate, 0.002)
	def(&c.SpikeRate, 0.0002)
	if c.OutOfOrderMax == 0 {
		c.OutOfOrderMax = 5 * time.Second
	}
	if c.Incidents == 0 {
		c.Incidents = max(1, c.Assets/4)
	}
	if c.Drifts == 0 {
		c.Drifts = max(1, c.Assets/10)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Assets < 1 || c.Assets > 100_000:
		return fmt.Errorf("%w: simulate: %d assets (want 1-100000)", pipeline.ErrConfig, c.Assets)
	case c.Span < time.Minute:
		return fmt.Errorf("%w: simulate: span %v is under a minute", pipeline.ErrConfig, c.Span)
	case c.OutOfOrderMax <= 0:
		return fmt.Errorf("%w: simulate: out-of-order delay must be positive", pipeline.ErrConfig)
	case c.Incidents < 0 || c.Drifts < 0:
		return fmt.Errorf("%w: simulate: negative incident or drift count", pipeline.ErrConfig)
	}
	for _, typ := range c.Types {
		if _, ok := profiles[typ]; !ok {
			return fmt.Errorf("%w: simulate: unknown sensor type %q (known: %s)", pipeline.ErrConfig, typ, strings.Join(knownTypes(), ", "))
		}
	}
	for _, r := range []float64{c.DuplicateRate, c.OutOfOrderRate, c.LateRate, c.MalformedRate, c.SpikeRate} {
		if r < 0 || r > 0.5 {
			return fmt.Errorf("%w: simulate: rate %v outside 0-0.5", pipeline.ErrConfig, r)
		}
	}
	for _, s := range c.Scenarios {
		if !contains(AllScenarios, s) {
			return fmt.Errorf("%w: simulate: unknown scenario %q (known: %s)", pipeline.ErrConfig, s, strings.Join(AllScenarios, ", "))
		}
	}
	return nil
}

// ParseScenarios reads a comma-separated scenario list; "all" and "none"
// are accepted.
func ParseScenarios(s string) ([]string, error) {
	switch strings.TrimSpace(s) {
	case "", "all":
		return AllScenarios, nil
	case "none":
		return []string{}, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !contains(AllScenarios, f) {
			return nil, fmt.Errorf("%w: unknown scenario %q (known: %s, all, none)", pipeline.ErrConfig, f, strings.Join(AllScenarios, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
