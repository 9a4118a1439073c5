package timescale

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/schemas"
)

// State answers questions about the pipeline's current state from the
// stored tables: a sensor's last window and score, the alerts that are
// open. It is what the HTTP API reads. Its queries are bounded by ctx;
// State is safe for concurrent use. LastWindow is two index lookups;
// Alerts reads alerts_latest, one row per alert kept by a trigger on
// alert_events, by index. What State reads is what the sink stored, so
// it trails the topics by the sink's commit interval.
type State struct {
	Pool *pgxpool.Pool
}

// LastWindow returns the sensor's latest stored window and latest stored
// score; each is nil when the sensor has none.
func (s State) LastWindow(ctx context.Context, sensorID string) (*schemas.FeatureVector, *schemas.AnomalyScore, error) {
	f := new(schemas.FeatureVector)
	err := s.Pool.QueryRow(ctx, `SELECT sensor_id, asset_id, sensor_type, window_start, window_end, count, mean, std, min, max,
	       rms, skewness, kurtosis, crest_factor, peak_to_peak, slope, coalesce(band_energies, '{}'), late_count
	FROM sensor_features WHERE sensor_id = $1 ORDER BY window_start DESC, window_end DESC LIMIT 1`, sensorID).Scan(
		&f.SensorID, &f.AssetID, &f.SensorType, &f.WindowStart, &f.WindowEnd, &f.Count, &f.Mean, &f.Std, &f.Min, &f.Max,
		&f.RMS, &f.Skewness, &f.Kurtosis, &f.CrestFactor, &f.PeakToPeak, &f.Slope, &f.BandEnergies, &f.LateCount)
	if errors.Is(err, pgx.ErrNoRows) {
		f = nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("last window of %q: %w", sensorID, err)
	}
	sc := new(schemas.AnomalyScore)
	err = s.Pool.QueryRow(ctx, `SELECT sensor_id, asset_id, sensor_type, window_start, window_end, score, threshold, is_anomaly,
	       detector, model_version, coalesce(contributions, '{}'), coalesce(deviations, '{}')
	FROM anomaly_scores WHERE sensor_id = $1 ORDER BY window_start DESC, window_end DESC LIMIT 1`, sensorID).Scan(
		&sc.SensorID, &sc.AssetID, &sc.SensorType, &sc.WindowStart, &sc.WindowEnd, &sc.Score, &sc.Threshold, &sc.IsAnomaly,
		&sc.Detector, &sc.ModelVersion, &sc.Contributions, &sc.Deviations)
	if errors.Is(err, pgx.ErrNoRows) {
		sc = nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("last score of %q: %w", sensorID, err)
	}
	return f, sc, nil
}

// LastForecast returns the sensor's latest stored forecast, or nil.
func (s State) LastForecast(ctx context.Context, sensorID string) (*schemas.Forecast, error) {
	f := new(schemas.Forecast)
	var dir *string
	var limit, in, earliest, latest *float64
	err := s.Pool.QueryRow(ctx, `SELECT sensor_id, asset_id, sensor_type, feature, issued_at, horizon_s, observed, level, trend_per_hour,
	       value, lower, upper, limit_direction, limit_value, crosses_in_s, crosses_earliest_s, crosses_latest_s, model
	FROM sensor_forecasts WHERE sensor_id = $1 ORDER BY issued_at DESC LIMIT 1`, sensorID).Scan(
		&f.SensorID, &f.AssetID, &f.SensorType, &f.Feature, &f.IssuedAt, &f.HorizonS, &f.Observed, &f.Level, &f.TrendPerHour,
		&f.Value, &f.Lower, &f.Upper, &dir, &limit, &in, &earliest, &latest, &f.Model)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last forecast of %q: %w", sensorID, err)
	}
	if dir != nil && limit != nil {
		f.LimitDirection, f.Limit = *dir, *limit
	}
	seconds := func(v *float64) float64 { // NULL: not within the horizon
		if v == nil {
			return -1
		}
		return *v
	}
	f.CrossesInS, f.CrossesEarliestS, f.CrossesLatestS = seconds(in), seconds(earliest), seconds(latest)
	return f, nil
}

// Alerts returns each alert's latest event, newest first, at most limit
// of them: state "open" keeps the alerts not resolved, "resolved" the
// resolved ones, "" or "all" every one; sensorID and assetID, when not
// empty, keep that sensor's or asset's. An unknown state is an error.
func (s State) Alerts(ctx context.Context, state, sensorID, assetID string, limit int) ([]schemas.Alert, error) {
	var keep string
	switch state {
	case "open":
		keep = "state <> 'RESOLVED'"
	case "resolved":
		keep = "state = 'RESOLVED'"
	case "", "all":
		keep = "true"
	default:
		return nil, fmt.Errorf("alert state %q: want open, resolved or all", state)
	}
	// alerts_latest holds each alert's latest event (migration 0004).
	rows, err := s.Pool.Query(ctx, `SELECT alert_id, asset_id, sensor_id, sensor_type, kind, severity, state, opened_at, last_seen,
	       occurrences, summary, recommended_action, coalesce(evidence, '{}'), onset
	FROM alerts_latest
	WHERE `+keep+` AND ($1 = '' OR sensor_id = $1) AND ($2 = '' OR asset_id = $2)
	ORDER BY last_seen DESC, alert_id LIMIT $3`, sensorID, assetID, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	var out []schemas.Alert
	for rows.Next() {
		var (
			a                     schemas.Alert
			kind, severity, state string
			onset                 *time.Time // NULL in rows stored before onsets were
		)
		if err := rows.Scan(&a.AlertID, &a.AssetID, &a.SensorID, &a.SensorType, &kind, &severity, &state, &a.OpenedAt, &a.LastSeen,
			&a.Occurrences, &a.Summary, &a.RecommendedAction, &a.Evidence, &onset); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		if err := errors.Join(a.Kind.UnmarshalText([]byte(kind)), a.Severity.UnmarshalText([]byte(severity)), a.State.UnmarshalText([]byte(state))); err != nil {
			return nil, fmt.Errorf("alert %s: %w", a.AlertID, err)
		}
		if onset != nil {
			a.Onset = *onset
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
