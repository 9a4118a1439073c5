package main

import (
	"time"

	"github.com/smaint/smaint/schemas"
)

// alertSeen is one alert as its records told it: its first record, and
// when (event time) it was first of kind ANOMALY, if ever.
type alertSeen struct {
	first     schemas.Alert
	anomalyAt time.Time
	kind      schemas.AlertKind // of its latest record
}

// alertLog folds alert records, in the order the alert stage wrote them,
// into one alertSeen per alert id. The zero value is ready to use.
type alertLog struct {
	list []*alertSeen          // by first appearance
	byID map[string]*alertSeen // by alert id
}

// add folds in one record and reports whether it changed the alert's kind.
func (l *alertLog) add(a schemas.Alert) (changedKind bool) {
	seen := l.byID[a.AlertID]
	if seen == nil {
		if l.byID == nil {
			l.byID = map[string]*alertSeen{}
		}
		seen = &alertSeen{first: a, kind: a.Kind}
		l.byID[a.AlertID] = seen
		l.list = append(l.list, seen)
	}
	if a.Kind == schemas.KindAnomaly && seen.anomalyAt.IsZero() {
		seen.anomalyAt = a.LastSeen
	}
	changedKind = a.Kind != seen.kind
	seen.kind = a.Kind
	return changedKind
}

// seen returns a copy of the alerts folded so far, by first appearance.
func (l *alertLog) seen() []alertSeen {
	out := make([]alertSeen, len(l.list))
	for i, a := range l.list {
		out[i] = *a
	}
	return out
}
