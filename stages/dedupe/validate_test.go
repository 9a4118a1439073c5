package dedupe

import (
	"errors"
	"math"
	"strconv"
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
		size   int    // bytes on Kafka; 0 means 150
	}{
		{"valid", func(*schemas.SensorReading) {}, "", 0},
		{"quality 0 is valid", func(r *schemas.SensorReading) { r.Quality = 0 }, "", 0},
		{"empty unit is valid", func(r *schemas.SensorReading) { r.Unit = "" }, "", 0},
		{"at the future bound", func(r *schemas.SensorReading) { r.TS = now.Add(5 * time.Minute) }, "", 0},
		{"empty reading id", func(r *schemas.SensorReading) { r.ReadingID = "" }, "reading_id", 0},
		{"reading id not a uuid", func(r *schemas.SensorReading) { r.ReadingID = "reading-0000000000000000000000000001" }, "reading_id", 0},
		{"uuid without dashes", func(r *schemas.SensorReading) { r.ReadingID = "0b9e4a523c1f4d6e8a7b9c0d1e2f3a4b" }, "reading_id", 0},
		{"missing sensor", func(r *schemas.SensorReading) { r.SensorID = "" }, "sensor_id", 0},
		{"huge sensor id", func(r *schemas.SensorReading) { r.SensorID = strings.Repeat("x", 201) }, "sensor_id", 0},
		{"missing asset", func(r *schemas.SensorReading) { r.AssetID = "" }, "asset_id", 0},
		{"missing type", func(r *schemas.SensorReading) { r.SensorType = "" }, "sensor_type", 0},
		{"NaN", func(r *schemas.SensorReading) { r.Value = math.NaN() }, "value", 0},
		{"+Inf", func(r *schemas.SensorReading) { r.Value = math.Inf(1) }, "value", 0},
		{"quality 101", func(r *schemas.SensorReading) { r.Quality = 101 }, "quality", 0},
		{"quality -1", func(r *schemas.SensorReading) { r.Quality = -1 }, "quality", 0},
		{"no ts", func(r *schemas.SensorReading) { r.TS = time.Time{} }, "ts", 0},
		{"far future", func(r *schemas.SensorReading) { r.TS = now.Add(6 * time.Minute) }, "ts", 0},
		{"too old", func(r *schemas.SensorReading) { r.TS = now.Add(-8 * 24 * time.Hour) }, "ts", 0},
		{"5 MB reading", func(*schemas.SensorReading) {}, "--max-reading-bytes", 5 << 20},
		{"900 KB reading", func(*schemas.SensorReading) {}, "--max-reading-bytes", 900 << 10},
		{"at the size bound", func(*schemas.SensorReading) {}, "", 16 << 10},
		{"huge unit", func(r *schemas.SensorReading) { r.Unit = strings.Repeat("m", 5<<20) }, "unit", 0},
		{"NUL in sensor id", func(r *schemas.SensorReading) { r.SensorID = "pump\x001" }, "sensor_id", 0},
		{"NUL in unit", func(r *schemas.SensorReading) { r.Unit = "C\x00" }, "unit", 0},
		{"invalid UTF-8 in asset id", func(r *schemas.SensorReading) { r.AssetID = "a\xff\xfe" }, "asset_id", 0},
		{"UTF-8 is valid", func(r *schemas.SensorReading) { r.Unit = "°C"; r.AssetID = "Pumpe-Süd" }, "", 0},
		{"tags are valid", func(r *schemas.SensorReading) { r.Tags = map[string]string{"line": "3"} }, "", 0},
		{"empty tag key", func(r *schemas.SensorReading) { r.Tags = map[string]string{"": "3"} }, "tag key", 0},
		{"huge tag value", func(r *schemas.SensorReading) { r.Tags = map[string]string{"note": strings.Repeat("n", 201)} }, "tag note", 0},
		{"NUL in a tag", func(r *schemas.SensorReading) { r.Tags = map[string]string{"note": "a\x00"} }, "tag note", 0},
		{"too many tags", func(r *schemas.SensorReading) {
			r.Tags = map[string]string{}
			for i := range 65 {
				r.Tags[strconv.Itoa(i)] = "x"
			}
		}, "tags", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.mutate(&r)
			size := tc.size
			if size == 0 {
				size = 150
			}
			cfg := Config{}.WithDefaults()
			_, err := validate(&r, size, now, &cfg)
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
