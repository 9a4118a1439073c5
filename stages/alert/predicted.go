package alert

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// PREDICTED alerts come from the forecast stage: one opens when PredictK
// forecasts of a sensor in a row foresee its limit crossed within their
// horizon, is updated as later forecasts move the crossing, turns
// CRITICAL once the level is beyond the limit, and resolves after Quiet
// forecasts in a row that foresee no crossing. It lives beside the
// sensor's other alerts: an ANOMALY alert opening on the same sensor
// (the failure arriving) does not close it.

// predictState is a sensor's run of forecasts.
type predictState struct {
	last       time.Time // issued_at of the last forecast applied
	run        int       // crossing forecasts in a row, while no PREDICTED alert is open
	first      time.Time // issued_at of the run's first
	from       pipeline.TopicPartition
	fromOffset int64
}

// forecast applies one forecast.
func (s *Stage) forecast(f *schemas.Forecast, partition int32, tp pipeline.TopicPartition, off int64, em emitter) {
	sn := s.sensor(f.SensorID, f.AssetID, f.SensorType, partition)
	ps := &sn.predict
	if !ps.last.IsZero() && !f.IssuedAt.After(ps.last) {
		s.met.stale.Inc() // a forecast already applied, sent again upstream
		return
	}
	ps.last = f.IssuedAt
	o := sn.hops.Overlap()
	a := sn.predicted
	switch {
	case !f.Predicts():
		ps.run = 0
		if a != nil {
			if a.quiet++; a.quiet >= s.cfg.Quiet*o {
				s.resolve(a, f.IssuedAt, em)
				sn.predicted = nil
			}
		}
	case a != nil:
		a.quiet = 0
		a.Occurrences++
		a.LastSeen = f.IssuedAt
		a.Evidence = forecastEvidence(f)
		s.update(a, 0, em)
	default:
		if ps.run == 0 {
			ps.first, ps.from, ps.fromOffset = f.IssuedAt, tp, off
		}
		if ps.run++; ps.run < s.cfg.PredictK*o {
			return
		}
		a = s.open(sn, schemas.KindPredicted, f.IssuedAt, ps.from, ps.fromOffset)
		a.Onset = ps.first
		a.Occurrences = int64(ps.run)
		ps.run = 0
		dev := float64(SymptomDeviation)
		if f.LimitDirection == "below" {
			dev = -dev
		}
		// The forecast feature is the driver, in the limit's direction,
		// so the action rules for that feature and direction apply.
		a.shares, a.deviations = map[string]float64{f.Feature: 1}, map[string]float64{f.Feature: dev}
		a.Evidence = forecastEvidence(f)
		a.Severity = s.severity(a)
		a.Summary, a.RecommendedAction = s.describe(a, 0)
		sn.predicted = a
		s.met.opened.WithLabelValues(a.Kind.String()).Inc()
		em.send(a, true)
	}
}

// forecastEvidence is what a PREDICTED alert carries of its latest
// forecast. Crossing times beyond the horizon are -1.
func forecastEvidence(f *schemas.Forecast) map[string]float64 {
	below := 0.0
	if f.LimitDirection == "below" {
		below = 1
	}
	return map[string]float64{
		"limit": f.Limit, "limit_below": below, "observed": f.Observed, "level": f.Level, "trend_per_hour": f.TrendPerHour,
		"forecast": f.Value, "forecast_lower": f.Lower, "forecast_upper": f.Upper, "horizon_s": f.HorizonS,
		"crosses_in_s": f.CrossesInS, "crosses_earliest_s": f.CrossesEarliestS, "crosses_latest_s": f.CrossesLatestS,
	}
}

// predictedSeverity: CRITICAL once the level is beyond the limit,
// WARNING before.
func predictedSeverity(a *openAlert) schemas.Severity {
	if a.Evidence["crosses_in_s"] == 0 {
		return schemas.SeverityCritical
	}
	return schemas.SeverityWarning
}

// describePredicted writes a PREDICTED alert's summary, and prefixes its
// action with the time it is due by.
func describePredicted(a *openAlert, what, action string) (string, string) {
	ev := a.Evidence
	feature := "value"
	for f := range a.shares {
		feature = f
	}
	side, trend := "above", "rising"
	if ev["limit_below"] == 1 {
		side = "below"
	}
	if ev["trend_per_hour"] < 0 {
		trend = "falling"
	}
	now := fmt.Sprintf("now %.4g, %s %.3g per hour", ev["level"], trend, math.Abs(ev["trend_per_hour"]))
	switch {
	case ev["trend_per_hour"] != 0:
	case ev["forecast"] == ev["level"]: // a level with no trend, or a step that has settled
		now = fmt.Sprintf("now %.4g, holding there", ev["level"])
	default: // no trend, but the path follows the sensor's cycle
		now = fmt.Sprintf("now %.4g, following its cycle", ev["level"])
	}
	in := ev["crosses_in_s"]
	if in == 0 { // the window itself is beyond: what it saw first, the smoothed level may not be yet
		return fmt.Sprintf("The %s of %s is %s its limit of %.4g: %.4g in the last window (smoothed %s).", feature, what, side, ev["limit"], ev["observed"], strings.TrimPrefix(now, "now ")),
			"Act now: " + action
	}
	latest := "beyond the horizon"
	if l := ev["crosses_latest_s"]; l >= 0 {
		latest = roughly(l)
	}
	due := a.LastSeen.Add(time.Duration(in * float64(time.Second))).UTC().Format(time.RFC3339)
	return fmt.Sprintf("The %s of %s will go %s its limit of %.4g in about %s (80%% interval %s to %s); %s.",
		feature, what, side, ev["limit"], roughly(in), roughly(math.Max(ev["crosses_earliest_s"], 0)), latest, now), "Before " + due + ": " + action
}

// roughly writes a span of seconds to two significant units.
func roughly(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
