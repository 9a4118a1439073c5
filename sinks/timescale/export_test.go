package timescale

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func store(t *testing.T, pool *pgxpool.Pool, from, n int) {
	t.Helper()
	local, _ := localSink(t, Readings, Config{Pool: pool})
	if _, err := local.Process(context.Background(), msgs(readings(from, n, 10))); err != nil {
		t.Fatal(err)
	}
}

// TestExportRoundTrips: what Export writes, COPY FROM reads back into an
// identical table.
func TestExportRoundTrips(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	store(t, pool, 0, 3000)
	var buf bytes.Buffer
	n, err := Export(ctx, pool, ExportConfig{Header: true}, &buf)
	if err != nil || n != 3000 {
		t.Fatalf("exported %d rows (%v)", n, err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE readings_back (LIKE sensor_readings)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf.Bytes()), `COPY readings_back FROM STDIN WITH (FORMAT csv, HEADER true)`)
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	if d := count(t, pool, `SELECT count(*) FROM ((TABLE sensor_readings EXCEPT TABLE readings_back) UNION ALL (TABLE readings_back EXCEPT TABLE sensor_readings)) d`); d != 0 {
		t.Fatalf("%d rows differ after the round trip", d)
	}
	header := strings.SplitN(buf.String(), "\n", 2)[0]
	if header != strings.Join(Readings.Columns, ",") {
		t.Fatalf("header %q", header)
	}

	// Filters.
	buf.Reset()
	n, err = Export(ctx, pool, ExportConfig{Sensor: "s-003", Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second)}, &buf)
	if err != nil || n != 10 {
		t.Fatalf("filtered export: %d rows (%v)\n%s", n, err, buf.String())
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		ts, err := time.Parse("2006-01-02 15:04:05.999999-07", r[0])
		if err != nil || r[1] != "s-003" || ts.Before(t0.Add(10*time.Second)) || !ts.Before(t0.Add(20*time.Second)) {
			t.Fatalf("row %d %v outside the filter (%v)", i, r, err)
		}
	}
	// A sensor id with a quote is a value, not SQL.
	if n, err := Export(ctx, pool, ExportConfig{Sensor: "x' OR '1'='1"}, &buf); err != nil || n != 0 {
		t.Fatalf("quoted sensor: %d rows, %v", n, err)
	}
	for _, bad := range []ExportConfig{{Table: "passwords"}, {Since: t0, Until: t0}, {Sensor: "a\x00b"}} {
		if _, err := Export(ctx, pool, bad, &buf); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("Export(%+v): %v, want a config error", bad, err)
		}
	}
	// The hourly rollup exports too.
	buf.Reset()
	if n, err := Export(ctx, pool, ExportConfig{Table: "hourly"}, &buf); err != nil || n == 0 {
		t.Fatalf("hourly export: %d rows, %v", n, err)
	}
}

