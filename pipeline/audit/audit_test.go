package audit_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/audit"
	"github.com/smaint/smaint/schemas"
)

// topics is an in-memory Source: records by topic, each in partition 0
// at its index.
type topics map[string][]audit.Record

func (ts topics) source(_ context.Context, topic string, fn func(audit.Record)) error {
	for _, r := range ts[topic] {
		fn(r)
	}
	return nil
}

func (ts topics) add(topic string, v schemas.Record, headers map[string]string) {
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), v.AvroSchema(), "")
	if err != nil {
		panic(err)
	}
	b, err := enc.Append(nil, v)
	if err != nil {
		panic(err)
	}
	ts[topic] = append(ts[topic], audit.Record{Offset: int64(len(ts[topic])), Value: b, Headers: headers})
}

var (
	t0    = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	names = pipeline.DefaultTopics()
)

func reading(i int) *schemas.SensorReading {
	return &schemas.SensorReading{ReadingID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), SensorID: "s-1", AssetID: "a-1",
		SensorType: "temperature", TS: t0.Add(time.Duration(i) * time.Second), Value: 20, Unit: "C", Quality: 90}
}

func window(start, n int, count int64) *schemas.FeatureVector {
	return &schemas.FeatureVector{SensorID: "s-1", AssetID: "a-1", SensorType: "temperature",
		WindowStart: t0.Add(time.Duration(start) * time.Second), WindowEnd: t0.Add(time.Duration(start+n) * time.Second), Count: count}
}

func score(w *schemas.FeatureVector) *schemas.AnomalyScore {
	return &schemas.AnomalyScore{SensorID: w.SensorID, AssetID: w.AssetID, SensorType: w.SensorType, WindowStart: w.WindowStart, WindowEnd: w.WindowEnd, Detector: "robust"}
}

// clean is a faultless run: 60 readings, two 30 s windows, their scores.
func clean() topics {
	ts := topics{}
	for i := range 60 {
		ts.add(names.Readings, reading(i), nil)
		ts.add(names.Clean, reading(i), nil)
	}
	for _, w := range []*schemas.FeatureVector{window(0, 30, 30), window(30, 30, 30)} {
		ts.add(names.Features, w, nil)
		ts.add(names.Scores, score(w), nil)
	}
	return ts
}

// dropFirst takes the first reading out of the clean topic, and so out of
// its window.
func dropFirst(ts topics) {
	ts[names.Clean] = ts[names.Clean][1:]
	ts[names.Features] = ts[names.Features][1:]
	ts.add(names.Features, window(0, 30, 29), nil)
}

func alert(id string, state schemas.AlertState, n int64) *schemas.Alert {
	return &schemas.Alert{AlertID: id, SensorID: "s-1", AssetID: "a-1", SensorType: "temperature", State: state,
		OpenedAt: t0, LastSeen: t0.Add(time.Duration(n) * time.Minute), Occurrences: n, Summary: "x", RecommendedAction: "y"}
}

