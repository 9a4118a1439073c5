package dedupe

import (
	"math"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// maxIDLen bounds sensor, asset and type ids: they become Kafka keys,
// metric labels downstream and database keys.
const maxIDLen = 200

// validate checks the rules of DESIGN.md for a reading and returns its
// id's key; errors wrap pipeline.ErrInvalid and name the field.
func validate(r *schemas.SensorReading, now time.Time, maxPast, maxFuture time.Duration) (uuidKey, error) {
	id, ok := parseUUID(r.ReadingID)
	if !ok {
		return id, pipeline.Invalidf("reading_id %q is not a UUID", clip(r.ReadingID))
	}
	return id, check(r, now, maxPast, maxFuture)
}

func check(r *schemas.SensorReading, now time.Time, maxPast, maxFuture time.Duration) error {
	switch {
	case r.SensorID == "" || len(r.SensorID) > maxIDLen:
		return pipeline.Invalidf("sensor_id must be 1-%d bytes, got %d", maxIDLen, len(r.SensorID))
	case r.AssetID == "" || len(r.AssetID) > maxIDLen:
		return pipeline.Invalidf("asset_id must be 1-%d bytes, got %d", maxIDLen, len(r.AssetID))
	case r.SensorType == "" || len(r.SensorType) > maxIDLen:
		return pipeline.Invalidf("sensor_type must be 1-%d bytes, got %d", maxIDLen, len(r.SensorType))
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return pipeline.Invalidf("value %v is not finite", r.Value)
	case r.Quality < 0 || r.Quality > 100:
		return pipeline.Invalidf("quality %d is outside 0-100", r.Quality)
	case r.TS.IsZero():
		return pipeline.Invalidf("ts is missing")
	case r.TS.After(now.Add(maxFuture)):
		return pipeline.Invalidf("ts %s is more than %v ahead of now (%s)", r.TS.Format(time.RFC3339), maxFuture, now.UTC().Format(time.RFC3339))
	case r.TS.Before(now.Add(-maxPast)):
		return pipeline.Invalidf("ts %s is more than %v before now (%s)", r.TS.Format(time.RFC3339), maxPast, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
