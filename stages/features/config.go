package features

import (
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the features stage. The zero value, after defaults,
// is 60 s tumbling windows with 10 s allowed lateness.
type Config struct {
	// Size is the length of a time window (default 60s). Hop, if set and
	// shorter than Size, makes the windows hop: a new window starts every
	// Hop, so each reading falls in Size/Hop windows. Windows are aligned
	// to the Unix epoch, so every sensor's windows share boundaries.
	Size time.Duration
	Hop  time.Duration
	// Count, if set, makes windows of Count readings per sensor instead of
	// time windows (they close when full, or when idle).
	Count int
	// Auto asks for windows sized from the readings' sampling interval
	// (see WindowsFor, SetWindowsFor). Only a run that has the whole
	// series before it starts can do that, as backtest does; the stage
	// itself rejects it: a window size chosen from what a stream has seen
	// so far could differ after a restart, and windows must not.
	Auto bool
	// Lateness is how far behind the largest event time of its partition a
	// reading may be and still join its window (default 10s). The
	// partition's watermark is that largest time minus Lateness; a window
	// closes, and is emitted, when the watermark passes its end. Zero
	// means the default; NoLateness means none.
	Lateness time.Duration
	// IdleTimeout closes every open window of a partition that has been
	// read to its end and has received nothing for this long, in
	// processing time (default 30s), so that the last window of a sensor
	// that went quiet is still emitted. A partition with input on its way
	// (pipeline.Emitter.Behind: its last fetch ended short of its end, or
	// an upstream transaction holds records) is never idle, however long
	// the machine takes to get to the rest; the idle time counts from when
	// nothing is on its way any more.
	IdleTimeout time.Duration

	// SpectralTypes are the sensor types that get band energies (default
	// vibration and acoustic); Bands is how many (default 8).
	SpectralTypes []string
	Bands         int

	// Workers is how many goroutines compute the windows that close
	// together (default GOMAXPROCS, at most 1024): with thousands of sensors, every
	// sensor's window closes at the same moment, and spreading that burst
	// over the cores shortens the time to its last window. 1 computes
	// every window in the runner's goroutine.
	Workers int

	FeaturesTopic string // default sensor.features
	LateTopic     string // default sensor.readings.late

	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Clock      pipeline.Clock
}

// NoLateness, as Config.Lateness, allows no lateness: a window closes as
// soon as its partition's newest reading is past its end. (A microsecond,
// the stage's unit of event time: Lateness's zero value means the
// default.)
const NoLateness = time.Microsecond

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Size == 0 {
		c.Size = time.Minute
	}
	if c.Hop == 0 {
		c.Hop = c.Size
	}
	if c.Lateness == 0 {
		c.Lateness = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.SpectralTypes == nil {
		c.SpectralTypes = []string{"vibration", "acoustic"}
	}
	if c.Bands == 0 {
		c.Bands = 8
	}
	if c.Workers == 0 {
		c.Workers = min(runtime.GOMAXPROCS(0), 1024)
	}
	t := pipeline.DefaultTopics()
	if c.FeaturesTopic == "" {
		c.FeaturesTopic = t.Features
	}
	if c.LateTopic == "" {
		c.LateTopic = t.Late
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = pipeline.SystemClock{}
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Auto:
		return fmt.Errorf("%w: features: windows \"auto\" are sized from a whole series (smaint backtest); a stream needs a size, e.g. --windows 60s", pipeline.ErrConfig)
	case c.Size < time.Millisecond || c.Size%time.Microsecond != 0:
		return fmt.Errorf("%w: features: window size %v", pipeline.ErrConfig, c.Size)
	case c.Hop <= 0 || c.Hop > c.Size || c.Hop%time.Microsecond != 0:
		return fmt.Errorf("%w: features: hop %v must be in (0, size %v]", pipeline.ErrConfig, c.Hop, c.Size)
	case c.Size/c.Hop > schemas.MaxOverlap:
		return fmt.Errorf("%w: features: %d overlapping windows per reading; at most %d", pipeline.ErrConfig, c.Size/c.Hop, schemas.MaxOverlap)
	case c.Count < 0 || c.Count > 1_000_000:
		return fmt.Errorf("%w: features: count %d", pipeline.ErrConfig, c.Count)
	case c.Lateness < 0:
		return fmt.Errorf("%w: features: negative lateness", pipeline.ErrConfig)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("%w: features: idle timeout must be positive", pipeline.ErrConfig)
	case c.Bands < 1 || c.Bands > 256:
		return fmt.Errorf("%w: features: %d bands (want 1-256)", pipeline.ErrConfig, c.Bands)
	case c.Workers < 1 || c.Workers > 1024:
		return fmt.Errorf("%w: features: %d workers (want 1-1024)", pipeline.ErrConfig, c.Workers)
	}
	return nil
}

// Windows returns c's windows as ParseWindows reads them: "count:N",
// "SIZE", or "SIZE/HOP" for hopping windows.
func (c Config) Windows() string {
	switch {
	case c.Auto:
		return "auto"
	case c.Count > 0:
		return "count:" + strconv.Itoa(c.Count)
	case c.Hop > 0 && c.Hop != c.Size:
		return c.Size.String() + "/" + c.Hop.String()
	}
	return c.Size.String()
}

// WindowReadings is how many readings WindowsFor sizes a window to hold:
// enough for a window's statistics to be steady from one window to the
// next.
const WindowReadings = 30

// windowLadder are the sizes WindowsFor picks from.
var windowLadder = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
	20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}

// WindowsFor returns the windows, as ParseWindows reads them, for readings
// that arrive every interval: the shortest of 1s, 2s, 5s, 10s, 15s, 20s,
// 30s, 1m, 2m, 5m and 10m that holds WindowReadings readings; or, for a
// sensor too slow for 10-minute windows to hold that many, "count:1":
// each reading is a window of its own, and the detector scores it as a
// point against the sensor's recent readings.
func WindowsFor(interval time.Duration) string {
	need := interval * WindowReadings
	for _, d := range windowLadder {
		if d >= need {
			return d.String()
		}
	}
	return "count:1"
}

// AutoHops is how many hops of "auto" windows make a window's length.
const AutoHops = 10

// SetWindowsFor sets c's windows to WindowsFor(interval), hopping by a
// tenth of their length (AutoHops) where they are time windows, and
// clears Auto. A window's verdict is known when it closes; windows that
// hop give one every hop, so windowing adds a tenth of a window's length
// to how late an incident is seen, not up to a whole one, for ten times
// the windows. (backtest sizes "auto" windows with it; a stream's are
// given, where that cost is the operator's to choose.)
func (c *Config) SetWindowsFor(interval time.Duration) {
	_ = ParseWindows(WindowsFor(interval), c) // WindowsFor's specs parse
	if c.Count == 0 {
		c.Hop = c.Size / AutoHops
	}
}
