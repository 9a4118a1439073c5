package timescale

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

func localSink[T any](t *testing.T, table Table[T], cfg Config) (*pipeline.Local[T], *Sink[T]) {
	t.Helper()
	s, err := New(table, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "sink", pipeline.Stage[T](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, s
}

// TestReplayChangesNothing: a batch written twice, and a batch that
// overlaps what is stored, leave exactly one row per reading, no error,
// and a rollup equal to a GROUP BY.
func TestReplayChangesNothing(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	reg := prometheus.NewRegistry()
	local, _ := localSink(t, Readings, Config{Pool: pool, Registerer: reg})
	first := readings(0, 5000, 20)
	for range 2 {
		if _, err := local.Process(ctx, msgs(first)); err != nil {
			t.Fatal(err)
		}
	}
	overlap := readings(4000, 3000, 20) // 1000 stored, 2000 new
	if _, err := local.Process(ctx, msgs(overlap)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 7000 {
		t.Fatalf("%d rows, want 7000", n)
	}
	if n := count(t, pool, `SELECT count(DISTINCT reading_id) FROM sensor_readings`); n != 7000 {
		t.Fatalf("%d distinct readings, want 7000", n)
	}
	checkRollup(t, pool)
	copied := testutil.ToFloat64(newSinkMetrics(reg).rows.WithLabelValues("sensor_readings", "copy"))
	upserted := testutil.ToFloat64(newSinkMetrics(reg).rows.WithLabelValues("sensor_readings", "upsert"))
	existing := testutil.ToFloat64(newSinkMetrics(reg).existing.WithLabelValues("sensor_readings"))
	if copied != 5000 || upserted != 2000 || existing != 6000 {
		t.Fatalf("copied %v, upserted %v, existing %v; want 5000, 2000, 6000", copied, upserted, existing)
	}
}

// TestRefusedRecordsAreDeadLettered: a record the database cannot store
// is found and dead-lettered; the rest of its batch is stored.
func TestRefusedRecordsAreDeadLettered(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	local, _ := localSink(t, Readings, Config{Pool: pool})
	batch := readings(0, 1000, 10)
	batch[137].Unit = "b\x00ar"         // PostgreSQL text cannot hold NUL
	batch[602].ReadingID = "not-a-uuid" // refused before the database
	res, err := local.Process(ctx, msgs(batch))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 2 {
		t.Fatalf("rejected %+v, want indexes 137 and 602", res.Rejected)
	}
	got := map[int]string{}
	for _, r := range res.Rejected {
		if !errors.Is(r.Err, pipeline.ErrInvalid) {
			t.Errorf("rejection %d: %v is not ErrInvalid", r.Index, r.Err)
		}
		got[r.Index] = r.Err.Error()
	}
	if !strings.Contains(got[137], "sensor_readings refused it") || !strings.Contains(got[602], "not a UUID") {
		t.Fatalf("rejections %v", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 998 {
		t.Fatalf("%d rows stored, want 998", n)
	}
	checkRollup(t, pool)
}

// TestConflictingReadingsAreDeadLettered: another reading (another
// reading_id) for a sensor and time already stored, or twice in one
// batch, is dead-lettered with kind conflict; the first stays, replays
// still count as existing, and nothing is dropped silently.
func TestConflictingReadingsAreDeadLettered(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	reg := prometheus.NewRegistry()
	local, _ := localSink(t, Readings, Config{Pool: pool, Registerer: reg})
	stored := readings(0, 100, 10)
	if _, err := local.Process(ctx, msgs(stored)); err != nil {
		t.Fatal(err)
	}
	rival := stored[42]
	rival.ReadingID, rival.Value = "0000002a-0000-4000-8000-ffffffffffff", 99 // same sensor and ts, another reading
	twin := readings(500, 1, 10)[0]
	twinRival := twin
	twinRival.ReadingID = "000001f4-0000-4000-8000-ffffffffffff"
	batch := []schemas.SensorReading{stored[7], rival, readings(200, 1, 10)[0], twin, twinRival}
	res, err := local.Process(ctx, msgs(batch))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, r := range res.Rejected {
		got[r.Index] = true
		if r.Kind != pipeline.KindConflict || !errors.Is(r.Err, pipeline.ErrConflict) || !strings.Contains(r.Err.Error(), "another reading_id") {
			t.Errorf("rejection %d: kind %s, %v", r.Index, r.Kind, r.Err)
		}
	}
	if len(got) != 2 || !got[1] || !got[4] {
		t.Fatalf("rejected %+v, want the rival (1) and the twin's rival (4)", res.Rejected)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 102 {
		t.Fatalf("%d rows, want 102", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings WHERE value = 99`); n != 0 {
		t.Fatal("the rival replaced the stored reading")
	}
	if existing := testutil.ToFloat64(newSinkMetrics(reg).existing.WithLabelValues("sensor_readings")); existing != 1 {
		t.Fatalf("%v counted as existing, want 1 (the replay of reading 7)", existing)
	}
	checkRollup(t, pool)
}

// TestEveryTableStoresAndReplays writes one record of each type twice.
func TestEveryTableStoresAndReplays(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	cfg := Config{Pool: pool}
	end := t0.Add(time.Minute)
	twice := func(name string, process func() (pipeline.Result, error)) {
		t.Helper()
		for i := range 2 {
			res, err := process()
			if err != nil || len(res.Rejected) > 0 {
				t.Fatalf("%s, write %d: %v %+v", name, i+1, err, res.Rejected)
			}
		}
		if n := count(t, pool, `SELECT count(*) FROM `+name); n != 1 {
			t.Fatalf("%s has %d rows, want 1", name, n)
		}
	}
	fl, _ := localSink(t, Features, cfg)
	twice("sensor_features", func() (pipeline.Result, error) {
		return fl.Process(ctx, msgs([]schemas.FeatureVector{{SensorID: "s", AssetID: "a", SensorType: "vibration", WindowStart: t0, WindowEnd: end,
			Count: 1200, Mean: 1, Std: 0.3, BandEnergies: []float64{1, 2, 3}}}))
	})
	sl, _ := localSink(t, Scores, cfg)
	twice("anomaly_scores", func() (pipeline.Result, error) {
		return sl.Process(ctx, msgs([]schemas.AnomalyScore{{SensorID: "s", AssetID: "a", SensorType: "vibration", WindowStart: t0, WindowEnd: end,
			Score: 0.9, Threshold: 0.5, IsAnomaly: true, Detector: "adaptive", ModelVersion: "v1",
			Contributions: map[string]float64{"rms": 1}, Deviations: map[string]float64{"rms": 7.5}}}))
	})
	dl, _ := localSink(t, Drift, cfg)
	twice("drift_reports", func() (pipeline.Result, error) {
		return dl.Process(ctx, msgs([]schemas.DriftReport{{SensorID: "s", SensorType: "vibration", CurrentStart: t0, CurrentEnd: end,
			KSStatistic: 0.4, KSPValue: 1e-9, PSI: 0.5, Drifted: true, Method: "ks+psi"}}))
	})
	fc, _ := localSink(t, Forecasts, cfg)
	twice("sensor_forecasts", func() (pipeline.Result, error) {
		return fc.Process(ctx, msgs([]schemas.Forecast{
			{SensorID: "s", AssetID: "a", SensorType: "temperature", Feature: "mean", IssuedAt: end, HorizonS: 1800, Observed: 70,
				Level: 70, TrendPerHour: 4, Value: 72, Lower: 71, Upper: 73, LimitDirection: "above", Limit: 72, CrossesInS: 1750,
				CrossesEarliestS: 900, CrossesLatestS: -1, Model: "holt"}}))
	})
	var limit, latestCross *float64
	if err := pool.QueryRow(ctx, `SELECT limit_value, crosses_latest_s FROM sensor_forecasts`).Scan(&limit, &latestCross); err != nil || limit == nil || *limit != 72 || latestCross != nil {
		t.Fatalf("forecast read back: limit %v, latest crossing %v (want NULL: beyond the horizon), %v", limit, latestCross, err)
	}
	al, _ := localSink(t, Alerts, cfg)
	twice("alert_events", func() (pipeline.Result, error) {
		return al.Process(ctx, msgs([]schemas.Alert{{AlertID: "al-1", SensorID: "s", Kind: schemas.KindAnomaly, Severity: schemas.SeverityWarning,
			State: schemas.StateOpen, OpenedAt: end, LastSeen: end, Occurrences: 2, Summary: "x", Evidence: map[string]float64{"score": 0.9}}}))
	})
	rl, _ := localSink(t, Retrain, cfg)
	twice("retrain_events", func() (pipeline.Result, error) {
		return rl.Process(ctx, msgs([]schemas.RetrainEvent{{EventID: "r-1", ModelName: "iforest-vibration", Scope: "sensor_type:vibration", RequestedAt: end}}))
	})
	pl, _ := localSink(t, Predictions, cfg)
	twice("asset_predictions", func() (pipeline.Result, error) {
		return pl.Process(ctx, msgs([]schemas.Prediction{{AssetID: "a", WindowStart: t0, WindowEnd: end, Model: "gbdt-failure", ModelVersion: "v1",
			Probabilities: map[string]float64{"HDF": 0.75}, Threshold: 0.5, Inputs: map[string]float64{"temperature": 310}, Drivers: map[string]float64{"temperature": 2},
			RemainingLife: -1, RemainingLower: -1, RemainingUpper: -1}}))
	})
	var hdf float64
	var life *float64
	if err := pool.QueryRow(ctx, `SELECT (probabilities->>'HDF')::float8, remaining_life FROM asset_predictions`).Scan(&hdf, &life); err != nil || hdf != 0.75 || life != nil {
		t.Fatalf("prediction read back: HDF %v, remaining life %v (want NULL from a classifier), %v", hdf, life, err)
	}
	// A remaining life has no probabilities: stored as {}, not refused.
	res, err := pl.Process(ctx, msgs([]schemas.Prediction{{AssetID: "a", WindowStart: t0, WindowEnd: end, Model: "gbdt-rul", ModelVersion: "v1",
		Inputs: map[string]float64{"wear": 5.1}, Drivers: map[string]float64{"wear": -3}, RemainingLife: 42, RemainingLower: 30, RemainingUpper: 60}}))
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("a remaining life: %v %+v", err, res.Rejected)
	}
	var probs string
	if err := pool.QueryRow(ctx, `SELECT probabilities::text, remaining_life FROM asset_predictions WHERE model = 'gbdt-rul'`).Scan(&probs, &life); err != nil || probs != "{}" || life == nil || *life != 42 {
		t.Fatalf("remaining life read back: probabilities %s, life %v, %v", probs, life, err)
	}
	ml, _ := localSink(t, Maintenance, cfg)
	twice("asset_maintenance", func() (pipeline.Result, error) {
		return ml.Process(ctx, msgs([]schemas.Maintenance{{AssetID: "a", PerformedAt: t0, Action: "replacement", Renews: true, Note: "bearing"}}))
	})
	var renews bool
	if err := pool.QueryRow(ctx, `SELECT renews FROM asset_maintenance WHERE action = 'replacement'`).Scan(&renews); err != nil || !renews {
		t.Fatalf("maintenance read back: renews %v, %v", renews, err)
	}
	// What was stored reads back.
	var bands []float64
	var dev float64
	var state string
	if err := pool.QueryRow(ctx, `SELECT f.band_energies, (s.deviations->>'rms')::float8, a.state
		FROM sensor_features f, anomaly_scores s, alerts_current a`).Scan(&bands, &dev, &state); err != nil {
		t.Fatal(err)
	}
	if len(bands) != 3 || bands[2] != 3 || dev != 7.5 || state != "OPEN" {
		t.Fatalf("read back bands %v, deviation %v, state %q", bands, dev, state)
	}
	// alerts_latest, kept by a trigger, follows what the sink stores: a
	// resolution, then the opening replayed, leave it resolved.
	resolved := schemas.Alert{AlertID: "al-1", SensorID: "s", Kind: schemas.KindAnomaly, Severity: schemas.SeverityWarning,
		State: schemas.StateResolved, OpenedAt: end, LastSeen: end.Add(time.Minute), Occurrences: 3, Summary: "x"}
	opened := resolved
	opened.State, opened.LastSeen, opened.Occurrences, opened.Evidence = schemas.StateOpen, end, 2, map[string]float64{"score": 0.9}
	for _, batch := range [][]schemas.Alert{{resolved}, {opened}} {
		if _, err := al.Process(ctx, msgs(batch)); err != nil {
			t.Fatal(err)
		}
	}
	var latest, current string
	if err := pool.QueryRow(ctx, `SELECT l.state || l.occurrences, c.state || c.occurrences
		FROM alerts_latest l JOIN alerts_current c USING (alert_id)`).Scan(&latest, &current); err != nil {
		t.Fatal(err)
	}
	if latest != "RESOLVED3" || current != latest {
		t.Fatalf("alerts_latest says %q, alerts_current %q; want RESOLVED3", latest, current)
	}
}

func TestSinkBeforeMigrateSaysSo(t *testing.T) {
	pool, _ := migrated(t)
	if _, err := pool.Exec(context.Background(), `DROP TABLE smaint_settings`); err != nil {
		t.Fatal(err)
	}
	local, _ := localSink(t, Readings, Config{Pool: pool})
	if _, err := local.Process(context.Background(), msgs(readings(0, 10, 2))); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("write to an unmigrated schema: %v", err)
	}
	if _, err := New(Readings, Config{}); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("New without a pool: %v", err)
	}
}

// TestALockedTableFailsVisiblyNotSilently: with the table locked by
// another session, a write fails after the statement timeout (SQLSTATE
// 57014), the sink says the database is down for that table, and the
// batch is the runner's to retry; once the lock goes, it is stored.
func TestALockedTableFailsVisiblyNotSilently(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	health := pipeline.NewHealth()
	local, _ := localSink(t, Readings, Config{Pool: pool, StatementTimeout: 200 * time.Millisecond, Health: health})
	locker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locker.Exec(ctx, `LOCK TABLE sensor_readings IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	batch := readings(0, 10, 2)
	_, err = local.Process(ctx, msgs(batch))
	if pgCode(err) != "57014" || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("write to a locked table: %v, want a statement timeout", err)
	}
	report, ready := health.Report()
	if ready || len(report) != 1 || report[0].Component != "database/sensor_readings" || !strings.Contains(report[0].Detail, "statement timeout") {
		t.Fatalf("health %+v (ready %v) while the table is locked", report, ready)
	}
	if err := locker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Process(ctx, msgs(batch)); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 10 {
		t.Fatalf("%d rows", n)
	}
}

// TestReplayReadsOnlyTheBatchsTimeRange: the check for conflicting
// readings after a replay reads the stored rows of the batch's time
// range, not the whole table: its plan scans no table or chunk
// sequentially. (It used to hash-join the whole table for every
// replayed batch: replays slowed down as the table grew.)
func TestReplayReadsOnlyTheBatchsTimeRange(t *testing.T) {
	ctx := context.Background()
	pool, _ := migrated(t)
	local, sink := localSink(t, Readings, Config{Pool: pool})
	all := readings(0, 200_000, 1000)
	if _, err := local.Process(ctx, msgs(all)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE sensor_readings`); err != nil {
		t.Fatal(err)
	}
	batch := all[100_000:110_000]
	rows := make([][]any, len(batch))
	for i := range batch {
		var err error
		if rows[i], err = Readings.Row(&batch[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE stage (LIKE sensor_readings) ON COMMIT DROP`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage"}, Readings.Columns, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	q, args := sink.conflictQuery("stage", rows)
	res, _ := tx.Query(ctx, "EXPLAIN "+q, args...) // an error shows in CollectRows
	lines, err := pgx.CollectRows(res, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	for _, l := range lines {
		if strings.Contains(l, "Seq Scan on") && !strings.Contains(l, "Seq Scan on stage") {
			t.Fatalf("the conflict check scans stored readings sequentially:\n%s", plan)
		}
	}
	t.Logf("plan:\n%s", plan)
}
