package retrain

import (
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// incident is the span of one alert that says a sensor is not behaving
// normally (ANOMALY, THRESHOLD, PREDICTED): from its onset (or opening)
// to its last sighting, open-ended until it resolves. Where it was read
// is kept, so it is read again after a restart while it matters.
type incident struct {
	sensor   string
	from, to time.Time // to is zero while the alert is open
	at       pipeline.TopicPartition
	offset   int64 // of the first record of the alert that was read
}

// overlaps says whether the incident touches [from, to].
func (in *incident) overlaps(from, to time.Time) bool {
	return !in.from.After(to) && (in.to.IsZero() || !in.to.Before(from))
}

// incidentKind says whether alerts of kind k mark a sensor's windows as
// no example of normal. DRIFT is left out (a new normal is what the loop
// retrains for), and so is SENSOR_SILENT (a silent sensor has no windows).
func incidentKind(k schemas.AlertKind) bool {
	return k == schemas.KindAnomaly || k == schemas.KindThreshold || k == schemas.KindPredicted
}

// alert records a from maintenance.alerts, read at tp and off.
func (s *Stage) alert(a *schemas.Alert, tp pipeline.TopicPartition, off int64) {
	if !incidentKind(a.Kind) {
		return
	}
	in := s.incidents[a.AlertID]
	if in == nil {
		in = &incident{sensor: a.SensorID, from: a.OpenedAt, at: tp, offset: off}
		s.incidents[a.AlertID] = in
		s.met.incidents.Set(float64(len(s.incidents)))
	}
	if !a.Onset.IsZero() && a.Onset.Before(in.from) {
		in.from = a.Onset
	}
	if a.State == schemas.StateResolved {
		in.to = a.LastSeen
		if in.to.Before(in.from) {
			in.to = in.from
		}
	}
}

// inIncident returns the sensors with an incident that touches [from, to].
func (s *Stage) inIncident(from, to time.Time) map[string]bool {
	out := map[string]bool{}
	for _, in := range s.incidents {
		if in.overlaps(from, to) {
			out[in.sensor] = true
		}
	}
	return out
}

// forgetIncidents drops the resolved incidents that ended before every
// window a request could still collect: those before the oldest waiting
// request and the oldest recent window.
func (s *Stage) forgetIncidents() {
	var oldest time.Time
	older := func(t time.Time) {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	for _, r := range s.pending {
		older(r.ev.RequestedAt)
	}
	for _, ring := range s.recent {
		for i := range ring {
			older(ring[i].fv.WindowStart)
		}
	}
	for id, in := range s.incidents {
		if !in.to.IsZero() && (oldest.IsZero() || in.to.Before(oldest)) {
			delete(s.incidents, id)
		}
	}
	s.met.incidents.Set(float64(len(s.incidents)))
}
