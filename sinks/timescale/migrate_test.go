package timescale

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// snapshot describes a schema: its columns, indexes, views and settings.
func snapshot(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = $1
		UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = $1
		UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = $1
		UNION ALL SELECT 'set ' || key || '=' || value FROM smaint_settings
		UNION ALL SELECT 'mig ' || version || ' ' || name || ' ' || applied_at FROM smaint_migrations`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	pool, schema := pipelinetest.Postgres(t)
	res, err := Migrate(ctx, pool, MigrateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mode := serverMode(t, pool)
	policies := map[Mode]int{ModePlain: 1, ModeTimescale: 3}[mode]
	if res.Mode != mode || res.Reason == "" || !slices.Equal(res.Applied, migrationNames(t, 1)) || len(res.Policies) != policies {
		t.Fatalf("first migrate: %+v", res)
	}
	before := snapshot(t, pool, schema)
	for _, table := range []string{"sensor_readings", "sensor_features", "anomaly_scores", "drift_reports", "sensor_forecasts", "asset_predictions", "asset_maintenance", "alert_events", "retrain_events", "sensor_readings_hourly", "alerts_current"} {
		if count(t, pool, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, schema, table) != 1 {
			t.Errorf("no %s after migrate", table)
		}
	}
	res, err = Migrate(ctx, pool, MigrateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != mode || len(res.Applied) != 0 || len(res.Policies) != 0 {
		t.Fatalf("second migrate did something: %+v", res)
	}
	if after := snapshot(t, pool, schema); !slices.Equal(before, after) {
		t.Fatalf("the second migrate changed the schema:\nbefore %q\nafter  %q", before, after)
	}

	// A new retention is installed, and only that (on TimescaleDB with the
	// rollup's refresh window, which follows it).
	res, err = Migrate(ctx, pool, MigrateConfig{Retention: 90 * 24 * time.Hour})
	want := []string{"retention = 90 days"}
	if mode == ModeTimescale {
		want = append(want, "rollup_refresh = 89 days,1800 seconds,1800 seconds")
	}
	if err != nil || len(res.Applied) != 0 || !slices.Equal(res.Policies, want) {
		t.Fatalf("migrate with a new retention: %+v, %v", res, err)
	}
	st, err := ReadSettings(ctx, pool)
	if err != nil || st.Mode != mode || st.Retention != 90*24*time.Hour {
		t.Fatalf("settings %+v, %v", st, err)
	}
	// The database keeps its mode.
	other := map[Mode]Mode{ModePlain: ModeTimescale, ModeTimescale: ModePlain}[mode]
	if _, err := Migrate(ctx, pool, MigrateConfig{Mode: other}); !errors.Is(err, ErrMode) {
		t.Fatalf("%s mode on a %s database: %v", other, mode, err)
	}
}

func TestMigrateModesAndSettings(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Postgres(t)
	if _, err := ReadSettings(ctx, pool); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("settings before migrate: %v", err)
	}
	// Without the extension, asking for TimescaleDB is an error, not a
	// silent fallback.
	if serverMode(t, pool) == ModePlain {
		if _, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale}); !errors.Is(err, ErrMode) {
			t.Fatalf("timescale mode without the extension: %v", err)
		}
	}
	for _, cfg := range []MigrateConfig{
		{Mode: "oracle"},
		{Retention: time.Minute},
		{RefreshStart: 2 * time.Hour, RefreshEnd: time.Hour},
	} {
		if _, err := Migrate(ctx, pool, cfg); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("Migrate(%+v): %v, want a config error", cfg, err)
		}
	}
}

func TestConcurrentMigratesApplyOnce(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Postgres(t)
	errs := make(chan error, 4)
	applied := make(chan int, 4)
	for range 4 {
		go func() {
			res, err := Migrate(ctx, pool, MigrateConfig{})
			errs <- err
			applied <- len(res.Applied)
		}()
	}
	total := 0
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		total += <-applied
	}
	if migs, _ := loadMigrations(); total != len(migs) {
		t.Fatalf("%d migrations applied, want each of %d once", total, len(migs))
	}
}

// TestSinkRefusesASchemaMigratedByAnOlderRelease: a schema at an older
// migration lacks columns this release writes (alert_events.onset), and
// ReadSettings, which the sink calls at start, says to migrate.
func TestSinkRefusesASchemaMigratedByAnOlderRelease(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Postgres(t)
	if _, err := Migrate(ctx, pool, MigrateConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM smaint_migrations WHERE version > 1; ALTER TABLE alert_events DROP COLUMN onset`); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSettings(ctx, pool); !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), "migration 1 of") {
		t.Fatalf("ReadSettings on an older schema: %v", err)
	}
	res, err := Migrate(ctx, pool, MigrateConfig{})
	if err != nil || !slices.Equal(res.Applied, migrationNames(t, 2)) {
		t.Fatalf("migrate after: %+v, %v", res, err)
	}
	if _, err := ReadSettings(ctx, pool); err != nil {
		t.Fatal(err)
	}
}
