package dedupe

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
)

// Config configures the dedupe stage. The zero value, after defaults, is a
// working local-only stage writing to sensor.readings.clean.
type Config struct {
	// TTL is how long a reading_id is remembered (default 10m).
	TTL time.Duration
	// LocalCapacity bounds the in-process cache of each input partition,
	// in reading ids (default 200,000; at most 44 bytes an id, so about
	// 9 MB a partition when full). Within the TTL, an id is remembered
	// until this many newer ids arrived on its partition; size it to rate
	// per partition times TTL to dedupe the whole TTL (the store only
	// helps instances taking a partition over).
	LocalCapacity int
	// Log, if set, is the per-partition changelog of first sightings that
	// lets an instance taking over a partition (restart, rebalance) know
	// what its previous owner saw. One store operation per batch.
	Log LogStore
	// Claims, if set, checks every new id against a store shared by all
	// partitions: it also catches duplicates that arrive on another
	// partition than their original, at one store operation per reading.
	// At most one of Log and Claims may be set; with neither, dedupe is
	// local to the process.
	Claims ClaimStore
	// StoreTimeout bounds one batch's round trip to the store (default
	// 250ms); on timeout the batch is deduped locally.
	StoreTimeout time.Duration
	// RestoreTimeout bounds reading one partition's log back (default 10s).
	RestoreTimeout time.Duration
	// StoreRetry is how long the stage stays local-only after the store
	// failed before it tries again (default 5s).
	StoreRetry time.Duration

	// MaxFuture and MaxPast bound a reading's event time around now
	// (defaults 5m and 7 days); readings outside go to the dead-letter
	// topic.
	MaxFuture time.Duration
	MaxPast   time.Duration

	// MaxReadingBytes bounds a reading as it came from Kafka, key and
	// value (default 16 KiB; a reading is about 150 bytes). MaxFieldBytes
	// bounds each of its strings: the ids, the unit, each tag's key and
	// value (default 200). MaxTags bounds its tags (default 64). A reading
	// over any of them, or with a string that is not UTF-8 or that holds a
	// NUL, goes to the dead-letter topic as invalid, before it costs
	// anything downstream.
	MaxReadingBytes int
	MaxFieldBytes   int
	MaxTags         int

	// CleanTopic is where fresh, valid readings go (default
	// sensor.readings.clean).
	CleanTopic string

	Registerer prometheus.Registerer // nil: metrics are not exported
	Logger     *slog.Logger          // nil: discard
	Clock      pipeline.Clock        // nil: system clock
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.TTL == 0 {
		c.TTL = 10 * time.Minute
	}
	if c.LocalCapacity == 0 {
		c.LocalCapacity = defaultLocalCapacity
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 250 * time.Millisecond
	}
	if c.RestoreTimeout == 0 {
		c.RestoreTimeout = 10 * time.Second
	}
	if c.StoreRetry == 0 {
		c.StoreRetry = 5 * time.Second
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = 5 * time.Minute
	}
	if c.MaxPast == 0 {
		c.MaxPast = 7 * 24 * time.Hour
	}
	if c.MaxReadingBytes == 0 {
		c.MaxReadingBytes = 16 << 10
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = 200
	}
	if c.MaxTags == 0 {
		c.MaxTags = 64
	}
	if c.CleanTopic == "" {
		c.CleanTopic = pipeline.DefaultTopics().Clean
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
	case c.TTL < time.Second:
		return fmt.Errorf("%w: dedupe: TTL %v is under 1s", pipeline.ErrConfig, c.TTL)
	case c.LocalCapacity < 2:
		return fmt.Errorf("%w: dedupe: local capacity %d", pipeline.ErrConfig, c.LocalCapacity)
	case c.StoreTimeout <= 0 || c.StoreRetry <= 0 || c.RestoreTimeout <= 0:
		return fmt.Errorf("%w: dedupe: store timeouts and retry must be positive", pipeline.ErrConfig)
	case c.Log != nil && c.Claims != nil:
		return fmt.Errorf("%w: dedupe: set Log or Claims, not both", pipeline.ErrConfig)
	case c.MaxReadingBytes < 64 || c.MaxFieldBytes < 1 || c.MaxTags < 0:
		return fmt.Errorf("%w: dedupe: reading bounds %d bytes, %d a field, %d tags", pipeline.ErrConfig, c.MaxReadingBytes, c.MaxFieldBytes, c.MaxTags)
	case c.MaxFuture < 0 || c.MaxPast <= 0:
		return fmt.Errorf("%w: dedupe: event-time bounds -%v/+%v", pipeline.ErrConfig, c.MaxPast, c.MaxFuture)
	}
	return nil
}

// defaultLocalCapacity is LocalCapacity's default, in reading ids per
// input partition.
const defaultLocalCapacity = 200_000