func TestAudit(t *testing.T) {
	cases := []struct {
		name  string
		fault func(ts topics)
		check func(r *audit.Report) string // "" when as expected
	}{
		{"faultless", func(topics) {}, func(r *audit.Report) string {
			if !r.OK() || r.Readings != 60 || r.Distinct != 60 {
				return "want OK with 60 readings"
			}
			return ""
		}},
		{"a reading lost", func(ts topics) { dropFirst(ts) }, stageWants("dedupe", names.Clean, func(s audit.Stage) bool { return s.Lost == 1 })},
		{"a dead-lettered reading is not lost", func(ts topics) {
			dropFirst(ts)
			ts.add(names.DLQ, reading(0), map[string]string{pipeline.HeaderSourceTopic: names.Readings, pipeline.HeaderSourcePartition: "0", pipeline.HeaderSourceOffset: "0"})
		}, func(r *audit.Report) string {
			if !r.OK() {
				return "want OK"
			}
			return ""
		}},
		{"a reading replayed", func(ts topics) { ts.add(names.Clean, reading(7), nil) }, stageWants("dedupe", names.Clean, func(s audit.Stage) bool { return s.Duplicated == 1 && s.Lost == 0 })},
		{"a window counts a replay", func(ts topics) {
			ts[names.Features] = ts[names.Features][1:]
			ts.add(names.Features, window(0, 30, 31), nil)
		}, stageWants("features", names.Features, func(s audit.Stage) bool { return s.OverCounted == 1 && s.Duplicated == 0 })},
		{"a window written twice", func(ts topics) { ts.add(names.Features, window(0, 30, 30), nil) }, stageWants("features", names.Features, func(s audit.Stage) bool { return s.Duplicated == 1 })},
		{"a window without its score", func(ts topics) { ts[names.Scores] = ts[names.Scores][1:] }, func(r *audit.Report) string {
			if s := find(r, names.Scores); s.Missing != 1 || !r.OK() {
				return fmt.Sprintf("want 1 missing score and OK, got %+v", s)
			}
			return ""
		}},
		{"a late reading twice", func(ts topics) {
			ts.add(names.Late, reading(3), nil)
			ts.add(names.Late, reading(3), nil)
		}, stageWants("features", names.Late, func(s audit.Stage) bool { return s.Duplicated == 1 })},
		{"an incident under two alert ids", func(ts topics) {
			ts.add(names.Alerts, alert("a", schemas.StateOpen, 1), nil)
			ts.add(names.Alerts, alert("b", schemas.StateOpen, 1), nil)
		}, stageWants("alert", names.Alerts, func(s audit.Stage) bool { return s.SplitAlerts == 1 && s.Duplicated == 0 })},
		{"an alert update twice", func(ts topics) {
			ts.add(names.Alerts, alert("a", schemas.StateOpen, 1), nil)
			ts.add(names.Alerts, alert("a", schemas.StateOpen, 2), nil)
			ts.add(names.Alerts, alert("a", schemas.StateOpen, 2), nil)
		}, stageWants("alert", names.Alerts, func(s audit.Stage) bool { return s.Duplicated == 1 && s.SplitAlerts == 0 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := clean()
			c.fault(ts)
			r, err := audit.Run(context.Background(), ts.source, audit.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if msg := c.check(r); msg != "" {
				t.Errorf("%s; report %+v", msg, r)
			}
		})
	}
}

func TestAuditOfTheDatabase(t *testing.T) {
	ts := clean()
	ts.add(names.DLQ, reading(5), map[string]string{pipeline.HeaderSourceTopic: names.Clean, pipeline.HeaderErrorKind: pipeline.KindConflict})
	stored := func(_ context.Context, from, to time.Time) (map[string]bool, error) {
		if !from.Equal(t0) || !to.Equal(t0.Add(59*time.Second)) {
			return nil, fmt.Errorf("asked for %v..%v", from, to)
		}
		m := map[string]bool{}
		for i := range 60 {
			if i != 5 && i != 9 { // 5 was a conflict; 9 is lost
				m[reading(i).ReadingID] = true
			}
		}
		return m, nil
	}
	r, err := audit.Run(context.Background(), ts.source, audit.Config{Stored: stored})
	if err != nil {
		t.Fatal(err)
	}
	if s := find(r, "sensor_readings"); s.Lost != 1 || s.Records != 58 || len(s.Examples) != 1 || s.Examples[0] != "not stored "+reading(9).ReadingID {
		t.Errorf("sink %+v", s)
	}
}

func find(r *audit.Report, topic string) audit.Stage {
	for _, s := range r.Stages {
		if s.Topic == topic {
			return s
		}
	}
	return audit.Stage{}
}

// stageWants checks the stage writing topic, and that it is the only one
// with a problem.
func stageWants(stage, topic string, ok func(audit.Stage) bool) func(*audit.Report) string {
	return func(r *audit.Report) string {
		for _, s := range r.Stages {
			if s.Topic == topic {
				if s.Name != stage || !ok(s) || len(s.Examples) == 0 {
					return fmt.Sprintf("stage %+v not as expected", s)
				}
			} else if s.Problems() > 0 {
				return fmt.Sprintf("stage %s/%s has problems too", s.Name, s.Topic)
			}
		}
		return ""
	}
}

func ExampleRun() {
	ts := clean()
	ts.add(names.Clean, reading(7), nil) // a reading replayed into the clean topic
	r, err := audit.Run(context.Background(), ts.source, audit.Config{Examples: 1})
	if err != nil {
		panic(err)
	}
	r.Print(os.Stdout)
	fmt.Println("ok:", r.OK(), "problems at dedupe:", strconv.FormatInt(r.Stages[0].Problems(), 10))
	// Output:
	// audit: 60 readings on the readings topic, 60 distinct
	//   stage      output                      records     lost  duplicated  over-counted  missing   split
	//   dedupe     sensor.readings.clean            61        0           1             0        0       0
	//              e.g. reading 00000000-0000-4000-8000-000000000007 written 2 times
	//   features   sensor.readings.late              0        0           0             0        0       0
	//   features   sensor.features                   2        0           0             0        0       0
	//   score      sensor.scores                     2        0           0             0        0       0
	//   drift      sensor.drift                      0        0           0             0        0       0
	//   alert      maintenance.alerts                0        0           0             0        0       0
	//   drift      model.retrain                     0        0           0             0        0       0
	// ok: false problems at dedupe: 1
}
