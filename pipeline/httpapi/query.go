package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/smaint/smaint/schemas"
)

// windowView, scoreView and alertView are the records as the API shows
// them: the field names of their Avro schemas.
type windowView struct {
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	Count        int64     `json:"count"`
	Mean         float64   `json:"mean"`
	Std          float64   `json:"std"`
	Min          float64   `json:"min"`
	Max          float64   `json:"max"`
	RMS          float64   `json:"rms"`
	Skewness     float64   `json:"skewness"`
	Kurtosis     float64   `json:"kurtosis"`
	CrestFactor  float64   `json:"crest_factor"`
	PeakToPeak   float64   `json:"peak_to_peak"`
	Slope        float64   `json:"slope"`
	BandEnergies []float64 `json:"band_energies,omitempty"`
	LateCount    int64     `json:"late_count"`
}

type scoreView struct {
	WindowStart   time.Time          `json:"window_start"`
	WindowEnd     time.Time          `json:"window_end"`
	Score         float64            `json:"score"`
	Threshold     float64            `json:"threshold"`
	IsAnomaly     bool               `json:"is_anomaly"`
	Detector      string             `json:"detector"`
	ModelVersion  string             `json:"model_version,omitempty"`
	Contributions map[string]float64 `json:"contributions,omitempty"`
	Deviations    map[string]float64 `json:"deviations,omitempty"`
}

type alertView struct {
	AlertID           string             `json:"alert_id"`
	AssetID           string             `json:"asset_id"`
	SensorID          string             `json:"sensor_id"`
	SensorType        string             `json:"sensor_type"`
	Kind              schemas.AlertKind  `json:"kind"`
	Severity          schemas.Severity   `json:"severity"`
	State             schemas.AlertState `json:"state"`
	OpenedAt          time.Time          `json:"opened_at"`
	LastSeen          time.Time          `json:"last_seen"`
	Onset             *time.Time         `json:"onset,omitempty"`
	Occurrences       int64              `json:"occurrences"`
	Summary           string             `json:"summary"`
	RecommendedAction string             `json:"recommended_action"`
	Evidence          map[string]float64 `json:"evidence,omitempty"`
}

func viewAlerts(as []schemas.Alert) []alertView {
	out := make([]alertView, len(as))
	for i, a := range as {
		out[i] = alertView{AlertID: a.AlertID, AssetID: a.AssetID, SensorID: a.SensorID, SensorType: a.SensorType, Kind: a.Kind,
			Severity: a.Severity, State: a.State, OpenedAt: a.OpenedAt, LastSeen: a.LastSeen, Occurrences: a.Occurrences,
			Summary: a.Summary, RecommendedAction: a.RecommendedAction, Evidence: a.Evidence}
		if !a.Onset.IsZero() {
			out[i].Onset = &a.Onset
		}
	}
	return out
}

// forecastView is a forecast as the API shows it: crossing times that
// fall beyond the horizon, and a limit the sensor does not have, are
// left out.
type forecastView struct {
	Feature          string    `json:"feature"`
	IssuedAt         time.Time `json:"issued_at"`
	HorizonS         float64   `json:"horizon_s"`
	Observed         float64   `json:"observed"`
	Level            float64   `json:"level"`
	TrendPerHour     float64   `json:"trend_per_hour"`
	Value            float64   `json:"value"`
	Lower            float64   `json:"lower"`
	Upper            float64   `json:"upper"`
	LimitDirection   string    `json:"limit_direction,omitempty"`
	Limit            *float64  `json:"limit,omitempty"`
	CrossesInS       *float64  `json:"crosses_in_s,omitempty"`
	CrossesEarliestS *float64  `json:"crosses_earliest_s,omitempty"`
	CrossesLatestS   *float64  `json:"crosses_latest_s,omitempty"`
	Model            string    `json:"model"`
}

func viewForecast(f *schemas.Forecast) *forecastView {
	if f == nil {
		return nil
	}
	within := func(s float64) *float64 {
		if s < 0 {
			return nil
		}
		return &s
	}
	v := &forecastView{Feature: f.Feature, IssuedAt: f.IssuedAt, HorizonS: f.HorizonS, Observed: f.Observed, Level: f.Level,
		TrendPerHour: f.TrendPerHour, Value: f.Value, Lower: f.Lower, Upper: f.Upper, LimitDirection: f.LimitDirection,
		CrossesInS: within(f.CrossesInS), CrossesEarliestS: within(f.CrossesEarliestS), CrossesLatestS: within(f.CrossesLatestS), Model: f.Model}
	if f.LimitDirection != "" {
		v.Limit = &f.Limit
	}
	return v
}

// sensorView is the body of GET /v1/sensors/{id}.
type sensorView struct {
	SensorID   string        `json:"sensor_id"`
	AssetID    string        `json:"asset_id"`
	SensorType string        `json:"sensor_type"`
	Window     *windowView   `json:"last_window"`
	Score      *scoreView    `json:"last_score"`
	Forecast   *forecastView `json:"last_forecast"`
	OpenAlerts []alertView   `json:"open_alerts"`
}

