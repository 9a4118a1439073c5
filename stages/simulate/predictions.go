package simulate

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/smaint/smaint/schemas"
)

// Predictions scores PREDICTED alerts against the incidents: how many
// degradations were foreseen before their ANOMALY alert, how far ahead,
// and how close the predicted crossing of the limit came to the real one.
type Predictions struct {
	Alerts   int `json:"predicted_alerts"`
	Matching int `json:"predicted_alerts_matching"` // on an incident's sensor while it lasted (or DetectionGrace after)
	// Degradations played out whole, and those with a PREDICTED alert
	// opened before their first ANOMALY alert (or with one and none).
	Degradations int `json:"degradations"`
	Ahead        int `json:"degradations_predicted_ahead"`
	// MeanLeadSeconds is, over those foreseen, the mean event time from
	// the PREDICTED alert to the ANOMALY alert (to the incident's end
	// when no ANOMALY alert came).
	MeanLeadSeconds float64 `json:"mean_prediction_lead_s"`
	// MeanCrossingErrorSeconds is, over the foreseen degradations whose
	// feature did cross its limit, the mean of |predicted - actual|
	// crossing time, the prediction being the one the alert opened with.
	Crossed                  int     `json:"crossings_timed"`
	MeanCrossingErrorSeconds float64 `json:"mean_crossing_error_s"`
	items                    []predictionResult
}

type predictionResult struct {
	fault       Fault
	ahead       bool
	lead, error time.Duration
	crossed     bool
}

// Crossings are, by sensor, the issue times of its forecasts whose
// observed feature was beyond the sensor's limit, in order.
type Crossings map[string][]time.Time

// Add notes a forecast.
func (c Crossings) Add(f *schemas.Forecast) {
	if f.LimitDirection == "" {
		return
	}
	if beyond := f.Observed >= f.Limit == (f.LimitDirection == "above"); beyond {
		c[f.SensorID] = append(c[f.SensorID], f.IssuedAt)
	}
}

// evaluatePredictions scores alerts' PREDICTED ones against incidents
// (those played out whole by reached count as degradations).
func evaluatePredictions(faults []Fault, reached time.Time, alerts []AlertSeen, crossed Crossings) Predictions {
	var p Predictions
	var predicted []AlertSeen
	for _, a := range alerts {
		if a.First.Kind != schemas.KindPredicted {
			continue
		}
		p.Alerts++
		predicted = append(predicted, a)
		if slices.ContainsFunc(faults, func(f Fault) bool {
			return f.Kind == "incident" && f.SensorID == a.First.SensorID && !a.First.OpenedAt.Before(f.Start) && !a.First.OpenedAt.After(f.End.Add(DetectionGrace))
		}) {
			p.Matching++
		}
	}
	var lead, errSum time.Duration
	for _, f := range faults {
		if f.Kind != "incident" || f.Type != "degradation" || f.End.After(reached) {
			continue
		}
		p.Degradations++
		res := predictionResult{fault: f}
		anomalyAt := f.End
		for _, a := range alerts {
			if a.matches(f) && a.AnomalyAt.Before(anomalyAt) {
				anomalyAt = a.AnomalyAt
			}
		}
		for _, a := range predicted {
			at := a.First.OpenedAt
			if a.First.SensorID != f.SensorID || at.Before(f.Start) || !at.Before(anomalyAt) {
				continue
			}
			res.ahead, res.lead = true, anomalyAt.Sub(at)
			if ts := crossed[f.SensorID]; len(ts) > 0 {
				if i, _ := slices.BinarySearchFunc(ts, f.Start, func(t, start time.Time) int { return t.Compare(start) }); i < len(ts) && !ts[i].After(f.End) {
					want := at.Add(time.Duration(a.First.Evidence["crosses_in_s"] * float64(time.Second)))
					res.crossed, res.error = true, time.Duration(math.Abs(float64(want.Sub(ts[i]))))
				}
			}
			break
		}
		if res.ahead {
			p.Ahead++
			lead += res.lead
		}
		if res.crossed {
			p.Crossed++
			errSum += res.error
		}
		p.items = append(p.items, res)
	}
	if p.Ahead > 0 {
		p.MeanLeadSeconds = lead.Seconds() / float64(p.Ahead)
	}
	if p.Crossed > 0 {
		p.MeanCrossingErrorSeconds = errSum.Seconds() / float64(p.Crossed)
	}
	return p
}

// Print writes the predictions as lines of a summary.
func (p Predictions) Print(w io.Writer) {
	fmt.Fprintf(w, "  predicted alerts    %10d   (%d matching an incident)\n", p.Alerts, p.Matching)
	fmt.Fprintf(w, "  degradations        %10d, %d predicted before their anomaly alert", p.Degradations, p.Ahead)
	if p.Ahead > 0 {
		fmt.Fprintf(w, ", mean %.0fs ahead", p.MeanLeadSeconds)
	}
	if p.Crossed > 0 {
		fmt.Fprintf(w, "; limit crossing predicted to within %.0fs on average (%d crossed)", p.MeanCrossingErrorSeconds, p.Crossed)
	}
	fmt.Fprintln(w)
	for _, r := range p.items {
		res := "not predicted ahead"
		if r.ahead {
			res = fmt.Sprintf("predicted %s ahead", r.lead.Round(time.Second))
			if r.crossed {
				res += fmt.Sprintf(", crossing time off by %s", r.error.Round(time.Second))
			}
		}
		fmt.Fprintf(w, "    %-12s %-26s %s\n", r.fault.Type, r.fault.SensorID, res)
	}
}
