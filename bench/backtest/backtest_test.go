package backtest_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/features"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCSV(t *testing.T) {
	rows, err := backtest.ReadCSV(write(t, "ts,reading\n1700000000.5,2\n1700000001,3\n"),
		backtest.Format{TimeCol: "ts", ValueCols: []string{"reading"}, Type: "pressure", TimeFormat: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0].Reading
	if len(rows) != 2 || rows[1].Line != 3 || !r.TS.Equal(time.UnixMilli(1_700_000_000_500)) || r.Value != 2 ||
		r.SensorType != "pressure" || r.SensorID != "sensor" || r.AssetID != "asset" {
		t.Fatalf("rows %+v", rows)
	}
	for _, tc := range []struct {
		body  string
		f     backtest.Format
		usage bool // the fix is in the command line
		want  string
	}{
		{"timestamp,v\n", backtest.Format{}, true, `no value column "value"`},
		{"time,value\n", backtest.Format{}, true, `no time column "timestamp"`},
		{"timestamp,value\n", backtest.Format{}, true, "has no rows"},
		{"timestamp,value\nsoon,1\n", backtest.Format{}, false, `line 2: timestamp "soon": not a time this reader knows`},
		{"timestamp,value\n2026-01-01T00:00:00Z,1\nsoon,2\n", backtest.Format{}, false, `line 3: timestamp "soon"`},
		{"timestamp,value\n2026-01-01T00:00:00Z,Inf\n", backtest.Format{}, false, "not a finite number"},
	} {
		_, err := backtest.ReadCSV(write(t, tc.body), tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, pipeline.ErrConfig) != tc.usage {
			t.Errorf("%q: %v; want %q (usage error %v)", tc.body, err, tc.want, tc.usage)
		}
	}
}

// TestReadCSVDetectsTimesAndSeparators: what the file says is read without
// being told, as users' exports come.
func TestReadCSVDetectsTimesAndSeparators(t *testing.T) {
	want := time.Date(2020, 3, 9, 10, 34, 33, 0, time.UTC)
	for _, stamp := range []string{"2020-03-09T10:34:33Z", "2020-03-09 10:34:33", "2020-03-09T10:34:33", "2020-03-09 10:34:33.000",
		"2020-03-09 12:34:33+02:00", "1583750073", "1583750073000", "1583750073000000", "1583750073.0"} {
		for _, sep := range []string{",", ";", "\t"} {
			rows, err := backtest.ReadCSV(write(t, "timestamp"+sep+"value\n"+stamp+sep+"1.5\n"), backtest.Format{})
			if err != nil || !rows[0].Reading.TS.Equal(want) || rows[0].Reading.SensorType != backtest.GenericType {
				t.Errorf("%q with %q: %v, %v", stamp, sep, rows, err)
			}
		}
	}
}

