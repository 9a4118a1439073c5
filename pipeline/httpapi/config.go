// Package httpapi is smaint's HTTP API: devices and gateways that cannot
// speak Kafka post readings to it, and operators and services ask it what
// a sensor is doing and which alerts are open.
//
//	POST /v1/readings       write  one reading or a batch, JSON or Avro
//	GET  /v1/sensors/{id}   read   the sensor's last window, score and open alerts
//	GET  /v1/alerts         read   alerts by state (open by default), sensor, asset
//	GET  /v1/health                whether the process is ready
//	GET  /v1/openapi.yaml          this API's OpenAPI document
//
// Callers present an API key (Authorization: Bearer KEY, or X-API-Key);
// each key has scopes and a rate limit. Every response carries an
// X-Request-Id; every error is a JSON object with a code, a message and
// that id. Readings are checked as dedupe checks them, and a 202 means the
// brokers have every accepted reading: from there dedupe, by reading id,
// makes a retried POST harmless, as long as the retry carries the same
// reading ids (those the API assigned are in its answers, 503s included).
//
// The package knows no clients: it writes through Config.Write and reads
// through Config.State, which cmd wires to Kafka and the database.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// State is what the API reads about sensors and alerts (the database;
// sinks/timescale.State implements it). Its methods are called
// concurrently and must honour ctx.
type State interface {
	// LastWindow returns the sensor's latest window and score, each nil
	// when there is none.
	LastWindow(ctx context.Context, sensorID string) (*schemas.FeatureVector, *schemas.AnomalyScore, error)
	// LastForecast returns the sensor's latest forecast, nil when there
	// is none.
	LastForecast(ctx context.Context, sensorID string) (*schemas.Forecast, error)
	// Alerts returns alerts in state ("open", "resolved" or "all"),
	// newest first, of sensorID and assetID when they are not empty.
	Alerts(ctx context.Context, state, sensorID, assetID string, limit int) ([]schemas.Alert, error)
}

// Config configures the API. Keys and Write are required.
type Config struct {
	// Keys are the API keys it accepts (ParseKeys).
	Keys *Keys
	// Write writes readings to the readings topic, keyed by sensor, and
	// returns nil only once the brokers acknowledged every one. requestID
	// goes with them (a header), for correlation. It is called
	// concurrently, at most MaxInFlight at once.
	Write func(ctx context.Context, readings []schemas.SensorReading, requestID string) error
	// Check refuses a reading dedupe would refuse (dedupe.Config.Check):
	// size is its bytes on Kafka. Nil: no check beyond the decoding.
	Check func(r *schemas.SensorReading, size int, now time.Time) error
	// State answers the GETs about sensors and alerts. Nil: they answer
	// 503, no database.
	State State
	// Health answers GET /v1/health. Nil: it answers ready.
	Health *pipeline.Health

	MaxBodyBytes int64         // largest request body (default 4 MiB); larger: 413
	MaxReadings  int           // most readings in one POST (default 10,000); more: 413
	Timeout      time.Duration // longest a request may take, writing included (default 10s); longer: 503
	MaxInFlight  int           // requests served at once (default 64); more: 503 with Retry-After

	Registerer prometheus.Registerer // nil: metrics are not exported
	Logger     *slog.Logger          // nil: discard
	Clock      pipeline.Clock        // nil: the system clock
}

// WithDefaults returns c with every unset limit at its default.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.MaxReadings == 0 {
		c.MaxReadings = 10_000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = pipeline.SystemClock{}
	}
	return c
}

// Validate reports a configuration the API cannot run with; errors wrap
// pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Keys.Len() == 0:
		return fmt.Errorf("%w: API: no API keys (make one with smaint serve newkey)", pipeline.ErrConfig)
	case c.Write == nil:
		return fmt.Errorf("%w: API: nothing to write readings to", pipeline.ErrConfig)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("%w: API: largest body %d bytes: want at least 1024", pipeline.ErrConfig, c.MaxBodyBytes)
	case c.MaxReadings < 1:
		return fmt.Errorf("%w: API: most readings per request %d: want at least 1", pipeline.ErrConfig, c.MaxReadings)
	case c.Timeout < 100*time.Millisecond:
		return fmt.Errorf("%w: API: request timeout %v: want at least 100ms", pipeline.ErrConfig, c.Timeout)
	case c.MaxInFlight < 1:
		return fmt.Errorf("%w: API: requests in flight %d: want at least 1", pipeline.ErrConfig, c.MaxInFlight)
	}
	return nil
}
