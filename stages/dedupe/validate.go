package dedupe

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Check reports whether dedupe would take r as valid, for a reading that
// takes size bytes on Kafka (key and value) at time now: nil, or an error
// wrapping pipeline.ErrInvalid that names the field. c is taken with its
// defaults. Sources that write to the readings topic (the HTTP API) call
// it to refuse at the door what dedupe would dead-letter.
func (c Config) Check(r *schemas.SensorReading, size int, now time.Time) error {
	c = c.WithDefaults()
	_, err := validate(r, size, now, &c)
	return err
}

// validate checks the rules of DESIGN.md, and c's bounds, for a reading
// that took size bytes on Kafka, and returns its id's key; errors wrap
// pipeline.ErrInvalid and name the field.
func validate(r *schemas.SensorReading, size int, now time.Time, c *Config) (uuidKey, error) {
	if size > c.MaxReadingBytes {
		return uuidKey{}, pipeline.Invalidf("reading of %d bytes is over the %d a reading may take (--max-reading-bytes)", size, c.MaxReadingBytes)
	}
	id, ok := parseUUID(r.ReadingID)
	if !ok {
		return id, pipeline.Invalidf("reading_id %q is not a UUID", clip(r.ReadingID))
	}
	if err := checkStrings(r, c); err != nil {
		return id, err
	}
	return id, check(r, now, c.MaxPast, c.MaxFuture)
}

// checkStrings bounds every string of r to MaxFieldBytes (ids must not be
// empty), its tags to MaxTags, and rejects strings that are not UTF-8 or
// that hold a NUL: downstream they are keys, metric labels and database
// text, which take neither.
func checkStrings(r *schemas.SensorReading, c *Config) error {
	field := func(name, v string, required bool) error {
		switch {
		case required && v == "":
			return pipeline.Invalidf("%s is missing", name)
		case len(v) > c.MaxFieldBytes:
			return pipeline.Invalidf("%s of %d bytes is over the %d a field may take (--max-field-bytes)", name, len(v), c.MaxFieldBytes)
		case !utf8.ValidString(v):
			return pipeline.Invalidf("%s %q is not valid UTF-8", name, clip(v))
		case strings.IndexByte(v, 0) >= 0:
			return pipeline.Invalidf("%s %q holds a NUL byte", name, clip(v))
		}
		return nil
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"sensor_id", r.SensorID, true}, {"asset_id", r.AssetID, true}, {"sensor_type", r.SensorType, true}, {"unit", r.Unit, false}} {
		if err := field(f.name, f.v, f.required); err != nil {
			return err
		}
	}
	if len(r.Tags) > c.MaxTags {
		return pipeline.Invalidf("%d tags, over the %d a reading may carry", len(r.Tags), c.MaxTags)
	}
	for k, v := range r.Tags {
		if err := field("tag key", k, true); err != nil {
			return err
		}
		if err := field("tag "+clip(k), v, false); err != nil {
			return err
		}
	}
	return nil
}

func check(r *schemas.SensorReading, now time.Time, maxPast, maxFuture time.Duration) error {
	switch {
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

// clip keeps the first 64 bytes of s for an error message, as valid UTF-8.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "\ufffd")
}