// TestReadCSVWideFile: a file of one column per sensor gives a reading per
// sensor and line, in file order.
func TestReadCSVWideFile(t *testing.T) {
	body := "datetime;Pressure;Current;anomaly\n2020-03-09 10:34:33;0.05;0.87;0\n2020-03-09 10:34:34;0.06;1.30;1\n"
	rows, err := backtest.ReadCSV(write(t, body), backtest.Format{TimeCol: "datetime", ValueCols: []string{"Pressure", "Current"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%d %s %g", r.Line, r.Reading.SensorID, r.Reading.Value))
	}
	if want := []string{"2 Pressure 0.05", "2 Current 0.87", "3 Pressure 0.06", "3 Current 1.3"}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

// TestRunAndWriteScored: a steady sensor that jumps halfway scores high
// after the jump and raises an alert; every row of the scored file has its
// window's score.
func TestRunAndWriteScored(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 40 * 60 { // 40 minutes at 1 Hz
		v := 10 + float64(i%5)/10
		if i >= 30*60 {
			v += 5
		}
		b.WriteString(t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339) + "," + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	rows, err := backtest.ReadCSV(write(t, b.String()), backtest.Format{Type: "pressure"})
	if err != nil {
		t.Fatal(err)
	}
	topics := pipeline.DefaultTopics()
	c := stages.DefaultConfig()
	off, err := stages.Offline(context.Background(), &c, stages.Downstream(topics, topics.Clean))
	if err != nil {
		t.Fatal(err)
	}
	res, err := backtest.Run(context.Background(), off, topics, rows)
	if err != nil {
		t.Fatal(err)
	}
	scores := res.Scores["sensor"]
	if len(scores) != 40 {
		t.Fatalf("%d windows scored, want 40", len(scores))
	}
	if scores[29].IsAnomaly || !scores[30].IsAnomaly {
		t.Errorf("window before the jump anomalous %v, after %v", scores[29].IsAnomaly, scores[30].IsAnomaly)
	}
	sum := res.Summarize(rows, "out.csv")
	if sum.Rows != len(rows) || sum.Windows != 40 || sum.AlertsOpened["ANOMALY"] != 1 {
		t.Errorf("summary %+v", sum)
	}
	out := filepath.Join(t.TempDir(), "scored.csv")
	lateness := 10 * time.Second
	if err := backtest.WriteScored(out, rows, res, lateness); err != nil {
		t.Fatal(err)
	}
	scored := readCSV(t, out)
	if len(scored) != len(rows)+1 || !slices.Equal(scored[0], backtest.ScoredHeader) {
		t.Fatalf("%d lines, header %v", len(scored), scored[0])
	}
	// Causal: a row carries the last window that had closed when it came,
	// the one that ended at least the lateness before it; until the first
	// window closed, nothing.
	for i, rec := range scored[1:] {
		ts := rows[i].Reading.TS
		if ts.Before(t0.Add(time.Minute + lateness)) {
			if rec[5] != "" {
				t.Fatalf("row at %v carries a score before any window closed: %v", ts, rec)
			}
			continue
		}
		end, err := time.Parse(time.RFC3339Nano, rec[4])
		if err != nil || end.After(ts.Add(-lateness)) || !end.After(ts.Add(-lateness-time.Minute)) {
			t.Fatalf("row at %v carries the window ending %v (%v)", ts, end, err)
		}
		if want := scores[int(end.Sub(t0)/time.Minute)-1]; rec[5] != strconv.FormatFloat(want.Score, 'g', -1, 64) {
			t.Fatalf("row at %v: score %s, the window's is %v", ts, rec[5], want.Score)
		}
	}
	// The alert opened when the first anomalous window closed, and is
	// still open on the last row.
	if last := scored[len(scored)-1]; last[7] != "1" {
		t.Errorf("last row %v: no alert open", last)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A sensor read every 5 minutes is too slow for windows: "auto" makes
// each reading a window of its own (count:1), scored against the recent
// readings, and the scored file gives each row its own score, known as
// soon as the reading is.
func TestAutoWindowsScoreASlowSensorByPoint(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n, spike = 400, 300
	for i := range n { // a daily cycle, read every 5 minutes, with one reading far off it
		v := 20 + math.Sin(2*math.Pi*float64(i)/288)
		if i == spike {
			v -= 8
		}
		b.WriteString(t0.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339) + "," + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	c := stages.DefaultConfig()
	if err := features.ParseWindows("auto", &c.Features); err != nil {
		t.Fatal(err)
	}
	topics := pipeline.DefaultTopics()
	rows, off, err := backtest.Open(context.Background(), write(t, b.String()), backtest.Format{}, &c, stages.Downstream(topics, topics.Clean))
	if err != nil {
		t.Fatal(err)
	}
	if got := backtest.SamplingInterval(rows); got != 5*time.Minute {
		t.Fatalf("sampling interval %v", got)
	}
	if c.Features.Auto || c.Features.Windows() != "count:1" {
		t.Fatalf("auto windows became %s", c.Features.Windows())
	}
	res, err := backtest.Run(context.Background(), off, topics, rows)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "scored.csv")
	if err := backtest.WriteScored(out, rows, res, backtest.ResultDelay(c.Features)); err != nil {
		t.Fatal(err)
	}
	scored := readCSV(t, out)[1:]
	for i, rec := range scored {
		if i < 20 { // warm-up
			continue
		}
		if rec[3] != rows[i].Reading.TS.Format(time.RFC3339Nano) {
			t.Fatalf("row %d carries the window starting %s, not its own", i, rec[3])
		}
		if anomalous := rec[6] == "true"; anomalous != (i == spike) {
			t.Errorf("row %d (%s): score %s, anomalous %v", i, rec[2], rec[5], anomalous)
		}
	}
}

func TestResultDelay(t *testing.T) {
	tests := []struct {
		windows  string
		lateness time.Duration
		want     time.Duration
	}{
		{"60s", 0, 10 * time.Second}, // the default lateness
		{"60s", 3 * time.Second, 3 * time.Second},
		{"60s", features.NoLateness, 0},
		{"count:1", 0, -time.Microsecond},
	}
	for _, tc := range tests {
		c := features.Config{Lateness: tc.lateness}
		if err := features.ParseWindows(tc.windows, &c); err != nil {
			t.Fatal(err)
		}
		if got := backtest.ResultDelay(c); got != tc.want {
			t.Errorf("ResultDelay(%s, lateness %v) = %v, want %v", tc.windows, tc.lateness, got, tc.want)
		}
	}
}
