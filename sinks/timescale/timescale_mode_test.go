package timescale

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// These tests run against a real TimescaleDB: the cluster .ci/services
// starts on 127.0.0.1:5433 (pipelinetest.TimescaleURL).

// TestMigrateTimescaleModeWithTheExtensionOffTheSearchPath: a deployment
// whose search_path is its own schema, the extension in public, migrates
// in TimescaleDB mode: hypertables, the continuous aggregate, policies;
// and a second migrate changes nothing.
func TestMigrateTimescaleModeWithTheExtensionOffTheSearchPath(t *testing.T) {
	ctx := context.Background()
	pool, schema := pipelinetest.Timescale(t)
	res, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeTimescale || !slices.Equal(res.Applied, migrationNames(t, 1)) || len(res.Policies) != 3 {
		t.Fatalf("migrate: %+v", res)
	}
	var hypertables []string
	rows, err := pool.Query(ctx, `SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hypertables = append(hypertables, h)
	}
	if !slices.Contains(hypertables, "sensor_readings") || !slices.Contains(hypertables, "sensor_forecasts") || !slices.Contains(hypertables, "asset_predictions") {
		t.Fatalf("hypertables in %s: %v", schema, hypertables)
	}
	before := snapshot(t, pool, schema)
	again, err := Migrate(ctx, pool, MigrateConfig{})
	if err != nil || len(again.Applied) != 0 || len(again.Policies) != 0 {
		t.Fatalf("second migrate: %+v, %v", again, err)
	}
	if after := snapshot(t, pool, schema); !slices.Equal(before, after) {
		t.Fatalf("the second migrate changed the schema")
	}
}

// TestFirstMigrateCreatesTheExtensionWhereAsked: on a database without
// the extension, a first migrate creates it in ExtensionSchema, not in the
// deployment's own schema (the first of its search_path).
func TestFirstMigrateCreatesTheExtensionWhereAsked(t *testing.T) {
	ctx := context.Background()
	pipelinetest.Timescale(t) // skips without the server
	admin, err := pgx.Connect(ctx, pipelinetest.TimescaleURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := fmt.Sprintf("t_ext_%06d", rand.IntN(1_000_000))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)") })
	url := strings.Replace(pipelinetest.TimescaleURL(), "/test?", "/"+db+"?", 1)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "plant"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA plant; CREATE SCHEMA ext"); err != nil {
		t.Fatal(err)
	}
	res, err := Migrate(ctx, pool, MigrateConfig{ExtensionSchema: "ext"})
	if err != nil || res.Mode != ModeTimescale {
		t.Fatalf("migrate: %+v, %v", res, err)
	}
	var where string
	if err := pool.QueryRow(ctx, `SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&where); err != nil || where != "ext" {
		t.Fatalf("extension in %q (%v), want ext", where, err)
	}
}

// TestInstalledButNotPreloaded: on a server that has the extension's
// files but does not preload its library (this machine's main cluster,
// once .ci/services has installed them), asking for TimescaleDB is an
// error that says how to fix it, and the automatic choice is plain mode,
// saying why, instead of a connection the server closed.
func TestInstalledButNotPreloaded(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Postgres(t)
	var available bool
	var preload string
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'), current_setting('shared_preload_libraries')`).Scan(&available, &preload); err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.Contains(preload, "timescaledb"):
		t.Skip("this server preloads the extension")
	case !available && pipelinetest.Required():
		t.Fatal("the main PostgreSQL should have the extension's files (.ci/services installs them)")
	case !available:
		t.Skip("needs a server with the extension's files but not preloaded")
	}
	if _, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale}); !errors.Is(err, ErrMode) || !strings.Contains(err.Error(), "shared_preload_libraries = 'timescaledb'") {
		t.Fatalf("asking for timescale: %v", err)
	}
	res, err := Migrate(ctx, pool, MigrateConfig{})
	if err != nil || res.Mode != ModePlain || !strings.Contains(res.Reason, "not preloaded") {
		t.Fatalf("auto: %+v, %v", res, err)
	}
}

// TestReplayIntoCompressedChunks: readings replayed into chunks TimescaleDB
// has compressed (a consumer group reset, a restore) are each found stored
// already: nothing twice, no error. More rows than TimescaleDB's default
// decompression limit per transaction (100,000) are replayed at once,
// which used to fail the sink's every retry with SQLSTATE 53400.
func TestReplayIntoCompressedChunks(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Timescale(t)
	if _, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale}); err != nil {
		t.Fatal(err)
	}
	local, _ := localSink(t, Readings, Config{Pool: pool})
	rows := readings(0, 120_000, 20)
	if _, err := local.Process(ctx, msgs(rows)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM (SELECT compress_chunk(c) FROM show_chunks('sensor_readings') c) x`); n == 0 {
		t.Fatal("no chunk to compress")
	}
	if n := count(t, pool, `SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = current_schema() AND hypertable_name = 'sensor_readings' AND NOT is_compressed`); n != 0 {
		t.Fatalf("%d chunks left uncompressed", n)
	}
	if _, err := local.Process(ctx, msgs(rows)); err != nil {
		t.Fatalf("replay into compressed chunks: %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 120_000 {
		t.Fatalf("%d rows, want 120000", n)
	}
	checkRollup(t, pool)
}
