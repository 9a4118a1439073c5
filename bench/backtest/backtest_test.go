package backtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages"
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
		backtest.Format{TimeCol: "ts", ValueCol: "reading", Type: "pressure", TimeFormat: "unix"})
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
		{"timestamp,v\n", backtest.Format{}, true, `no column "timestamp" or "value"`},
		{"timestamp,value\n2026-01-01T00:00:00Z,1\n", backtest.Format{}, true, "give the sensor type"},
		{"timestamp,value\n", backtest.Format{Type: "x"}, true, "has no rows"},
		{"timestamp,value\nsoon,1\n", backtest.Format{Type: "x"}, false, `line 2: timestamp "soon"`},
		{"timestamp,value\n2026-01-01T00:00:00Z,Inf\n", backtest.Format{Type: "x"}, false, "not a finite number"},
	} {
		_, err := backtest.ReadCSV(write(t, tc.body), tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, pipeline.ErrConfig) != tc.usage {
			t.Errorf("%q: %v; want %q (usage error %v)", tc.body, err, tc.want, tc.usage)
		}
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
	if err := backtest.WriteScored(out, rows, res); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != len(rows)+1 || strings.Count(lines[1], ",") != 5 || strings.HasSuffix(lines[len(lines)-1], ",,0") {
		t.Fatalf("%d lines, first %q, last %q", len(lines), lines[1], lines[len(lines)-1])
	}
}
