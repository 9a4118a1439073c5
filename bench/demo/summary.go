package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/sinks/timescale"
	"github.com/smaint/smaint/stages/simulate"
)

// Summary is a run's report. Its JSON form is the last line of "smaint
// demo --json".
type Summary struct {
	ReadingsProduced   int64     `json:"readings_produced"`   // records sent to sensor.readings
	DuplicatesInjected int64     `json:"duplicates_injected"` // of which copies of a reading already sent
	InvalidInjected    int64     `json:"invalid_injected"`    // of which malformed or invalid
	DuplicatesDropped  int64     `json:"duplicates_dropped"`  // by the dedupe stage
	DLQ                int64     `json:"dlq"`                 // records on sensor.dlq
	Conflicts          int64     `json:"conflicts"`           // of which readings the sink found stored under another id
	Clean              int64     `json:"clean"`               // records on sensor.readings.clean
	DuplicatesPassed   int64     `json:"duplicates_passed"`   // clean records that repeat one already there
	Lost               int64     `json:"lost"`                // valid readings sent that never reached the clean topic
	ReadingsPerSec     float64   `json:"readings_per_sec"`    // readings_produced / seconds spent sending
	SendSeconds        float64   `json:"send_seconds"`
	TotalSeconds       float64   `json:"total_seconds"`
	Drained            bool      `json:"drained"` // the pipeline finished all input before the summary
	LateInjected       int64     `json:"late_injected"`
	OutOfOrderInjected int64     `json:"out_of_order_injected"`
	LateReadings       int64     `json:"late_readings"` // readings the features stage found too late for their window
	FeatureWindows     int64     `json:"feature_windows"`
	EventMinutes       float64   `json:"event_minutes"` // simulated event time covered
	Storage            Storage   `json:"storage"`
	Models             ModelLoop `json:"models"`
	simulate.Evaluation
	started, plantStart time.Time
}

func (r *run) summarize(reached, started time.Time, sent int64, sendSecs, totalSecs float64, drained bool) *Summary {
	c, st := r.check.Counts(), r.sim.Stats()
	r.cfg.Storage.stored(r.metric)
	// Only what was actually sent counts: a run cut short by Duration or
	// Ctrl-C leaves the simulator's later readings unsent.
	return &Summary{
		ReadingsProduced: sent, DuplicatesInjected: c.Duplicates, InvalidInjected: c.SentMalformed,
		DuplicatesDropped: int64(r.metric("smaint_dedupe_duplicates_total", nil)),
		DLQ:               c.DeadLetters, Clean: c.Clean,
		Conflicts: int64(r.metric("smaint_records_dlq_total", map[string]string{"kind": pipeline.KindConflict})), DuplicatesPassed: c.DuplicatesPassed, Lost: c.Lost,
		ReadingsPerSec: float64(sent) / sendSecs, SendSeconds: sendSecs, TotalSeconds: totalSecs, Drained: drained,
		LateInjected: st.Late, OutOfOrderInjected: st.OutOfOrder,
		LateReadings:   int64(r.metric("smaint_features_late_total", nil)),
		FeatureWindows: int64(r.metric("smaint_features_windows_total", nil)),
		EventMinutes:   reached.Sub(started).Minutes(),
		Storage:        r.cfg.Storage,
		Models:         ModelLoop{Store: r.cfg.Models, Decisions: r.loop.list()},
		Evaluation:     r.check.Evaluate(r.sim.Truth(), reached),
		started:        time.Now().Add(-time.Duration(totalSecs * float64(time.Second))),
		plantStart:     started,
	}
}

// Print writes the summary for people.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nsummary (%.0f minutes of plant time)\n", s.EventMinutes)
	fmt.Fprintf(w, "  readings produced   %10d  (%.0f/s over %.1fs)\n", s.ReadingsProduced, s.ReadingsPerSec, s.SendSeconds)
	fmt.Fprintf(w, "  duplicates          %10d injected, %d dropped, %d passed\n", s.DuplicatesInjected, s.DuplicatesDropped, s.DuplicatesPassed)
	fmt.Fprintf(w, "  invalid             %10d injected, %d dead-lettered\n", s.InvalidInjected, s.DLQ-s.Conflicts)
	if s.Conflicts > 0 {
		fmt.Fprintf(w, "  conflicts           %10d readings for a sensor and time an earlier run stored under another reading id: dead-lettered (kind conflict), the stored ones kept\n", s.Conflicts)
	}
	fmt.Fprintf(w, "  clean               %10d   lost %d\n", s.Clean, s.Lost)
	fmt.Fprintf(w, "  feature windows     %10d   late readings %d (injected late %d)\n", s.FeatureWindows, s.LateReadings, s.LateInjected)
	s.Evaluation.Print(w)
	s.Models.print(w, s.started, s.plantStart)
	s.Storage.print(w)
	if !s.Drained {
		fmt.Fprintf(w, "  (the pipeline had not finished all input when the demo stopped)\n")
	}
}

// Storage is the database a run's sinks write to, and what they stored.
type Storage struct {
	Enabled  bool             `json:"enabled"`
	Why      string           `json:"why,omitempty"` // why it is off
	Database string           `json:"database,omitempty"`
	Mode     string           `json:"mode,omitempty"`
	Rows     map[string]int64 `json:"rows_written,omitempty"` // by table, this run
	// Existing counts, by table, the rows this run found already stored
	// (by an earlier run over the same sensors and times) and left alone.
	Existing map[string]int64 `json:"rows_already_stored,omitempty"`
}

func (s Storage) header(w io.Writer) {
	if !s.Enabled {
		fmt.Fprintf(w, "  database  off (%s)\n", s.Why)
		return
	}
	fmt.Fprintf(w, "  database  %s (%s)\n", s.Database, s.Mode)
}

// stored fills in the rows the sinks wrote, from their metrics.
func (s *Storage) stored(metric func(string, map[string]string) float64) {
	if !s.Enabled {
		return
	}
	s.Rows, s.Existing = map[string]int64{}, map[string]int64{}
	for _, t := range []string{"sensor_readings", "sensor_features", "anomaly_scores", "drift_reports", "alert_events", "retrain_events"} {
		s.Rows[t] = int64(metric("smaint_sink_rows_total", map[string]string{"table": t}))
		if n := int64(metric("smaint_sink_rows_existing_total", map[string]string{"table": t})); n > 0 {
			s.Existing[t] = n
		}
	}
}

func (s Storage) print(w io.Writer) {
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

// OpenStorage decides whether a run stores what the pipeline makes: with
// a database URL, the database must answer, and is migrated; without
// one, a server answering at the default address is used (and migrated);
// otherwise, or when off, storage is off and says why.
func OpenStorage(ctx context.Context, url string, off bool, log *slog.Logger) (Storage, error) {
	if off {
		return Storage{Why: "--no-database"}, nil
	}
	pool, err := timescale.Connect(ctx, url, "smaint-migrate")
	if err != nil && url == "" {
		log.Debug("no database", "err", err)
		return Storage{Why: "no database at " + timescale.Where(url) + "; set DATABASE_URL to use one"}, nil
	}
	if err != nil {
		return Storage{}, err
	}
	defer pool.Close()
	res, err := timescale.Migrate(ctx, pool, timescale.MigrateConfig{Logger: log})
	if err != nil {
		return Storage{}, fmt.Errorf("database %s: %w", timescale.Where(url), err)
	}
	return Storage{Enabled: true, Database: timescale.Where(url), Mode: res.Mode.Name()}, nil
}