// maxAlerts bounds the alerts one answer lists (and ?limit).
const maxAlerts = 1000

// getSensor answers what a sensor is doing: its last window, its last
// score, its last forecast and its open alerts; 404 when the database
// knows none of them.
func (a *API) getSensor(w http.ResponseWriter, r *request) {
	if a.cfg.State == nil {
		a.fail(w, r, http.StatusServiceUnavailable, "no_database", "this server has no database to answer from")
		return
	}
	id := r.PathValue("id")
	f, sc, err := a.cfg.State.LastWindow(r.Context(), id)
	var open []schemas.Alert
	var fc *schemas.Forecast
	if err == nil {
		fc, err = a.cfg.State.LastForecast(r.Context(), id)
	}
	if err == nil {
		open, err = a.cfg.State.Alerts(r.Context(), "open", id, "", maxAlerts)
	}
	if err != nil {
		a.stateFailed(w, r, err)
		return
	}
	if f == nil && sc == nil && fc == nil && len(open) == 0 {
		a.fail(w, r, http.StatusNotFound, "unknown_sensor", "no window, score, forecast or open alert is stored for sensor "+strconv.Quote(id))
		return
	}
	v := sensorView{SensorID: id, OpenAlerts: viewAlerts(open), Forecast: viewForecast(fc)}
	switch {
	case f != nil:
		v.AssetID, v.SensorType = f.AssetID, f.SensorType
	case sc != nil:
		v.AssetID, v.SensorType = sc.AssetID, sc.SensorType
	case fc != nil:
		v.AssetID, v.SensorType = fc.AssetID, fc.SensorType
	default:
		v.AssetID, v.SensorType = open[0].AssetID, open[0].SensorType
	}
	if f != nil {
		v.Window = &windowView{WindowStart: f.WindowStart, WindowEnd: f.WindowEnd, Count: f.Count, Mean: f.Mean, Std: f.Std, Min: f.Min,
			Max: f.Max, RMS: f.RMS, Skewness: f.Skewness, Kurtosis: f.Kurtosis, CrestFactor: f.CrestFactor, PeakToPeak: f.PeakToPeak,
			Slope: f.Slope, BandEnergies: f.BandEnergies, LateCount: f.LateCount}
	}
	if sc != nil {
		v.Score = &scoreView{WindowStart: sc.WindowStart, WindowEnd: sc.WindowEnd, Score: sc.Score, Threshold: sc.Threshold,
			IsAnomaly: sc.IsAnomaly, Detector: sc.Detector, ModelVersion: sc.ModelVersion, Contributions: sc.Contributions, Deviations: sc.Deviations}
	}
	reply(w, http.StatusOK, v)
}

// getAlerts lists alerts: ?state=open (the default), resolved or all;
// ?sensor_id= and ?asset_id= narrow them; ?limit= (default 100, at most
// 1000) bounds them, newest first.
func (a *API) getAlerts(w http.ResponseWriter, r *request) {
	if a.cfg.State == nil {
		a.fail(w, r, http.StatusServiceUnavailable, "no_database", "this server has no database to answer from")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "resolved", "all":
	default:
		a.fail(w, r, http.StatusBadRequest, "bad_parameter", "state "+strconv.Quote(state)+": want open, resolved or all")
		return
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAlerts {
			a.fail(w, r, http.StatusBadRequest, "bad_parameter", "limit "+strconv.Quote(s)+": want 1 to "+strconv.Itoa(maxAlerts))
			return
		}
		limit = n
	}
	as, err := a.cfg.State.Alerts(r.Context(), state, q.Get("sensor_id"), q.Get("asset_id"), limit)
	if err != nil {
		a.stateFailed(w, r, err)
		return
	}
	reply(w, http.StatusOK, struct {
		Alerts []alertView `json:"alerts"`
	}{viewAlerts(as)})
}

// stateFailed answers a request the database could not: 503, the cause
// logged but not shown (it may name tables and hosts).
func (a *API) stateFailed(w http.ResponseWriter, r *request, err error) {
	a.cfg.Logger.Warn("database query failed", "request_id", r.id, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	a.fail(w, r, http.StatusServiceUnavailable, "database_unavailable", "the database did not answer; try again")
}

// getHealth answers 200 when every component of the process is ready,
// else 503, naming each component and whether it is (without details,
// which /readyz on the operator port gives).
func (a *API) getHealth(w http.ResponseWriter, _ *request) {
	if a.cfg.Health == nil {
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	comps, ready := a.cfg.Health.Report()
	type comp struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}
	body := struct {
		Status     string `json:"status"`
		Components []comp `json:"components"`
	}{Status: "ok", Components: make([]comp, len(comps))}
	for i, c := range comps {
		body.Components[i] = comp{c.Component, c.Ready}
	}
	status := http.StatusOK
	if !ready {
		body.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	reply(w, status, body)
}
