package timescale

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
)

// Mode is how the database stores time series.
type Mode string

const (
	// ModeTimescale: hypertables, compression, a retention policy and a
	// continuous aggregate, all run by TimescaleDB.
	ModeTimescale Mode = "timescale"
	// ModePlain: the same tables in plain PostgreSQL; the sink keeps the
	// hourly rollup current and smaint runs retention (see Retention).
	ModePlain Mode = "plain"
)

// MigrateConfig configures Migrate. Zero durations take the defaults.
type MigrateConfig struct {
	// Mode forces a mode; "" picks TimescaleDB when the extension can be
	// created and plain PostgreSQL otherwise. A database keeps the mode it
	// was first migrated in.
	Mode          Mode
	CompressAfter time.Duration // TimescaleDB: compress readings older than this (default 7 days)
	Retention     time.Duration // drop readings older than this (default 180 days)
	// The continuous aggregate's refresh policy (TimescaleDB): every
	// RefreshEvery, refresh from RefreshStart to RefreshEnd ago. The window
	// must span at least two hourly buckets, or TimescaleDB refuses it.
	//
	// RefreshStart must be shorter than Retention: a refresh over hours
	// whose readings retention dropped deletes their rollup, which both
	// modes keep. It should reach as far back as readings may arrive
	// late: an hour the refresh never covers keeps the rollup of the
	// readings stored when it was first materialized, so late readings,
	// a backlog or a replay older than RefreshStart are missing from it.
	// Hence the long default; a refresh only recomputes the hours whose
	// readings changed since the last one, so a long window costs little.
	RefreshEvery time.Duration // default 30 min
	RefreshStart time.Duration // default Retention less a day (or half of a Retention under two days)
	RefreshEnd   time.Duration // default 30 min
	// ExtensionSchema is where a first migrate creates the timescaledb
	// extension (default public). An extension already there stays where
	// it is; either way its schema is put on the migration's search_path.
	ExtensionSchema string
	Logger          *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c MigrateConfig) WithDefaults() MigrateConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.CompressAfter, 7*24*time.Hour)
	def(&c.Retention, 180*24*time.Hour)
	def(&c.RefreshEvery, 30*time.Minute)
	if c.Retention >= 2*24*time.Hour {
		def(&c.RefreshStart, c.Retention-24*time.Hour)
	} else {
		def(&c.RefreshStart, c.Retention/2)
	}
	def(&c.RefreshEnd, 30*time.Minute)
	if c.ExtensionSchema == "" {
		c.ExtensionSchema = "public"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c MigrateConfig) Validate() error {
	switch {
	case c.Mode != "" && c.Mode != ModeTimescale && c.Mode != ModePlain:
		return fmt.Errorf("%w: storage mode %q (want timescale or plain)", pipeline.ErrConfig, c.Mode)
	case c.CompressAfter < time.Hour || c.Retention < time.Hour:
		return fmt.Errorf("%w: compression after %v and retention %v must be at least an hour", pipeline.ErrConfig, c.CompressAfter, c.Retention)
	case c.RefreshEvery < time.Minute || c.RefreshEnd < 0:
		return fmt.Errorf("%w: rollup refresh every %v, ending %v ago", pipeline.ErrConfig, c.RefreshEvery, c.RefreshEnd)
	case c.RefreshStart-c.RefreshEnd < 2*time.Hour:
		return fmt.Errorf("%w: rollup refresh window %v to %v ago spans less than two hourly buckets", pipeline.ErrConfig, c.RefreshStart, c.RefreshEnd)
	case c.RefreshStart >= c.Retention:
		return fmt.Errorf("%w: rollup refresh from %v ago reaches past the retention of %v: a refresh over dropped readings deletes their rollup; make it shorter", pipeline.ErrConfig, c.RefreshStart, c.Retention)
	}
	return nil
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Mode     Mode
	Reason   string   // why this mode
	Applied  []string // migrations applied now, "0001_tables" style
	Policies []string // storage settings installed or changed now
}

