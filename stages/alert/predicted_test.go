package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
)

// fc is a forecast of t1's temperature issued at the end of minute:
// crossing its limit of 75 in `in` seconds (-1: not within the horizon,
// 0: beyond it now).
func fc(minute int, in float64) alert.Event {
	level, observed := 70.0, 70.0
	if in == 0 {
		level, observed = 76, 76.5
	}
	return alert.Event{Forecast: &schemas.Forecast{SensorID: "t1", AssetID: "asset-1", SensorType: "temperature", Feature: "mean",
		IssuedAt: t0.Add(time.Duration(minute+1) * time.Minute), HorizonS: 1800, Observed: observed, Level: level, TrendPerHour: 12,
		Value: 76, Lower: 74, Upper: 78, LimitDirection: "above", Limit: 75, CrossesInS: in,
		CrossesEarliestS: max(in-60, -1), CrossesLatestS: latest(in), Model: "holt-damped"}}
}

// latest is the far end of the crossing's interval: beyond the horizon
// while the crossing is 25 minutes or more away.
func latest(in float64) float64 {
	if in < 0 || in >= 1500 {
		return -1
	}
	return in + 300
}

func TestPredictedAlertLifecycle(t *testing.T) {
	e := newEnv(t, func(c *alert.Config) { c.PredictK = 2 })
	var evs []alert.Event
	for m := range 5 {
		evs = append(evs, fc(m, -1))
	}
	evs = append(evs, fc(5, 1600), fc(6, 1450), fc(7, 1400)) // a crossing within the horizon twice in a row: opens
	for m := 8; m < 12; m++ {
		evs = append(evs, fc(m, float64(1300-100*(m-8))))
	}
	evs = append(evs, fc(12, 0), fc(13, 0)) // beyond: critical
	for m := 14; m < 20; m++ {
		evs = append(evs, fc(m, -1)) // five quiet forecasts resolve it
	}
	out := e.feed(t, evs...)
	if got, want := states(out), "PREDICTED/OPEN/WARNING PREDICTED/UPDATED/WARNING PREDICTED/UPDATED/CRITICAL PREDICTED/RESOLVED/CRITICAL"; got != want {
		t.Fatalf("alerts %s\nwant   %s", got, want)
	}
	open := out[0]
	if !open.OpenedAt.Equal(t0.Add(7*time.Minute)) || !open.Onset.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("opened %v with onset %v: want the second crossing forecast, and the first", open.OpenedAt, open.Onset)
	}
	if !strings.Contains(open.Summary, "above its limit of 75 in about 24m10s (80% interval 23m10s to 29m10s)") || !strings.HasPrefix(open.RecommendedAction, "Before 2026-11-25T10:31:10Z: Check cooling") {
		t.Errorf("summary %q\naction %q", open.Summary, open.RecommendedAction)
	}
	if open.Evidence["crosses_in_s"] != 1450 || open.Evidence["limit"] != 75 {
		t.Errorf("evidence %v", open.Evidence)
	}
	if !strings.Contains(out[2].Summary, "is above its limit of 75") || !strings.HasPrefix(out[2].RecommendedAction, "Act now") {
		t.Errorf("critical: %q %q", out[2].Summary, out[2].RecommendedAction)
	}
	if len(e.notified) != 3 { // open, the rise to critical, resolved
		t.Errorf("%d notifications, want 3", len(e.notified))
	}
}

// A sensor that stepped beyond its limit and stayed there is forecast
// with no trend: the alert says it holds there, not that it rises by 0
// (and gives the window's value first: the smoothed level lags it);
// one whose path has no trend but follows its cycle says so.
func TestPredictedAlertOfASettledSensor(t *testing.T) {
	e := newEnv(t, nil)
	ev := fc(0, 0)
	ev.Forecast.TrendPerHour, ev.Forecast.Value, ev.Forecast.Model = 0, 76, "settled-level"
	out := e.feed(t, ev)
	if len(out) != 1 || !strings.HasSuffix(out[0].Summary, "is above its limit of 75: 76.5 in the last window (smoothed 76, holding there).") {
		t.Fatalf("alerts %+v", out)
	}
	out = newEnv(t, nil).feed(t, fc(0, 0))
	if len(out) != 1 || !strings.HasSuffix(out[0].Summary, "is above its limit of 75: 76.5 in the last window (smoothed 76, rising 12 per hour).") {
		t.Fatalf("alerts %+v", out)
	}
	// No trend, but a path along the sensor's cycle that crosses.
	ev = fc(0, 600)
	ev.Forecast.TrendPerHour, ev.Forecast.Model = 0, "smoothed-level+cycle"
	out = newEnv(t, nil).feed(t, ev)
	if len(out) != 1 || !strings.HasSuffix(out[0].Summary, "in about 10m0s (80% interval 9m0s to 15m0s); now 70, following its cycle.") {
		t.Fatalf("alerts %+v", out)
	}
}

// One forecast of a crossing between others that foresee none is not
// enough with PredictK 2; with the default of 1 it is.
func TestPredictK(t *testing.T) {
	evs := []alert.Event{fc(0, -1), fc(1, 900), fc(2, -1), fc(3, 800), fc(4, -1)}
	if out := newEnv(t, func(c *alert.Config) { c.PredictK = 2 }).feed(t, evs...); len(out) != 0 {
		t.Errorf("k=2: %s", states(out))
	}
	if out := newEnv(t, nil).feed(t, evs...); states(out) != "PREDICTED/OPEN/WARNING" {
		t.Errorf("k=1: %s", states(out))
	}
}

// A restart in the middle of a PREDICTED alert rebuilds it from the
// forecasts retained, and sends the same records as a run without one.
func TestResumeRebuildsAPredictedAlert(t *testing.T) {
	var evs []alert.Event
	for m := range 30 {
		in := -1.0
		if m >= 10 && m < 20 {
			in = float64(1200 - 60*(m-10))
		}
		evs = append(evs, fc(m, in))
	}
	restartAfter(t, evs, 15, "sensor.forecasts", 10) // the alert's first forecast is at offset 10
}
