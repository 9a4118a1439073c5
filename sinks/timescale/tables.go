package timescale

import (
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Table maps one record type to its table: the columns, in order, and how
// a record becomes a row of them. Row returns pipeline.ErrInvalid (wrapped)
// for a record that cannot be stored; the sink dead-letters it.
type Table[T any] struct {
	Name    string
	Columns []string
	Key     []string // the primary key: a replayed record conflicts on it
	// Identity, if set, is the column that tells a record from another
	// with the same Key (reading_id): a record whose key is stored under
	// another identity is not a replay but a conflict, and the sink
	// dead-letters it (kind conflict) rather than drop it as existing.
	Identity string
	Time     string // the time column export and retention filter on
	Row      func(v *T, dst []any) ([]any, error)
	// hourly marks the table that feeds the plain-PostgreSQL hourly
	// rollup; its rows have sensor_id, ts and value columns.
	hourly bool
}

// Readings is the table of clean sensor readings.
var Readings = Table[schemas.SensorReading]{
	Name:     "sensor_readings",
	Columns:  []string{"ts", "sensor_id", "asset_id", "sensor_type", "value", "unit", "quality", "reading_id", "tags"},
	Key:      []string{"sensor_id", "ts"},
	Identity: "reading_id",
	Time:     "ts",
	Row: func(r *schemas.SensorReading, dst []any) ([]any, error) {
		id, err := parseUUID(r.ReadingID)
		if err != nil {
			return dst, err
		}
		var tags any
		if len(r.Tags) > 0 {
			tags = r.Tags
		}
		return append(dst, r.TS, r.SensorID, r.AssetID, r.SensorType, r.Value, r.Unit, int16(r.Quality), id, tags), nil
	},
	hourly: true,
}

// Features is the table of feature vectors.
var Features = Table[schemas.FeatureVector]{
	Name: "sensor_features",
	Columns: []string{"sensor_id", "asset_id", "sensor_type", "window_start", "window_end", "count", "mean", "std", "min", "max",
		"rms", "skewness", "kurtosis", "crest_factor", "peak_to_peak", "slope", "band_energies", "late_count"},
	Key:  []string{"sensor_id", "window_start", "window_end"},
	Time: "window_start",
	Row: func(f *schemas.FeatureVector, dst []any) ([]any, error) {
		var bands any
		if len(f.BandEnergies) > 0 {
			bands = f.BandEnergies
		}
		return append(dst, f.SensorID, f.AssetID, f.SensorType, f.WindowStart, f.WindowEnd, f.Count, f.Mean, f.Std, f.Min, f.Max,
			f.RMS, f.Skewness, f.Kurtosis, f.CrestFactor, f.PeakToPeak, f.Slope, bands, f.LateCount), nil
	},
}

// Scores is the table of anomaly scores.
var Scores = Table[schemas.AnomalyScore]{
	Name: "anomaly_scores",
	Columns: []string{"sensor_id", "asset_id", "sensor_type", "window_start", "window_end", "score", "threshold", "is_anomaly",
		"detector", "model_version", "contributions", "deviations"},
	Key:  []string{"sensor_id", "window_start", "window_end"},
	Time: "window_start",
	Row: func(s *schemas.AnomalyScore, dst []any) ([]any, error) {
		return append(dst, s.SensorID, s.AssetID, s.SensorType, s.WindowStart, s.WindowEnd, s.Score, s.Threshold, s.IsAnomaly,
			s.Detector, s.ModelVersion, jsonMap(s.Contributions), jsonMap(s.Deviations)), nil
	},
}

// Drift is the table of drift reports.
var Drift = Table[schemas.DriftReport]{
	Name: "drift_reports",
	Columns: []string{"sensor_type", "sensor_id", "asset_id", "reference_start", "reference_end", "current_start", "current_end",
		"reference_count", "current_count", "ks_statistic", "ks_p_value", "psi", "drifted", "method"},
	Key:  []string{"sensor_type", "sensor_id", "current_start"},
	Time: "current_start",
	Row: func(d *schemas.DriftReport, dst []any) ([]any, error) {
		return append(dst, d.SensorType, d.SensorID, d.AssetID, d.ReferenceStart, d.ReferenceEnd, d.CurrentStart, d.CurrentEnd,
			d.ReferenceCount, d.CurrentCount, d.KSStatistic, d.KSPValue, d.PSI, d.Drifted, d.Method), nil
	},
}

// Forecasts is the table of forecasts. A forecast without a limit stores
// NULL for limit_direction and limit.
var Forecasts = Table[schemas.Forecast]{
	Name: "sensor_forecasts",
	Columns: []string{"sensor_id", "asset_id", "sensor_type", "feature", "issued_at", "horizon_s", "observed", "level", "trend_per_hour",
		"value", "lower", "upper", "limit_direction", "limit_value", "crosses_in_s", "crosses_earliest_s", "crosses_latest_s", "model"},
	Key:  []string{"sensor_id", "issued_at"},
	Time: "issued_at",
	Row: func(f *schemas.Forecast, dst []any) ([]any, error) {
		var dir, limit any
		if f.LimitDirection != "" {
			dir, limit = f.LimitDirection, f.Limit
		}
		return append(dst, f.SensorID, f.AssetID, f.SensorType, f.Feature, f.IssuedAt, f.HorizonS, f.Observed, f.Level, f.TrendPerHour,
			f.Value, f.Lower, f.Upper, dir, limit, nullSeconds(f.CrossesInS), nullSeconds(f.CrossesEarliestS), nullSeconds(f.CrossesLatestS), f.Model), nil
	},
}

// Predictions is the table of the predict stage's records; a classifier's
// remaining life (-1) stores NULL, and a remaining life's probabilities
// {}.
var Predictions = Table[schemas.Prediction]{
	Name: "asset_predictions",
	Columns: []string{"asset_id", "model", "window_start", "window_end", "model_version", "probabilities", "threshold", "inputs", "drivers",
		"remaining_life", "remaining_lower", "remaining_upper"},
	Key:  []string{"asset_id", "model", "window_start"},
	Time: "window_start",
	Row: func(p *schemas.Prediction, dst []any) ([]any, error) {
		return append(dst, p.AssetID, p.Model, p.WindowStart, p.WindowEnd, p.ModelVersion, jsonObject(p.Probabilities), p.Threshold,
			jsonObject(p.Inputs), jsonObject(p.Drivers), nullSeconds(p.RemainingLife), nullSeconds(p.RemainingLower), nullSeconds(p.RemainingUpper)), nil
	},
}

// Maintenance is the table of work recorded on assets. A record is known
// by its asset, time and action: one sent again with those is a replay,
// and stored once (correct a record by recording the work at its right
// time or under another action).
var Maintenance = Table[schemas.Maintenance]{
	Name:    "asset_maintenance",
	Columns: []string{"asset_id", "performed_at", "action", "renews", "note"},
	Key:     []string{"asset_id", "performed_at", "action"},
	Time:    "performed_at",
	Row: func(m *schemas.Maintenance, dst []any) ([]any, error) {
		return append(dst, m.AssetID, m.PerformedAt, m.Action, m.Renews, m.Note), nil
	},
}

// nullSeconds is a crossing time, NULL for "not within the horizon" (or
// a remaining life, NULL for "not a remaining-life model").
func nullSeconds(s float64) any {
	if s < 0 {
		return nil
	}
	return s
}

// Alerts is the table of alert records, every state of every alert.
var Alerts = Table[schemas.Alert]{
	Name: "alert_events",
	Columns: []string{"alert_id", "state", "last_seen", "occurrences", "asset_id", "sensor_id", "sensor_type", "kind", "severity",
		"opened_at", "summary", "recommended_action", "evidence", "onset"},
	Key:  []string{"alert_id", "last_seen", "state", "occurrences"},
	Time: "last_seen",
	Row: func(a *schemas.Alert, dst []any) ([]any, error) {
		return append(dst, a.AlertID, a.State.String(), a.LastSeen, a.Occurrences, a.AssetID, a.SensorID, a.SensorType,
			a.Kind.String(), a.Severity.String(), a.OpenedAt, a.Summary, a.RecommendedAction, jsonMap(a.Evidence), nullTime(a.Onset)), nil
	},
}

// Retrain is the table of retrain requests.
var Retrain = Table[schemas.RetrainEvent]{
	Name: "retrain_events",
	Columns: []string{"event_id", "model_name", "scope", "reason", "sensor_id", "ks_statistic", "ks_p_value", "psi",
		"requested_at"},
	Key:  []string{"event_id"},
	Time: "requested_at",
	Row: func(e *schemas.RetrainEvent, dst []any) ([]any, error) {
		return append(dst, e.EventID, e.ModelName, e.Scope, e.Reason, e.SensorID, e.KSStatistic, e.KSPValue, e.PSI,
			e.RequestedAt), nil
	},
}

// jsonObject is m for a JSON column that is never NULL: {} when empty (a
// remaining life has no probabilities).
func jsonObject[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// jsonMap is nil (SQL NULL) for an empty map, so that empty and absent
// read back alike.
func jsonMap[V any](m map[string]V) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// parseUUID reads the canonical 36-character form.
func parseUUID(s string) ([16]byte, error) {
	u, ok := schemas.ParseUUID(s)
	if !ok {
		return u, fmt.Errorf("%w: reading_id %q is not a UUID", pipeline.ErrInvalid, s)
	}
	return u, nil
}

// nullTime is nil (SQL NULL) for the zero time: a record written before
// the field existed.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
