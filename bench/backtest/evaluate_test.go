package backtest_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
)

// TestEvaluate scores flagged times against labels: two events, one caught
// 2 s after it began, one missed, and a false alarm; the first two lines
// are a training part.
func TestEvaluate(t *testing.T) {
	labels := write(t, "datetime;x;anomaly\n"+
		"2020-03-09 10:00:00;1;1\n2020-03-09 10:00:01;1;0\n"+ // skipped
		"2020-03-09 10:00:02;1;0\n2020-03-09 10:00:03;1;0\n"+
		"2020-03-09 10:00:04;1;1\n2020-03-09 10:00:05;1;1\n2020-03-09 10:00:06;1;1\n"+
		"2020-03-09 10:00:07;1;0\n"+
		"2020-03-09 10:00:08;1;1\n2020-03-09 10:00:09;1;0\n")
	scored := write(t, "timestamp,sensor_id,value,window_start,window_end,score,is_anomaly,alert\n"+
		"2020-03-09T10:00:00Z,a,1,,,,,1\n"+ // in the training part: not counted
		"2020-03-09T10:00:03Z,a,1,,,,true,1\n"+ // a false alarm
		"2020-03-09T10:00:06Z,a,1,,,,false,0\n"+
		"2020-03-09T10:00:06Z,b,1,,,,true,1\n"+ // caught, by sensor b
		"2020-03-09T10:00:07Z,a,1,,,,false,0\n")
	l, err := backtest.ReadLabels(labels, backtest.Labels{TimeCol: "datetime", Skip: 2})
	if err != nil || len(l) != 8 {
		t.Fatalf("%d labels: %v", len(l), err)
	}
	flagged, err := backtest.ReadFlagged(scored, "alert")
	if err != nil {
		t.Fatal(err)
	}
	var d backtest.Detection
	d.Add(l, flagged)
	d.Finish()
	counts := func(d backtest.Detection) [10]float64 {
		return [10]float64{float64(d.Points), float64(d.Anomalous), float64(d.TP), float64(d.FP), float64(d.TN), float64(d.FN),
			float64(d.Events), float64(d.EventsDetected), d.MeanDelay, d.MaxDelay}
	}
	if got, want := counts(d), [10]float64{8, 4, 1, 1, 3, 3, 2, 1, 2, 2}; got != want {
		t.Fatalf("points, anomalous, TP, FP, TN, FN, events, detected, mean and max delay: %v, want %v", got, want)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !near(d.Precision, 0.5) || !near(d.Recall, 0.25) || !near(d.F1, 1.0/3) || !near(d.FAR, 0.25) || !near(d.MAR, 0.75) {
		t.Errorf("rates %+v", d)
	}

	if _, err := backtest.ReadFlagged(scored, "mood"); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("flag by mood: %v", err)
	}
	if _, err := backtest.ReadLabels(labels, backtest.Labels{}); !errors.Is(err, pipeline.ErrConfig) || !strings.Contains(err.Error(), `has no column "timestamp" (`) {
		t.Errorf("no timestamp column: %v", err)
	}
	if _, err := backtest.ReadLabels(labels, backtest.Labels{TimeCol: "datetime", LabelCol: "Anomaly"}); err == nil || !strings.Contains(err.Error(), `has no column "Anomaly" (`) {
		t.Errorf("no label column: %v, want it alone named", err)
	}
}
