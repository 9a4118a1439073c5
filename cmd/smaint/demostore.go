package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/smaint/smaint/sinks/timescale"
)

// storage is the demo's database, and what the sink stored in it.
type storage struct {
	Enabled  bool             `json:"enabled"`
	Why      string           `json:"why,omitempty"` // why it is off
	Database string           `json:"database,omitempty"`
	Mode     string           `json:"mode,omitempty"`
	Rows     map[string]int64 `json:"rows_written,omitempty"` // by table, this run
	// Existing counts, by table, the rows this run found already stored
	// (by an earlier run over the same sensors and times) and left alone.
	Existing map[string]int64 `json:"rows_already_stored,omitempty"`
}

// setUpStorage decides whether the demo writes to a database: with
// --database-url (or DATABASE_URL) it must answer, and is migrated;
// without, a server answering at the default address is used; otherwise,
// or with --no-database, the sink is off. When on, "sink" joins the stages.
func setUpStorage(ctx context.Context, st *stageFlags, off bool, log *slog.Logger) (storage, error) {
	switch {
	case off:
		return storage{Why: "--no-database"}, nil
	case !st.db.given() && !st.db.ping(ctx, log):
		return storage{Why: "no database at " + st.db.where() + "; set DATABASE_URL to use one"}, nil
	}
	pool, err := st.db.connect(ctx, "smaint-migrate")
	if err != nil {
		return storage{}, err
	}
	defer pool.Close()
	res, err := timescale.Migrate(ctx, pool, timescale.MigrateConfig{Logger: log})
	if err != nil {
		return storage{}, fmt.Errorf("database %s: %w", st.db.where(), err)
	}
	if !slices.Contains(st.names, "sink") {
		st.names = append(st.names, "sink")
	}
	return storage{Enabled: true, Database: st.db.where(), Mode: modeName(res.Mode)}, nil
}

func (s storage) header(w io.Writer) {
	if !s.Enabled {
		fmt.Fprintf(w, "  database  off (%s)\n", s.Why)
		return
	}
	fmt.Fprintf(w, "  database  %s (%s)\n", s.Database, s.Mode)
}

// stored fills in the rows the sink wrote this run.
func (s *storage) stored(d *deps) {
	if !s.Enabled {
		return
	}
	s.Rows, s.Existing = map[string]int64{}, map[string]int64{}
	for _, t := range []string{"sensor_readings", "sensor_features", "anomaly_scores", "drift_reports", "alert_events", "retrain_events"} {
		s.Rows[t] = int64(metricSum(d.reg, "smaint_sink_rows_total", map[string]string{"table": t}))
		if n := int64(metricSum(d.reg, "smaint_sink_rows_existing_total", map[string]string{"table": t})); n > 0 {
			s.Existing[t] = n
		}
	}
}

func (s storage) print(w io.Writer) {
	if !s.Enabled {
		fmt.Fprintf(w, "  storage             off (%s)\n", s.Why)
		return
	}
	fmt.Fprintf(w, "  storage             %d readings, %d feature windows, %d scores, %d drift reports, %d alert records, %d retrain requests\n"+
		"                      written to %s (%s)\n",
		s.Rows["sensor_readings"], s.Rows["sensor_features"], s.Rows["anomaly_scores"], s.Rows["drift_reports"],
		s.Rows["alert_events"], s.Rows["retrain_events"], s.Database, s.Mode)
	if len(s.Existing) > 0 {
		fmt.Fprintf(w, "                      and left alone, already stored by an earlier run over the same times: %d readings, %d feature windows, %d scores\n",
			s.Existing["sensor_readings"], s.Existing["sensor_features"], s.Existing["anomaly_scores"])
	}
}

// modeName is how messages name a storage mode.
func modeName(m timescale.Mode) string {
	if m == timescale.ModeTimescale {
		return "TimescaleDB"
	}
	return "plain PostgreSQL"
}
