package dedupe

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	good := func() schemas.SensorReading {
		return schemas.SensorReading{ReadingID: "0b9e4a52-3c1f-4d6e-8a7b-9C0D1E2F3A4B", SensorID: "s", AssetID: "a",
			SensorType: "vibration", TS: now.Add(-time.Minute), Value: 1, Unit: "mm/s", Quality: 100}
	}
	tests := []struct {
		name   string
		mutate func(*schemas.SensorReading)
		field  string // "" means valid
	}{
		{"valid", func(*schemas.SensorReading) {}, ""},
		{"quality 0 is valid", func(r *schemas.SensorReading) { r.Quality = 0 }, ""},
		{"empty unit is valid", func(r *schemas.SensorReading) { r.Unit = "" }, ""},
		{"at the future bound", func(r *schemas.SensorReading) { r.TS = now.Add(5 * time.Minute) }, ""},
		{"empty reading id", func(r *schemas.SensorReading) { r.ReadingID = "" }, "reading_id"},
		{"reading id not a uuid", func(r *schemas.SensorReading) { r.ReadingID = "reading-0000000000000000000000000001" }, "reading_id"},
		{"uuid without dashes", func(r *schemas.SensorReading) { r.ReadingID = "0b9e4a523c1f4d6e8a7b9c0d1e2f3a4b" }, "reading_id"},
		{"missing sensor", func(r *schemas.SensorReading) { r.SensorID = "" }, "sensor_id"},
		{"huge sensor id", func(r *schemas.SensorReading) { r.SensorID = strings.Repeat("x", 201) }, "sensor_id"},
		{"missing asset", func(r *schemas.SensorReading) { r.AssetID = "" }, "asset_id"},
		{"missing type", func(r *schemas.SensorReading) { r.SensorType = "" }, "sensor_type"},
		{"NaN", func(r *schemas.SensorReading) { r.Value = math.NaN() }, "value"},
		{"+Inf", func(r *schemas.SensorReading) { r.Value = math.Inf(1) }, "value"},
		{"quality 101", func(r *schemas.SensorReading) { r.Quality = 101 }, "quality"},
		{"quality -1", func(r *schemas.SensorReading) { r.Quality = -1 }, "quality"},
		{"no ts", func(r *schemas.SensorReading) { r.TS = time.Time{} }, "ts"},
		{"far future", func(r *schemas.SensorReading) { r.TS = now.Add(6 * time.Minute) }, "ts"},
		{"too old", func(r *schemas.SensorReading) { r.TS = now.Add(-8 * 24 * time.Hour) }, "ts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.mutate(&r)
			_, err := validate(&r, now, 7*24*time.Hour, 5*time.Minute)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid reading rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, pipeline.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want an ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

func TestCacheRemembersForTTLWithinCapacity(t *testing.T) {
	const ttl = int64(10 * time.Second)
	k := func(b byte) uuidKey { return uuidKey{b} }
	c := newCache(4, ttl)
	c.put(k(1), 1, 0)
	if off, ok := c.lookup(k(1), ttl-1); !ok || off != 1 {
		t.Fatalf("forgotten before its TTL: %v %v", off, ok)
	}
	if _, ok := c.lookup(k(1), ttl); ok {
		t.Fatal("remembered past its TTL")
	}
	// Capacity 4: two generations of 2. 1 and 2 fill the first; 3 rotates.
	c = newCache(4, ttl)
	c.put(k(1), 1, 0)
	c.put(k(2), 2, 0)
	c.put(k(3), 3, 0)
	if _, ok := c.lookup(k(1), 1); !ok {
		t.Fatal("dropped by the first rotation")
	}
	c.put(k(4), 4, 0)
	c.put(k(5), 5, 0) // second rotation drops 1 and 2
	if _, ok := c.lookup(k(1), 1); ok {
		t.Fatal("outlived two rotations")
	}
	if c.len() > 4 {
		t.Fatalf("%d entries in a cache of 4", c.len())
	}
}