// ErrMode means the database cannot be migrated in the mode asked for.
var ErrMode = errors.New("timescale: storage mode")

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     map[string]string // "" (both modes), "timescale", "plain"
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*migration{}
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".sql")
		name, variant, _ := strings.Cut(base, ".")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("timescale: migration file %s has no version number", f)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m := byVersion[v]
		if m == nil {
			m = &migration{version: v, name: name, sql: map[string]string{}}
			byVersion[v] = m
		}
		m.sql[variant] = string(b)
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate brings the schema in the pool's search_path up to date and
// installs the storage settings of cfg. It is idempotent: a second run
// applies nothing and changes nothing. Concurrent runs are serialized by
// an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, cfg MigrateConfig) (MigrateResult, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return MigrateResult{}, err
	}
	migs, err := loadMigrations()
	if err != nil {
		return MigrateResult{}, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("timescale: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext(current_schema() || ':smaint-migrate'))`); err != nil {
		return MigrateResult{}, fmt.Errorf("timescale: migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext(current_schema() || ':smaint-migrate'))`)

	if _, err := conn.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS smaint_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE IF NOT EXISTS smaint_settings (
			key   text PRIMARY KEY,
			value text NOT NULL)`); err != nil {
		if pgCode(err) == "3F000" {
			return MigrateResult{}, fmt.Errorf("timescale: no schema of the search_path exists; create it first: %w", err)
		}
		return MigrateResult{}, fmt.Errorf("timescale: bookkeeping tables: %w", err)
	}
	res := MigrateResult{}
	if res.Mode, res.Reason, err = chooseMode(ctx, conn.Conn(), cfg.Mode, cfg.ExtensionSchema); err != nil {
		return res, err
	}
	if res.Mode == ModeTimescale {
		if err := useExtensionSchema(ctx, conn.Conn()); err != nil {
			return res, err
		}
	}
	cfg.Logger.Info("storage mode", "mode", res.Mode, "reason", res.Reason)
	var done int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM smaint_migrations`).Scan(&done); err != nil {
		return res, fmt.Errorf("timescale: read migrations: %w", err)
	}
	for _, m := range migs {
		if m.version <= done {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, part := range []string{m.sql[""], m.sql[string(res.Mode)]} {
				if strings.TrimSpace(part) == "" {
					continue
				}
				if _, err := tx.Exec(ctx, part); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO smaint_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO smaint_settings (key, value) VALUES ('mode', $1) ON CONFLICT (key) DO NOTHING`, string(res.Mode))
			return err
		})
		if err != nil {
			return res, fmt.Errorf("timescale: migration %s (%s mode): %w", m.name, res.Mode, err)
		}
		cfg.Logger.Info("migration applied", "migration", m.name, "mode", res.Mode)
		res.Applied = append(res.Applied, m.name)
	}
	res.Policies, err = applyPolicies(ctx, conn.Conn(), res.Mode, cfg)
	return res, err
}

// chooseMode returns the mode recorded in the database, or picks one.
func chooseMode(ctx context.Context, conn *pgx.Conn, want Mode, extSchema string) (Mode, string, error) {
	var recorded string
	err := conn.QueryRow(ctx, `SELECT value FROM smaint_settings WHERE key = 'mode'`).Scan(&recorded)
	switch {
	case err == nil:
		if want != "" && Mode(recorded) != want {
			return "", "", fmt.Errorf("%w: the database was migrated in %s mode; %s was asked for", ErrMode, recorded, want)
		}
		return Mode(recorded), "chosen when the database was first migrated", nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", "", fmt.Errorf("timescale: read settings: %w", err)
	}
	if want == ModePlain {
		return ModePlain, "asked for", nil
	}
	var available bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&available); err != nil {
		return "", "", fmt.Errorf("timescale: look for the extension: %w", err)
	}
	if !available {
		if want == ModeTimescale {
			return "", "", fmt.Errorf("%w: timescale asked for, but the server has no timescaledb extension", ErrMode)
		}
		return ModePlain, "the server has no timescaledb extension", nil
	}
	// Installed but not preloaded, CREATE EXTENSION makes the server
	// close the connection (FATAL "must be preloaded"): look first.
	var preload string
	if err := conn.QueryRow(ctx, `SELECT current_setting('shared_preload_libraries')`).Scan(&preload); err != nil {
		return "", "", fmt.Errorf("timescale: read shared_preload_libraries: %w", err)
	}
	if !strings.Contains(preload, "timescaledb") {
		const fix = "the timescaledb extension is installed on the server but not preloaded: add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL"
		if want == ModeTimescale {
			return "", "", fmt.Errorf("%w: %s", ErrMode, fix)
		}
		return ModePlain, fix + " to use it", nil
	}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA `+pgx.Identifier{extSchema}.Sanitize()); err != nil {
		if want == ModeTimescale {
			return "", "", fmt.Errorf("%w: create extension timescaledb: %v", ErrMode, err)
		}
		return ModePlain, fmt.Sprintf("the timescaledb extension could not be created (%v)", err), nil
	}
	return ModeTimescale, "the timescaledb extension is installed", nil
}

// applyPolicies installs the storage settings that differ from the ones
// recorded, and returns what it changed.
func applyPolicies(ctx context.Context, conn *pgx.Conn, mode Mode, cfg MigrateConfig) ([]string, error) {
	type policy struct {
		key, value string
		apply      []string // statements, $1 = value where used
	}
	policies := []policy{{key: "retention", value: formatInterval(cfg.Retention)}}
	if mode == ModeTimescale {
		policies = []policy{
			{key: "compress_after", value: formatInterval(cfg.CompressAfter), apply: []string{
				`SELECT remove_compression_policy('sensor_readings', if_exists => true)`,
				`SELECT add_compression_policy('sensor_readings', compress_after => $1::interval)`}},
			{key: "retention", value: formatInterval(cfg.Retention), apply: []string{
				`SELECT remove_retention_policy('sensor_readings', if_exists => true)`,
				`SELECT add_retention_policy('sensor_readings', drop_after => $1::interval)`}},
			{key: "rollup_refresh", value: formatInterval(cfg.RefreshStart) + "," + formatInterval(cfg.RefreshEnd) + "," + formatInterval(cfg.RefreshEvery), apply: []string{
				`SELECT remove_continuous_aggregate_policy('sensor_readings_hourly', if_exists => true)`,
				`SELECT add_continuous_aggregate_policy('sensor_readings_hourly',
					start_offset => split_part($1, ',', 1)::interval,
					end_offset => split_part($1, ',', 2)::interval,
					schedule_interval => split_part($1, ',', 3)::interval)`}},
		}
	}
	var changed []string
	for _, p := range policies {
		var cur string
		err := conn.QueryRow(ctx, `SELECT value FROM smaint_settings WHERE key = $1`, p.key).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return changed, fmt.Errorf("timescale: read setting %s: %w", p.key, err)
		}
		if err == nil && cur == p.value {
			continue
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, stmt := range p.apply {
				var args []any
				if strings.Contains(stmt, "$1") {
					args = append(args, p.value)
				}
				if _, err := tx.Exec(ctx, stmt, args...); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO smaint_settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, p.key, p.value)
			return err
		})
		if err != nil {
			return changed, fmt.Errorf("timescale: setting %s = %s: %w", p.key, p.value, err)
		}
		changed = append(changed, p.key+" = "+p.value)
	}
	return changed, nil
}

// Settings are the storage settings Migrate recorded.
type Settings struct {
	Mode      Mode
	Retention time.Duration
}

// ReadSettings returns the settings of the schema in the pool's
// search_path. It fails with ErrNotMigrated before Migrate has run.
func ReadSettings(ctx context.Context, pool *pgxpool.Pool) (Settings, error) {
	rows, err := pool.Query(ctx, `SELECT key, value FROM smaint_settings WHERE key IN ('mode', 'retention')`)
	if err != nil {
		if isUndefinedTable(err) {
			return Settings{}, ErrNotMigrated
		}
		return Settings{}, fmt.Errorf("timescale: read settings: %w", err)
	}
	var s Settings
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return s, err
		}
		switch k {
		case "mode":
			s.Mode = Mode(v)
		case "retention":
			s.Retention = parseInterval(v)
		}
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	if s.Mode == "" {
		return s, ErrNotMigrated
	}
	// A schema migrated by an older smaint lacks what this one writes.
	var done int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM smaint_migrations`).Scan(&done); err != nil {
		return s, fmt.Errorf("timescale: read the migrations done: %w", err)
	}
	migs, err := loadMigrations()
	if err != nil {
		return s, err
	}
	if latest := migs[len(migs)-1].version; done < latest {
		return s, fmt.Errorf("%w (it is at migration %d of %d)", ErrNotMigrated, done, latest)
	}
	return s, nil
}

// ErrNotMigrated means the schema has no smaint tables yet: run Migrate
// ("smaint migrate") first.
var ErrNotMigrated = errors.New("timescale: the database is not migrated; run smaint migrate")

// formatInterval writes d as a PostgreSQL interval in whole days, hours or
// seconds, the largest that is exact.
func formatInterval(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "days"}, {time.Hour, "hours"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + " " + u.name
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " seconds"
}

// parseInterval reads what formatInterval wrote.
func parseInterval(s string) time.Duration {
	num, unit, _ := strings.Cut(s, " ")
	n, _ := strconv.ParseInt(num, 10, 64)
	switch unit {
	case "days":
		return time.Duration(n) * 24 * time.Hour
	case "hours":
		return time.Duration(n) * time.Hour
	}
	return time.Duration(n) * time.Second
}

// useExtensionSchema puts the schema the timescaledb extension lives in
// at the end of the session's search_path, so that its functions resolve
// however the deployment's own search_path is set.
func useExtensionSchema(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SELECT set_config('search_path',
		current_setting('search_path') || ', ' || quote_ident(n.nspname), false)
		FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'timescaledb'`)
	if err != nil {
		return fmt.Errorf("timescale: put the extension's schema on the search_path: %w", err)
	}
	return nil
}
