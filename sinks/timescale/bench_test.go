package timescale

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// BenchmarkSinkVsRawCopy writes the same readings three ways in one run:
// raw COPY of prepared rows (the database's limit), the sink on fresh data
// (records to rows, COPY, and in plain mode the hourly rollup, in one
// transaction), and the sink on a replay of the same data (the staged
// upsert). It reports rows per second of each and the sink's share of raw
// COPY. It runs in the mode of the test server (make bench-sink runs it
// on both); on TimescaleDB it also replays into the same chunks once
// compressed.
func BenchmarkSinkVsRawCopy(b *testing.B) {
	ctx := context.Background()
	pool, _ := migrated(b)
	const n, batch = 200_000, 10_000
	rs := readings(0, n, 1000)
	rows := make([][]any, n)
	for i := range rs {
		var err error
		if rows[i], err = Readings.Row(&rs[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	in := msgs(rs)
	sink, err := New(Readings, Config{Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	local, err := pipeline.NewLocal(ctx, "sink", pipeline.Stage[schemas.SensorReading](sink), nil)
	if err != nil {
		b.Fatal(err)
	}
	mode := serverMode(b, pool)
	truncate := func() {
		tables := "sensor_readings, sensor_readings_hourly_base, sensor_readings_hourly_delta"
		if mode == ModeTimescale {
			tables = "sensor_readings"
		}
		if _, err := pool.Exec(ctx, `TRUNCATE `+tables); err != nil {
			b.Fatal(err)
		}
	}
	compress := func() {
		if _, err := pool.Exec(ctx, `SELECT compress_chunk(c) FROM show_chunks('sensor_readings') c`); err != nil {
			b.Fatal(err)
		}
	}
	timed := func(fn func(lo, hi int)) time.Duration {
		start := time.Now()
		for lo := 0; lo < n; lo += batch {
			fn(lo, min(lo+batch, n))
		}
		return time.Since(start)
	}
	var raw, fresh, replay, compressed time.Duration
	for b.Loop() {
		truncate()
		raw += timed(func(lo, hi int) {
			if _, err := pool.CopyFrom(ctx, pgx.Identifier{Readings.Name}, Readings.Columns, pgx.CopyFromRows(rows[lo:hi])); err != nil {
				b.Fatal(err)
			}
		})
		truncate()
		process := func(lo, hi int) {
			if res, err := local.Process(ctx, in[lo:hi]); err != nil || len(res.Rejected) > 0 {
				b.Fatal(err, res.Rejected)
			}
		}
		fresh += timed(process)
		replay += timed(process)
		if mode == ModeTimescale {
			compress()
			compressed += timed(process)
		}
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-copy-rows/s")
	b.ReportMetric(rate(fresh), "sink-rows/s")
	b.ReportMetric(rate(replay), "replay-rows/s")
	if mode == ModeTimescale {
		b.ReportMetric(rate(compressed), "replay-compressed-rows/s")
	}
	b.ReportMetric(rate(fresh)/rate(raw), "sink/raw")
	b.ReportMetric(0, "ns/op")
}
