package timescale

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

var t0 = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

// migrated returns a pool on a fresh, migrated schema.
func migrated(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, schema := pipelinetest.Postgres(t)
	if _, err := Migrate(context.Background(), pool, MigrateConfig{}); err != nil {
		t.Fatal(err)
	}
	return pool, schema
}

// readings returns n readings over sensors sensors, one a second each
// from t0, with ids derived from i so that equal i give equal readings.
func readings(from, n, sensors int) []schemas.SensorReading {
	return readingsFrom(t0, from, n, sensors, time.Second)
}

// readingsFrom is readings from start, a reading every step per sensor.
func readingsFrom(start time.Time, from, n, sensors int, step time.Duration) []schemas.SensorReading {
	out := make([]schemas.SensorReading, 0, n)
	for i := from; i < from+n; i++ {
		s := i % sensors
		out = append(out, schemas.SensorReading{
			ReadingID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), SensorID: fmt.Sprintf("s-%03d", s),
			AssetID: fmt.Sprintf("a-%02d", s/4), SensorType: "pressure", TS: start.Add(time.Duration(i/sensors) * step).Add(time.Duration(s) * time.Millisecond),
			Value: 4 + math.Sin(float64(i)/50), Unit: "bar", Quality: 100})
	}
	return out
}

func msgs[T any](vs []T) []pipeline.Msg[T] {
	out := make([]pipeline.Msg[T], len(vs))
	for i := range vs {
		out[i] = pipeline.Msg[T]{Value: vs[i], Offset: int64(i)}
	}
	return out
}

func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkRollup fails unless sensor_readings_hourly equals a GROUP BY over
// the raw rows. In TimescaleDB mode it first refreshes the hours whose
// readings changed since they were materialized: the refresh job, which
// TimescaleDB starts on its own schedule (at once after a migrate), may
// have materialized an hour while the test was still writing it, and a
// real-time aggregate shows such an hour as materialized until the next
// refresh (README, Storage). Hours never materialized are read in real
// time either way.
func checkRollup(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	var mode string
	if err := pool.QueryRow(context.Background(), `SELECT value FROM smaint_settings WHERE key = 'mode'`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if Mode(mode) == ModeTimescale {
		var ext string
		if err := pool.QueryRow(context.Background(), `SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&ext); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(context.Background(), `CALL `+ext+`.refresh_continuous_aggregate('sensor_readings_hourly', NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
	}
	n := count(t, pool, `
		WITH raw AS (
			SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, sensor_id,
			       count(*) AS count, min(value) AS min, max(value) AS max, avg(value) AS avg
			FROM sensor_readings GROUP BY 1, 2)
		SELECT count(*) FROM raw FULL JOIN sensor_readings_hourly h USING (bucket, sensor_id)
		WHERE raw.count IS DISTINCT FROM h.count OR raw.min IS DISTINCT FROM h.min OR raw.max IS DISTINCT FROM h.max
		   OR raw.avg IS NULL OR h.avg IS NULL OR abs(raw.avg - h.avg) > 1e-9 * greatest(1, abs(raw.avg))`)
	if n != 0 {
		t.Fatalf("%d hourly rollup rows differ from a GROUP BY over sensor_readings", n)
	}
	if count(t, pool, `SELECT count(*) FROM sensor_readings_hourly`) == 0 && count(t, pool, `SELECT count(*) FROM sensor_readings`) > 0 {
		t.Fatal("the rollup is empty")
	}
}

// serverMode is the mode an automatic migrate picks on the test server:
// TimescaleDB where the extension is preloaded (the 5433 cluster, which
// make test also runs this package against), else plain.
func serverMode(t testing.TB, pool *pgxpool.Pool) Mode {
	t.Helper()
	var preload string
	if err := pool.QueryRow(context.Background(), `SELECT current_setting('shared_preload_libraries')`).Scan(&preload); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(preload, "timescaledb") {
		return ModeTimescale
	}
	return ModePlain
}

// plainOnly skips a test of what smaint does itself in plain mode only
// (retention, keeping the rollup) when the server runs TimescaleDB.
func plainOnly(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if serverMode(t, pool) != ModePlain {
		t.Skip("plain mode only: TimescaleDB keeps retention and the rollup itself")
	}
}

// migrationNames lists the embedded migrations from version from on.
func migrationNames(t testing.TB, from int) []string {
	t.Helper()
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range migs {
		if m.version >= from {
			out = append(out, m.name)
		}
	}
	return out
}
