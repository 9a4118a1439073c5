package timescale

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
)

// exportable names the tables Export reads, by the name users give.
var exportable = map[string]struct {
	table, time string
	columns     []string
}{
	"readings": {Readings.Name, Readings.Time, Readings.Columns},
	"features": {Features.Name, Features.Time, Features.Columns},
	"scores":   {Scores.Name, Scores.Time, Scores.Columns},
	"drift":    {Drift.Name, Drift.Time, Drift.Columns},
	"alerts":   {Alerts.Name, Alerts.Time, Alerts.Columns},
	"retrain":  {Retrain.Name, Retrain.Time, Retrain.Columns},
	"hourly":   {"sensor_readings_hourly", "bucket", []string{"bucket", "sensor_id", "avg", "min", "max", "count"}},
}

// ExportTables lists the names Export accepts.
func ExportTables() []string {
	names := make([]string, 0, len(exportable))
	for n := range exportable {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ExportConfig selects the rows Export writes.
type ExportConfig struct {
	Table  string    // one of ExportTables(); default readings
	Since  time.Time // rows at or after (zero: from the start)
	Until  time.Time // rows before (zero: to the end)
	Sensor string    // only this sensor ("" for all)
	Header bool      // write the column names first
}

// ErrExport wraps an unusable export request.
var ErrExport = fmt.Errorf("%w: export", pipeline.ErrConfig)

// Export streams the selected rows to w as CSV, with PostgreSQL's COPY TO,
// in time order, times in UTC. It returns how many rows it wrote.
func Export(ctx context.Context, pool *pgxpool.Pool, cfg ExportConfig, w io.Writer) (int64, error) {
	if cfg.Table == "" {
		cfg.Table = "readings"
	}
	t, ok := exportable[cfg.Table]
	if !ok {
		return 0, fmt.Errorf("%w: unknown table %q (known: %s)", ErrExport, cfg.Table, strings.Join(ExportTables(), ", "))
	}
	if !cfg.Since.IsZero() && !cfg.Until.IsZero() && !cfg.Since.Before(cfg.Until) {
		return 0, fmt.Errorf("%w: since %s is not before until %s", ErrExport, cfg.Since.Format(time.RFC3339), cfg.Until.Format(time.RFC3339))
	}
	if strings.ContainsRune(cfg.Sensor, 0) {
		return 0, fmt.Errorf("%w: sensor id contains a NUL byte", ErrExport)
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// COPY takes no parameters: literals are quoted by the server, for
		// its own settings.
		var where []string
		quote := func(v string) (string, error) {
			var q string
			err := tx.QueryRow(ctx, `SELECT quote_literal($1::text)`, v).Scan(&q)
			return q, err
		}
		if !cfg.Since.IsZero() {
			where = append(where, fmt.Sprintf("%s >= '%s'", t.time, cfg.Since.UTC().Format(time.RFC3339Nano)))
		}
		if !cfg.Until.IsZero() {
			where = append(where, fmt.Sprintf("%s < '%s'", t.time, cfg.Until.UTC().Format(time.RFC3339Nano)))
		}
		if cfg.Sensor != "" {
			q, err := quote(cfg.Sensor)
			if err != nil {
				return err
			}
			where = append(where, "sensor_id = "+q)
		}
		query := "SELECT " + strings.Join(t.columns, ", ") + " FROM " + t.table
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
		}
		order := []string{t.time}
		if slices.Contains(t.columns, "sensor_id") && t.time != "sensor_id" {
			order = append(order, "sensor_id")
		}
		query += " ORDER BY " + strings.Join(order, ", ")
		if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
			return err
		}
		header := ""
		if cfg.Header {
			header = ", HEADER true"
		}
		tag, err := tx.Conn().PgConn().CopyTo(ctx, w, "COPY ("+query+") TO STDOUT WITH (FORMAT csv"+header+")")
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		if isUndefinedTable(err) {
			return n, ErrNotMigrated
		}
		return n, fmt.Errorf("timescale: export %s: %w", cfg.Table, err)
	}
	return n, nil
}
