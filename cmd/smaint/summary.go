package main

import (
	"fmt"
	"io"
	"time"

	"github.com/smaint/smaint/stages/simulate"
)

// summary is the demo's final report. Its JSON form is the last line of
// "smaint demo --json".
type summary struct {
	ReadingsProduced   int64   `json:"readings_produced"`   // records sent to sensor.readings
	DuplicatesInjected int64   `json:"duplicates_injected"` // of which copies of a reading already sent
	InvalidInjected    int64   `json:"invalid_injected"`    // of which malformed or invalid
	DuplicatesDropped  int64   `json:"duplicates_dropped"`  // by the dedupe stage
	DLQ                int64   `json:"dlq"`                 // records on sensor.dlq
	Clean              int64   `json:"clean"`               // records on sensor.readings.clean
	DuplicatesPassed   int64   `json:"duplicates_passed"`   // clean records that repeat one already there
	Lost               int64   `json:"lost"`                // valid readings sent that never reached the clean topic
	ReadingsPerSec     float64 `json:"readings_per_sec"`    // readings_produced / seconds spent sending
	SendSeconds        float64 `json:"send_seconds"`
	TotalSeconds       float64 `json:"total_seconds"`
	Drained            bool    `json:"drained"` // the pipeline finished all input before the summary
	LateInjected       int64   `json:"late_injected"`
	OutOfOrderInjected int64   `json:"out_of_order_injected"`
	LateReadings       int64   `json:"late_readings"` // readings the features stage found too late for their window
	FeatureWindows     int64   `json:"feature_windows"`
	EventMinutes       float64 `json:"event_minutes"` // simulated event time covered
	Storage            storage `json:"storage"`
	evaluation
}

func summarize(d *deps, v *verifier, st simulate.Stats, faults []simulate.Fault, reached, started time.Time, sent int64, sendSecs, totalSecs float64, drained bool) summary {
	opened, drifted := v.results()
	// Only what was actually sent counts: a run cut short by --duration or
	// Ctrl-C leaves the simulator's later readings unsent.
	return summary{
		ReadingsProduced:   sent,
		DuplicatesInjected: v.duplicatesSent(),
		InvalidInjected:    v.sentMalformed.Load(),
		DuplicatesDropped:  int64(metricSum(d.reg, "smaint_dedupe_duplicates_total", nil)),
		DLQ:                v.dlqN.Load(),
		Clean:              v.cleanN.Load(),
		DuplicatesPassed:   v.cleanN.Load() - v.distinct.Load() - v.foreign.Load(),
		Lost:               v.lost(),
		ReadingsPerSec:     float64(sent) / sendSecs,
		SendSeconds:        sendSecs,
		TotalSeconds:       totalSecs,
		Drained:            drained,
		LateInjected:       st.Late,
		OutOfOrderInjected: st.OutOfOrder,
		LateReadings:       int64(metricSum(d.reg, "smaint_features_late_total", nil)),
		FeatureWindows:     int64(metricSum(d.reg, "smaint_features_windows_total", nil)),
		EventMinutes:       reached.Sub(started).Minutes(),
		evaluation:         evaluate(faults, reached, opened, drifted, v.retrainN.Load()),
	}
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "\nsummary (%.0f minutes of plant time)\n", s.EventMinutes)
	fmt.Fprintf(w, "  readings produced   %10d  (%.0f/s over %.1fs)\n", s.ReadingsProduced, s.ReadingsPerSec, s.SendSeconds)
	fmt.Fprintf(w, "  duplicates          %10d injected, %d dropped, %d passed\n", s.DuplicatesInjected, s.DuplicatesDropped, s.DuplicatesPassed)
	fmt.Fprintf(w, "  invalid             %10d injected, %d dead-lettered\n", s.InvalidInjected, s.DLQ)
	fmt.Fprintf(w, "  clean               %10d   lost %d\n", s.Clean, s.Lost)
	fmt.Fprintf(w, "  feature windows     %10d   late readings %d (injected late %d)\n", s.FeatureWindows, s.LateReadings, s.LateInjected)
	s.evaluation.print(w)
	s.Storage.print(w)
	if !s.Drained {
		fmt.Fprintf(w, "  (the pipeline had not finished all input when the demo stopped)\n")
	}
}
