package simulate

import (
	"fmt"
	"io"
	"time"

	"github.com/smaint/smaint/schemas"
)

// DetectionGrace is how long after an incident ends an alert on its
// sensor still counts as detecting it.
const DetectionGrace = 5 * time.Minute

// Evaluation scores what a pipeline raised against what the simulator
// injected: the demo's summary and the backtest's with --truth.
type Evaluation struct {
	AlertsOpened      int         `json:"alerts_opened"`  // distinct alerts, every kind
	AnomalyAlerts     int         `json:"anomaly_alerts"` // of which ANOMALY at some point
	TruePositives     int         `json:"anomaly_alerts_matching"`
	IncidentsInjected int         `json:"incidents_injected"`
	IncidentsDetected int         `json:"incidents_detected"`
	Precision         *float64    `json:"precision"` // of anomaly alerts; null when none opened
	Recall            *float64    `json:"recall"`    // of incidents; null when none injected
	MeanDelaySeconds  float64     `json:"mean_detection_delay_s"`
	MaxDelaySeconds   float64     `json:"max_detection_delay_s"`
	DriftInjected     int         `json:"drift_injected"`
	DriftDetected     int         `json:"drift_detected"`
	RetrainEvents     int64       `json:"retrain_events"`
	Predictions       Predictions `json:"predictions"`
	incidents         []incidentResult
}

type incidentResult struct {
	fault    Fault
	detected bool
	delay    time.Duration
}

// Evaluate matches alerts to incidents and drift reports to drifts. An
// alert that turned ANOMALY matches an incident on its sensor that had
// started when it did and had ended at most DetectionGrace before; the
// detection delay runs from the incident's start to then. Recall counts
// the incidents the simulation played out whole, and the drifts it ramped
// up fully, by reached (the event time the run got to); an alert matching
// an incident cut short is still a true positive.
func Evaluate(faults []Fault, reached time.Time, alerts []AlertSeen, drifted []schemas.DriftReport, crossed Crossings, retrain int64) Evaluation {
	ev := Evaluation{AlertsOpened: len(alerts), RetrainEvents: retrain, Predictions: evaluatePredictions(faults, reached, alerts, crossed)}
	var incidents, begun []Fault
	for _, f := range faults {
		if f.Start.After(reached) {
			continue
		}
		switch f.Kind {
		case "incident":
			begun = append(begun, f)
			if !f.End.After(reached) {
				incidents = append(incidents, f)
			}
		case "drift":
			if !f.Full.After(reached) {
				ev.DriftInjected++
				if driftFound(f, drifted) {
					ev.DriftDetected++
				}
			}
		}
	}
	ev.IncidentsInjected = len(incidents)
	for _, a := range alerts {
		if a.AnomalyAt.IsZero() {
			continue
		}
		ev.AnomalyAlerts++
		for _, f := range begun {
			if a.matches(f) {
				ev.TruePositives++
				break
			}
		}
	}
	var total time.Duration
	for _, f := range incidents {
		res := incidentResult{fault: f}
		for _, a := range alerts {
			if a.matches(f) && (!res.detected || a.AnomalyAt.Sub(f.Start) < res.delay) {
				res.detected, res.delay = true, a.AnomalyAt.Sub(f.Start)
			}
		}
		if res.detected {
			ev.IncidentsDetected++
			total += res.delay
			ev.MaxDelaySeconds = max(ev.MaxDelaySeconds, res.delay.Seconds())
		}
		ev.incidents = append(ev.incidents, res)
	}
	if ev.IncidentsDetected > 0 {
		ev.MeanDelaySeconds = total.Seconds() / float64(ev.IncidentsDetected)
	}
	if ev.AnomalyAlerts > 0 {
		p := float64(ev.TruePositives) / float64(ev.AnomalyAlerts)
		ev.Precision = &p
	}
	if ev.IncidentsInjected > 0 {
		r := float64(ev.IncidentsDetected) / float64(ev.IncidentsInjected)
		ev.Recall = &r
	}
	return ev
}

// driftFound reports whether a drifted report of f's sensor covers a
// window that ended after f began.
func driftFound(f Fault, drifted []schemas.DriftReport) bool {
	for _, r := range drifted {
		if r.SensorID == f.SensorID && !r.CurrentEnd.Before(f.Start) {
			return true
		}
	}
	return false
}

// Print writes the evaluation as lines of a summary.
func (ev Evaluation) Print(w io.Writer) {
	fmt.Fprintf(w, "  alerts opened       %10d   (%d anomaly, %d matching an incident)\n", ev.AlertsOpened, ev.AnomalyAlerts, ev.TruePositives)
	fmt.Fprintf(w, "  incidents           %10d injected, %d detected; precision %s, recall %s\n",
		ev.IncidentsInjected, ev.IncidentsDetected, ratio(ev.Precision), ratio(ev.Recall))
	for _, r := range ev.incidents {
		res := "missed"
		if r.detected {
			res = fmt.Sprintf("detected after %s", r.delay.Round(time.Second))
		}
		fmt.Fprintf(w, "    %-12s %-26s %s\n", r.fault.Type, r.fault.SensorID, res)
	}
	if ev.IncidentsDetected > 0 {
		fmt.Fprintf(w, "  detection delay     mean %.0fs, max %.0fs (event time from onset to alert)\n", ev.MeanDelaySeconds, ev.MaxDelaySeconds)
	}
	ev.Predictions.Print(w)
	fmt.Fprintf(w, "  drift               %10d injected, %d detected; %d retrain events\n", ev.DriftInjected, ev.DriftDetected, ev.RetrainEvents)
}

func ratio(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *p)
}

// AlertSeen is one alert as its records told it: its first record, and
// when (event time) it was first of kind ANOMALY, if ever.
type AlertSeen struct {
	First     schemas.Alert
	AnomalyAt time.Time
	kind      schemas.AlertKind // of its latest record
}

// matches reports whether a, once ANOMALY, detected incident f.
func (a AlertSeen) matches(f Fault) bool {
	return !a.AnomalyAt.IsZero() && a.First.SensorID == f.SensorID &&
		!a.AnomalyAt.Before(f.Start) && !a.AnomalyAt.After(f.End.Add(DetectionGrace))
}

// AlertLog folds alert records, in the order the alert stage wrote them,
// into one AlertSeen per alert id. The zero value is ready to use; it is
// not safe for concurrent use.
type AlertLog struct {
	list []*AlertSeen          // by first appearance
	byID map[string]*AlertSeen // by alert id
}

// Add folds in one record and reports whether it changed the alert's kind.
func (l *AlertLog) Add(a schemas.Alert) (changedKind bool) {
	seen := l.byID[a.AlertID]
	if seen == nil {
		if l.byID == nil {
			l.byID = map[string]*AlertSeen{}
		}
		seen = &AlertSeen{First: a, kind: a.Kind}
		l.byID[a.AlertID] = seen
		l.list = append(l.list, seen)
	}
	if a.Kind == schemas.KindAnomaly && seen.AnomalyAt.IsZero() {
		seen.AnomalyAt = a.LastSeen
	}
	changedKind = a.Kind != seen.kind
	seen.kind = a.Kind
	return changedKind
}

// Seen returns a copy of the alerts folded so far, by first appearance.
func (l *AlertLog) Seen() []AlertSeen {
	out := make([]AlertSeen, len(l.list))
	for i, a := range l.list {
		out[i] = *a
	}
	return out
}