// TestIncrementalExportAppendsOnlyNewRows, and recovers from a run that
// died after appending.
func TestIncrementalExportAppendsOnlyNewRows(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	path := filepath.Join(t.TempDir(), "readings.csv")
	clock := &fixedClock{t0.Add(time.Hour)}
	exp := FileExport{Path: path, Incremental: true, Clock: clock}

	store(t, pool, 0, 1000) // 100 s of readings from t0
	res, err := exp.Run(ctx, pool)
	if err != nil || res.Rows != 1000 || res.Appended {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	// Rows stored after their event time was exported are missed (the
	// documented limit): the first run covered everything before t0+59m.
	store(t, pool, 1000, 500)
	clock.t = t0.Add(2 * time.Hour)
	res, err = exp.Run(ctx, pool)
	if err != nil || res.Rows != 0 || !res.Appended {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	late := readings(0, 300, 10)
	for i := range late {
		late[i].TS = late[i].TS.Add(150 * time.Minute) // after the second run's position, t0+1h59m
		late[i].ReadingID = late[i].ReadingID[:9] + "1111" + late[i].ReadingID[13:]
	}
	local, _ := localSink(t, Readings, Config{Pool: pool})
	if _, err := local.Process(ctx, msgs(late)); err != nil {
		t.Fatal(err)
	}
	clock.t = t0.Add(3 * time.Hour)
	res, err = exp.Run(ctx, pool)
	if err != nil || res.Rows != 300 || !res.Appended {
		t.Fatalf("third run: %+v, %v", res, err)
	}
	lines := func() []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if l := lines(); len(l) != 1+1000+300 || l[0] != strings.Join(Readings.Columns, ",") {
		t.Fatalf("%d lines, header %q", len(l), l[0])
	}

	// A run that died after appending leaves extra bytes; the next run
	// cuts them off before it appends.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("2026-11-25 08:00:00+00,half a row")
	f.Close()
	clock.t = t0.Add(4 * time.Hour)
	if res, err = exp.Run(ctx, pool); err != nil || res.Rows != 0 {
		t.Fatalf("run after a partial append: %+v, %v", res, err)
	}
	if l := lines(); len(l) != 1301 || strings.Contains(l[len(l)-1], "half a row") {
		t.Fatalf("after recovery: %d lines, last %q", len(l), l[len(l)-1])
	}

	// The position belongs to its table and sensor.
	if _, err := (FileExport{Path: path, Incremental: true, ExportConfig: ExportConfig{Sensor: "s-001"}}).Run(ctx, pool); !errors.Is(err, ErrExport) {
		t.Fatalf("incremental export with another sensor: %v", err)
	}
	if _, err := (FileExport{Path: path, Incremental: true, ExportConfig: ExportConfig{Since: t0}}).Run(ctx, pool); !errors.Is(err, ErrExport) {
		t.Fatalf("incremental export with --since and a position: %v", err)
	}
}

func TestRetentionDeletesOldReadingsOnly(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	plainOnly(t, pool)
	store(t, pool, 0, 2000) // 200 s from t0
	rollupBefore := count(t, pool, `SELECT sum(count) FROM sensor_readings_hourly`)
	// 180 days later, plus 100 s: the first half is past retention.
	m := &Maintainer{Pool: pool, ChunkRows: 300, Clock: &fixedClock{t0.Add(180*24*time.Hour + 100*time.Second)}}
	n, err := m.Retain(ctx)
	if err != nil || n != 1000 {
		t.Fatalf("deleted %d (%v), want 1000", n, err)
	}
	if left := count(t, pool, `SELECT count(*) FROM sensor_readings WHERE ts < $1`, t0.Add(100*time.Second)); left != 0 {
		t.Fatalf("%d old rows left", left)
	}
	if kept := count(t, pool, `SELECT count(*) FROM sensor_readings`); kept != 1000 {
		t.Fatalf("%d rows kept, want 1000", kept)
	}
	if after := count(t, pool, `SELECT sum(count) FROM sensor_readings_hourly`); after != rollupBefore {
		t.Fatalf("retention changed the rollup: %d -> %d", rollupBefore, after)
	}
}

// TestCompactionKeepsTheRollupExact: folding deltas into the base table
// changes nothing the view shows, whether more deltas come before or
// after.
func TestCompactionKeepsTheRollupExact(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	plainOnly(t, pool)
	m := &Maintainer{Pool: pool}
	store(t, pool, 0, 4000)
	deltas := count(t, pool, `SELECT count(*) FROM sensor_readings_hourly_delta`)
	n, err := m.Compact(ctx)
	if err != nil || n != deltas || n == 0 {
		t.Fatalf("compacted %d of %d deltas (%v)", n, deltas, err)
	}
	if left := count(t, pool, `SELECT count(*) FROM sensor_readings_hourly_delta`); left != 0 {
		t.Fatalf("%d deltas left", left)
	}
	checkRollup(t, pool)
	store(t, pool, 3000, 4000) // overlaps: only the new rows count
	checkRollup(t, pool)
	if _, err := m.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, pool)
	if base := count(t, pool, `SELECT count(*) FROM sensor_readings_hourly_base`); base != count(t, pool, `SELECT count(*) FROM sensor_readings_hourly`) {
		t.Fatalf("after compaction the base table has %d rows, the view more", base)
	}
}
