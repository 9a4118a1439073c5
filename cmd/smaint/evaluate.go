package main

import (
	"fmt"
	"io"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// detectionGrace is how long after an incident ends an alert on its
// sensor still counts as detecting it.
const detectionGrace = 5 * time.Minute

// evaluation scores what the pipeline raised against what the simulator
// injected.
type evaluation struct {
	AlertsOpened      int      `json:"alerts_opened"`  // distinct alerts, every kind
	AnomalyAlerts     int      `json:"anomaly_alerts"` // of which ANOMALY at some point
	TruePositives     int      `json:"anomaly_alerts_matching"`
	IncidentsInjected int      `json:"incidents_injected"`
	IncidentsDetected int      `json:"incidents_detected"`
	Precision         *float64 `json:"precision"` // of anomaly alerts; null when none opened
	Recall            *float64 `json:"recall"`    // of incidents; null when none injected
	MeanDelaySeconds  float64  `json:"mean_detection_delay_s"`
	MaxDelaySeconds   float64  `json:"max_detection_delay_s"`
	DriftInjected     int      `json:"drift_injected"`
	DriftDetected     int      `json:"drift_detected"`
	RetrainEvents     int64    `json:"retrain_events"`
	incidents         []incidentResult
}

type incidentResult struct {
	fault    simulate.Fault
	detected bool
	delay    time.Duration
}

// evaluate matches alerts to incidents and drift reports to drifts. An
// alert that turned ANOMALY matches an incident on its sensor that had
// started when it did and had ended at most detectionGrace before; the
// detection delay runs from the incident's start to then. Recall counts
// the incidents the simulation played out whole, and the drifts it ramped
// up fully, before the run ended; an alert matching an incident cut short
// is still a true positive.
func evaluate(faults []simulate.Fault, reached time.Time, alerts []alertSeen, drifted []schemas.DriftReport, retrain int64) evaluation {
	ev := evaluation{AlertsOpened: len(alerts), RetrainEvents: retrain}
	var incidents, begun []simulate.Fault
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
			if f.Full.After(reached) {
				continue
			}
			ev.DriftInjected++
			for _, r := range drifted {
				if r.SensorID == f.SensorID && !r.CurrentEnd.Before(f.Start) {
					ev.DriftDetected++
					break
				}
			}
		}
	}
	ev.IncidentsInjected = len(incidents)
	matches := func(a alertSeen, f simulate.Fault) bool {
		return !a.anomalyAt.IsZero() && a.first.SensorID == f.SensorID &&
			!a.anomalyAt.Before(f.Start) && !a.anomalyAt.After(f.End.Add(detectionGrace))
	}
	for _, a := range alerts {
		if a.anomalyAt.IsZero() {
			continue
		}
		ev.AnomalyAlerts++
		for _, f := range begun {
			if matches(a, f) {
				ev.TruePositives++
				break
			}
		}
	}
	var total time.Duration
	for _, f := range incidents {
		res := incidentResult{fault: f}
		for _, a := range alerts {
			if matches(a, f) && (!res.detected || a.anomalyAt.Sub(f.Start) < res.delay) {
				res.detected, res.delay = true, a.anomalyAt.Sub(f.Start)
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

// print writes the evaluation as lines of the demo's and the backtest's
// summaries.
func (ev evaluation) print(w io.Writer) {
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
	fmt.Fprintf(w, "  drift               %10d injected, %d detected; %d retrain events\n", ev.DriftInjected, ev.DriftDetected, ev.RetrainEvents)
}

func ratio(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *p)
}
