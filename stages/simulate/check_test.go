package simulate_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// TestCheckAccountsForEveryReading: each valid reading sent must arrive
// clean once; what arrives twice, not at all, or was never sent is told
// apart.
func TestCheckAccountsForEveryReading(t *testing.T) {
	sim, err := simulate.New(simulate.Config{Assets: 1, Scenarios: []string{simulate.Duplicates, simulate.Malformed}, DuplicateRate: 0.2, MalformedRate: 0.1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var c simulate.Check
	var valid []schemas.SensorReading
	firsts := map[string]bool{}
	for range 400 {
		ev, ok, err := sim.Next()
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		c.Expect(ev)
		if ev.Kind != simulate.KindMalformed && !firsts[ev.Reading.ReadingID] {
			firsts[ev.Reading.ReadingID] = true
			valid = append(valid, ev.Reading)
		}
	}
	got := c.Counts()
	if got.SentMalformed == 0 || got.Duplicates == 0 || got.SentValid != int64(len(valid))+got.Duplicates {
		t.Fatalf("sent: %+v for %d distinct valid readings", got, len(valid))
	}
	// All but the last two arrive, one of them twice, plus one reading
	// never sent and one record that does not decode.
	for i := range valid[:len(valid)-2] {
		c.Clean(&valid[i])
	}
	c.Clean(&valid[0])
	stranger := valid[1]
	stranger.ReadingID = "not-from-this-run"
	c.Clean(&stranger)
	c.Clean(nil)
	c.DeadLetter()
	got = c.Counts()
	if got.Lost != 2 || got.DuplicatesPassed != 1 || got.Clean != int64(len(valid)-2+3) || got.DeadLetters != 1 {
		t.Fatalf("after the pipeline: %+v", got)
	}
}

func TestEvaluateMatchesAlertsToIncidents(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	faults := []simulate.Fault{
		{Kind: "incident", Type: "level_shift", SensorID: "s1", Start: t0, Full: t0, End: t0.Add(10 * time.Minute)},
		{Kind: "incident", Type: "degradation", SensorID: "s2", Start: t0, Full: t0, End: t0.Add(10 * time.Minute)},
		{Kind: "incident", Type: "level_shift", SensorID: "s3", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}, // after the run
		{Kind: "drift", Type: "drift", SensorID: "s4", Start: t0, Full: t0.Add(5 * time.Minute)},
	}
	var log simulate.AlertLog
	alert := func(id, sensor string, kind schemas.AlertKind, at time.Duration) bool {
		return log.Add(schemas.Alert{AlertID: id, SensorID: sensor, Kind: kind, LastSeen: t0.Add(at)})
	}
	alert("a1", "s1", schemas.KindAnomaly, 2*time.Minute)        // detects s1 after 2 min
	alert("a1", "s1", schemas.KindAnomaly, 4*time.Minute)        // the same alert again
	alert("a2", "s2", schemas.KindDrift, 1*time.Minute)          // drift first ...
	if !alert("a2", "s2", schemas.KindAnomaly, 20*time.Minute) { // ... anomaly past the grace: a false positive
		t.Error("the kind change was not reported")
	}
	drifted := []schemas.DriftReport{{SensorID: "s4", CurrentEnd: t0.Add(6 * time.Minute), Drifted: true}}
	ev := simulate.Evaluate(faults, t0.Add(30*time.Minute), log.Seen(), drifted, nil, 3)
	if ev.AlertsOpened != 2 || ev.AnomalyAlerts != 2 || ev.TruePositives != 1 || ev.IncidentsInjected != 2 || ev.IncidentsDetected != 1 {
		t.Fatalf("%+v", ev)
	}
	if *ev.Precision != 0.5 || *ev.Recall != 0.5 || ev.MeanDelaySeconds != 120 || ev.DriftInjected != 1 || ev.DriftDetected != 1 || ev.RetrainEvents != 3 {
		t.Fatalf("%+v", ev)
	}
	var out bytes.Buffer
	ev.Print(&out)
	for _, want := range []string{"precision 0.50, recall 0.50", "level_shift  s1", "detected after 2m0s", "missed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed evaluation lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWriteCSV(t *testing.T) {
	sim, err := simulate.New(simulate.Config{Assets: 1, Scenarios: []string{simulate.Duplicates, simulate.Malformed}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	n, err := sim.WriteCSV(context.Background(), &b, 250)
	if err != nil || n != 250 {
		t.Fatalf("wrote %d rows: %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 251 || lines[0] != simulate.CSVHeader || strings.Count(lines[1], ",") != 5 {
		t.Fatalf("%d lines, first %q, second %q", len(lines), lines[0], lines[1])
	}
}
