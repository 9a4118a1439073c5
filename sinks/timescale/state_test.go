package timescale

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestState answers from stored rows: an alert's latest event decides
// its state, whatever order its events were stored in; filters and the
// limit apply to alerts, not events; a sensor's latest window and score
// are the newest stored.
func TestState(t *testing.T) {
	pool, _ := migrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	event := func(id, sensor, asset, state string, minute, occ int) {
		exec(`INSERT INTO alert_events (alert_id, state, last_seen, occurrences, asset_id, sensor_id, sensor_type, kind, severity,
			opened_at, summary, recommended_action, evidence) VALUES ($1, $2, $3, $4, $5, $6, 'pressure', 'ANOMALY', 'WARNING', $7, 's', 'a', '{"x": 1}')`,
			id, state, t0.Add(time.Duration(minute)*time.Minute), occ, asset, sensor, t0)
	}
	// a1 opened and resolved (stored in reverse); a2 open and updated; a3
	// open on another asset.
	event("a1", "s1", "asset-1", "RESOLVED", 10, 3)
	event("a1", "s1", "asset-1", "OPEN", 0, 1)
	event("a2", "s1", "asset-1", "OPEN", 5, 1)
	event("a2", "s1", "asset-1", "UPDATED", 20, 4)
	event("a3", "s2", "asset-2", "OPEN", 15, 1)
	st := State{Pool: pool}
	for _, c := range []struct {
		state, sensor, asset string
		limit                int
		want                 string
	}{
		{"open", "", "", 100, "a2/UPDATED a3/OPEN"},
		{"resolved", "", "", 100, "a1/RESOLVED"},
		{"all", "", "", 100, "a2/UPDATED a3/OPEN a1/RESOLVED"},
		{"all", "", "", 1, "a2/UPDATED"},
		{"open", "s1", "", 100, "a2/UPDATED"},
		{"all", "", "asset-2", 100, "a3/OPEN"},
		{"open", "nobody", "", 100, ""},
	} {
		as, err := st.Alerts(ctx, c.state, c.sensor, c.asset, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range as {
			got = append(got, a.AlertID+"/"+a.State.String())
			if a.Evidence["x"] != 1 || a.SensorType != "pressure" || !a.OpenedAt.Equal(t0) {
				t.Errorf("alert read as %+v", a)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Alerts(%q, %q, %q, %d) = %q, want %q", c.state, c.sensor, c.asset, c.limit, strings.Join(got, " "), c.want)
		}
	}
	if _, err := st.Alerts(ctx, "closed", "", "", 1); err == nil {
		t.Error("an unknown state was taken")
	}

	f, sc, err := st.LastWindow(ctx, "s1")
	if err != nil || f != nil || sc != nil {
		t.Fatalf("no windows stored: %v %v %v", f, sc, err)
	}
	if fc, err := st.LastForecast(ctx, "s1"); err != nil || fc != nil {
		t.Fatalf("no forecasts stored: %v %v", fc, err)
	}
	exec(`INSERT INTO sensor_forecasts (sensor_id, asset_id, sensor_type, feature, issued_at, horizon_s, observed, level, trend_per_hour,
		value, lower, upper, limit_direction, limit_value, crosses_in_s, crosses_earliest_s, crosses_latest_s, model)
		VALUES ('s1', 'asset-1', 'pressure', 'mean', $1, 1800, 1, 1, 0, 1, 0.5, 1.5, NULL, NULL, NULL, NULL, NULL, 'm'),
		       ('s1', 'asset-1', 'pressure', 'mean', $2, 1800, 2, 2, 3, 3.5, 3, 4, 'above', 3.2, 1500, 1000, NULL, 'm')`, t0, t0.Add(time.Minute))
	fc, err := st.LastForecast(ctx, "s1")
	if err != nil || fc == nil || fc.Observed != 2 || fc.LimitDirection != "above" || fc.Limit != 3.2 || fc.CrossesInS != 1500 || fc.CrossesLatestS != -1 {
		t.Fatalf("last forecast %+v, %v", fc, err)
	}
	for i := range 3 {
		start := t0.Add(time.Duration(i) * time.Minute)
		exec(`INSERT INTO sensor_features (sensor_id, asset_id, sensor_type, window_start, window_end, count, mean, std, min, max, rms,
			skewness, kurtosis, crest_factor, peak_to_peak, slope, band_energies, late_count)
			VALUES ('s1', 'asset-1', 'pressure', $1, $2, $3, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, NULL, 0)`, start, start.Add(time.Minute), 10+i)
	}
	exec(`INSERT INTO anomaly_scores (sensor_id, asset_id, sensor_type, window_start, window_end, score, threshold, is_anomaly, detector,
		model_version, contributions, deviations) VALUES ('s1', 'asset-1', 'pressure', $1, $2, 0.9, 0.5, true, 'robust', 'v1', '{"mean": 1}', NULL)`,
		t0, t0.Add(time.Minute))
	f, sc, err = st.LastWindow(ctx, "s1")
	if err != nil || f == nil || sc == nil {
		t.Fatalf("%v %v %v", f, sc, err)
	}
	if f.Count != 12 || !f.WindowStart.Equal(t0.Add(2*time.Minute)) || sc.Score != 0.9 || sc.Contributions["mean"] != 1 || sc.Deviations == nil {
		t.Fatalf("last window %+v, score %+v", f, sc)
	}
}
