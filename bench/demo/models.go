package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/smaint/smaint/schemas"
)

// ModelLoop is what the model loop did in a run: every decision on
// model.updates, in order.
type ModelLoop struct {
	Store     string          `json:"store,omitempty"` // the model store's URI ("": the loop did not run)
	Decisions []ModelDecision `json:"decisions"`
}

// ModelDecision is one record of model.updates as the demo saw it.
type ModelDecision struct {
	Model   string    `json:"model"`
	Version string    `json:"version,omitempty"`
	Action  string    `json:"action"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`         // when it was written (wall clock)
	Trained time.Time `json:"trained_to"` // the end of the windows it trained on (plant time)
	// FalseAlerts is the candidate's share of held-out windows flagged,
	// and Before the version's it was judged against (-1: none).
	FalseAlerts float64 `json:"false_alerts"`
	Before      float64 `json:"false_alerts_before"`
	// LeftOut are the windows of sensors in an incident it did not
	// train on, and Sensors how many sensors those were.
	LeftOut int `json:"incident_windows"`
	Sensors int `json:"incident_sensors"`
}

// models collects the decisions; observe's goroutine adds, the summary
// reads.
type models struct {
	mu   sync.Mutex
	seen []ModelDecision
}

func (m *models) add(u *schemas.ModelUpdated, at time.Time) {
	d := ModelDecision{Model: u.ModelName, Version: u.Version, Action: u.Action, Reason: u.Reason, At: at, Trained: u.TrainUntil,
		FalseAlerts: u.Metrics["far_candidate"], Before: -1, LeftOut: int(u.Metrics["incident_windows"]), Sensors: int(u.Metrics["incident_sensors"])}
	if v, ok := u.Metrics["far_current"]; ok {
		d.Before = v
	}
	m.mu.Lock()
	m.seen = append(m.seen, d)
	m.mu.Unlock()
}

func (m *models) list() []ModelDecision {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ModelDecision(nil), m.seen...)
}

// print writes the loop's part of the summary: per decision, the version
// scored before and after, and when the new one went live.
func (l ModelLoop) print(w io.Writer, started time.Time, plantStart time.Time) {
	if l.Store == "" {
		return
	}
	if len(l.Decisions) == 0 {
		fmt.Fprintf(w, "  model loop          no retrain decision (store %s)\n", l.Store)
		return
	}
	live := map[string]string{} // model -> version scoring it
	for _, d := range l.Decisions {
		before := live[d.Model]
		if before == "" {
			before = "the robust detector"
		}
		switch d.Action {
		case schemas.ModelPublished, schemas.ModelPromoted, schemas.ModelRolledBack:
			live[d.Model] = d.Model + "@" + d.Version
			fmt.Fprintf(w, "  model loop          %s %s: %s; scored by %s before, by %s from %.1fs into the run (trained on plant time to +%.0f min)\n",
				d.Model, d.Version, d.Action, before, live[d.Model], d.At.Sub(started).Seconds(), d.Trained.Sub(plantStart).Minutes())
			before := "no version before"
			if d.Before >= 0 {
				before = fmt.Sprintf("the version before %.1f%%", 100*d.Before)
			}
			cause, _, _ := strings.Cut(d.Reason, ":")
			fmt.Fprintf(w, "                      why: %s; it flags %.1f%% of the windows held out, %s\n", cause, 100*d.FalseAlerts, before)
			if d.LeftOut > 0 {
				fmt.Fprintf(w, "                      not trained on: %d windows of %d sensors in an incident\n", d.LeftOut, d.Sensors)
			}
		default:
			fmt.Fprintf(w, "  model loop          %s: %s: %s\n", d.Model, d.Action, clip(d.Reason, 160))
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "..."
}
