package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
)

// simulateCSV runs "smaint simulate --csv" and returns the file's path.
func simulateToCSV(t *testing.T, dir string, args ...string) string {
	t.Helper()
	path := filepath.Join(dir, "plant.csv")
	args = append([]string{"simulate", "--csv", path, "--start", "2026-11-20T06:00:00Z"}, args...)
	if code, _, stderr := runCLI(t, context.Background(), args...); code != 0 {
		t.Fatalf("simulate: exit %d: %s", code, stderr)
	}
	return path
}

// backtestInProcess runs the stages of the backtest command line args, as
// backtest builds them from its flags, and returns the rows read and what
// the stages made of them.
func backtestInProcess(t *testing.T, args ...string) ([]backtest.Row, *backtest.Result) {
	t.Helper()
	ctx := context.Background()
	fs := newFlagSet("backtest", "", io.Discard)
	var h history
	noDrift := fs.Bool("no-drift", false, "")
	topics := pipeline.DefaultTopics()
	h.register(fs, stages.Downstream(topics, topics.Clean))
	if err := fs.parse(args); err != nil {
		t.Fatal(err)
	}
	if *noDrift {
		h.specs = slices.DeleteFunc(h.specs, func(s stages.Spec) bool { return s.Name == "drift" })
	}
	rows, off, topics, err := h.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res, err := backtest.Run(ctx, off, topics, rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows, res
}

// TestBacktestScoresLikeTheStream is the backtest's promise: the same
// readings give the same anomaly scores through the backtest as through
// the features and score stages running on Kafka.
func TestBacktestScoresLikeTheStream(t *testing.T) {
	ctx := context.Background()
	path := simulateToCSV(t, t.TempDir(), "--assets", "2", "--span", "40m", "--seed", "7",
		"--scenarios", "level-shifts,degradation,spikes", "--incidents", "2")

	rows, offline := backtestInProcess(t, "--csv", path, "--no-drift")
	want := 0
	anomalous := 0
	for _, ss := range offline.Scores {
		want += len(ss)
		for _, s := range ss {
			if s.IsAnomaly {
				anomalous++
			}
		}
	}
	if want == 0 || anomalous == 0 {
		t.Fatalf("backtest scored %d windows, %d anomalous: the comparison would prove little", want, anomalous)
	}

	// The same readings, in file order, on the clean topic of a broker.
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	cl := pipelinetest.Client(t, c.ListenAddrs())
	topics := pipeline.DefaultTopics()
	pipelinetest.CreateTopic(t, cl, 3, topics.Clean)
	readings := make([]schemas.SensorReading, len(rows))
	for i := range rows {
		readings[i] = rows[i].Reading
	}
	pipelinetest.Produce(t, cl, pipelinetest.Readings(t, topics.Clean, readings)...)

	rctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() {
		_, _, stderr := runCLI(t, rctx, "run", "--stages", "features,score", "--brokers", broker, "--idle-timeout", "3s",
			"--http", "127.0.0.1:0", "--log-level", "error")
		done <- stderr
	}()
	var got []*kgo.Record
	pipelinetest.Eventually(t, "the stream's scores", func() bool {
		got = pipelinetest.ReadAll(t, c.ListenAddrs(), topics.Scores)
		return len(got) >= want
	})
	stop()
	if stderr := <-done; stderr != "" {
		t.Logf("run: %s", stderr)
	}

	stream := map[string][]schemas.AnomalyScore{}
	dec := schemas.NewSerde().NewDecoder()
	for _, r := range got {
		var s schemas.AnomalyScore
		if err := dec.Decode(ctx, r.Value, &s); err != nil {
			t.Fatal(err)
		}
		stream[s.SensorID] = append(stream[s.SensorID], s)
	}
	if len(got) != want {
		t.Errorf("the stream scored %d windows, the backtest %d", len(got), want)
	}
	for sensor, off := range offline.Scores {
		on := stream[sensor]
		for i := range min(len(on), len(off)) {
			if !reflect.DeepEqual(on[i], off[i]) {
				t.Fatalf("%s window %d differs:\nstream   %+v\nbacktest %+v", sensor, i, on[i], off[i])
			}
		}
	}
}

// TestBacktestFindsTheInjectedFaults runs the workflow the README gives:
// simulate a plant to CSV with its ground truth, backtest it, read the
// scored file and the evaluation.
func TestBacktestFindsTheInjectedFaults(t *testing.T) {
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.jsonl")
	path := simulateToCSV(t, dir, "--assets", "4", "--span", "80m", "--seed", "3", "--incidents", "3", "--drifts", "1", "--truth", truth)
	out := filepath.Join(dir, "scored.csv")
	code, stdout, stderr := runCLI(t, context.Background(), "backtest", "--csv", path, "--truth", truth, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("backtest: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum backtest.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	ev := sum.Evaluation
	if ev == nil || ev.Precision == nil || ev.Recall == nil {
		t.Fatalf("no evaluation in %s", stdout)
	}
	if ev.IncidentsInjected != 3 || *ev.Precision < 0.9 || *ev.Recall < 0.9 || ev.DriftInjected != 1 || ev.DriftDetected != 1 {
		t.Errorf("backtest against the ground truth: %s", stdout)
	}
	if !strings.Contains(stdout, "precision 1.00, recall 1.00") && *ev.Precision == 1 && *ev.Recall == 1 {
		t.Errorf("the printed summary does not state the evaluation:\n%s", stdout)
	}

	// The scored file has every input row, in input order, with a score.
	in := readCSV(t, path)
	scored := readCSV(t, out)
	if len(scored) != len(in) || len(in) != sum.Rows+1 {
		t.Fatalf("%d input lines, %d scored lines, summary says %d rows", len(in), len(scored), sum.Rows)
	}
	if !slices.Equal(scored[0], backtest.ScoredHeader) {
		t.Fatalf("scored header %v", scored[0])
	}
	alerted, unscored := 0, 0
	for i := 1; i < len(in); i++ {
		if scored[i][0] != in[i][0] || scored[i][1] != in[i][1] || scored[i][2] != in[i][4] {
			t.Fatalf("line %d: scored %v for input %v", i+1, scored[i], in[i])
		}
		if scored[i][5] == "" {
			unscored++ // before its sensor's first window closed
		}
		if scored[i][7] == "1" {
			alerted++
		}
	}
	// The first minute and a bit of 80 have no closed window yet.
	if unscored == 0 || unscored > len(in)/40 {
		t.Errorf("%d of %d lines without a score", unscored, len(in)-1)
	}
	if alerted == 0 {
		t.Error("no row is flagged as under an alert")
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

// TestBacktestInputFormats reads the time formats and column names users
// choose with flags.
func TestBacktestInputFormats(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		format string
		header string
		stamp  func(time.Time) string
		extra  []string
	}{
		{"rfc3339", "timestamp,value", func(t time.Time) string { return t.Format(time.RFC3339Nano) }, nil},
		{"unix", "ts,reading", func(t time.Time) string { return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1e3) },
			[]string{"--time-col", "ts", "--value-col", "reading"}},
		{"unixms", "timestamp,value", func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }, nil},
		{"2006-01-02 15:04:05.000", "timestamp,value", func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			var b strings.Builder
			b.WriteString(tc.header + "\n")
			for i := range 1200 { // 10 minutes at 2 Hz
				fmt.Fprintf(&b, "%s,%g\n", tc.stamp(base.Add(time.Duration(i)*500*time.Millisecond)), 4.2+float64(i%7)/100)
			}
			path := filepath.Join(dir, "in.csv")
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"backtest", "--csv", path, "--type", "pressure", "--time-format", tc.format, "--json"}, tc.extra...)
			code, stdout, stderr := runCLI(t, context.Background(), args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var sum backtest.Summary
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
				t.Fatal(err)
			}
			// 2 Hz: windows "auto" become 15 s every 1.5 s; 409 of them
			// (starts from -13.5 s to 598.5 s) cover 10 minutes.
			if sum.Rows != 1200 || sum.Sensors != 1 || sum.Windows != 409 || sum.WindowSpec != "15s/1.5s" || sum.Interval != 0.5 ||
				!sum.From.Equal(base) || !sum.To.Equal(base.Add(599500*time.Millisecond)) {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// TestBacktestBadInput: input it cannot read is an error naming the
// problem and the line, never a silently shorter backtest.
func TestBacktestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "timestamp,value,sensor_type\n2026-03-01T00:00:00Z,1.5,pressure\n"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no csv", nil, 2, "--csv is required"},
		{"missing file", []string{"--csv", filepath.Join(dir, "nope.csv")}, 1, "no such file"},
		{"no value column", []string{"--csv", write("a.csv", "timestamp,v\n2026-03-01T00:00:00Z,1\n")}, 2, `no value column "value"`},
		{"no time column", []string{"--csv", write("b.csv", "time,value\n2026-03-01T00:00:00Z,1\n")}, 2, `no time column "timestamp"`},
		{"bad time", []string{"--csv", write("c.csv", good+"yesterday,1,pressure\n")}, 1, `line 3: timestamp "yesterday"`},
		{"bad value", []string{"--csv", write("d.csv", good+"2026-03-01T00:00:01Z,lots,pressure\n")}, 1, `line 3: value "lots"`},
		{"nan value", []string{"--csv", write("e.csv", good+"2026-03-01T00:00:01Z,NaN,pressure\n")}, 1, "not a finite number"},
		{"short row", []string{"--csv", write("f.csv", good+"2026-03-01T00:00:01Z\n")}, 1, "wrong number of fields"},
		{"empty", []string{"--csv", write("g.csv", "timestamp,value,sensor_type\n")}, 2, "has no rows"},
		{"bad truth", []string{"--csv", write("h.csv", good), "--truth", write("t.jsonl", "{]\n")}, 1, "ground truth line 1"},
		{"notifier", []string{"--csv", write("i.csv", good), "--webhook", "http://x"}, 2, "flag provided but not defined: -webhook"},
		{"bad windows", []string{"--csv", write("j.csv", good), "--windows", "soon"}, 2, `invalid value "soon" for flag -windows`},
		{"duration without unit", []string{"--csv", write("k.csv", good), "--forecast-horizon", "30"}, 2,
			`invalid value "30" for flag -forecast-horizon: time: missing unit in duration "30": give a number and its unit, e.g. 30s, 5m or 2h (smaint backtest -h lists the flags)`},
		{"word for a number", []string{"--csv", write("l.csv", good), "--threshold", "high"}, 2, `invalid value "high" for flag -threshold: not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, context.Background(), append([]string{"backtest"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
			if strings.Contains(stderr, "Flags:") { // a mistake is told alone, not followed by every flag
				t.Errorf("usage printed after %q", stderr)
			}
		})
	}
}

// TestTrainThenScoreWithTheModels: train stores one model per sensor type
// in the store, and a backtest given that store scores those types with
// them, naming the version.
func TestTrainThenScoreWithTheModels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := simulateToCSV(t, dir, "--assets", "2", "--span", "30m", "--types", "pressure,vibration", "--scenarios", "spikes")
	store := "file://" + filepath.Join(dir, "models")
	code, stdout, stderr := runCLI(t, ctx, "train", "--csv", path, "--models", store, "--version", "v0001", "--trees", "20")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var trained []struct {
		Model   string `json:"model"`
		Windows int    `json:"windows"`
		URI     string `json:"uri"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &trained); err != nil {
		t.Fatal(err)
	}
	if len(trained) != 2 || trained[0].Model != "iforest-pressure" || trained[1].Model != "iforest-vibration" || trained[0].Windows != 60 {
		t.Fatalf("trained %+v", trained)
	}
	for _, m := range trained {
		if _, err := os.Stat(strings.TrimPrefix(m.URI, "file://")); err != nil {
			t.Errorf("%s: %v", m.Model, err)
		}
	}

	// A newer version that was tampered with is listed as refused, and
	// scoring keeps to the last good one.
	good, err := os.ReadFile(strings.TrimPrefix(trained[0].URI, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	// The model's threshold (after the manifest's copy): 0.6 becomes 10.6.
	at := strings.LastIndex(string(good), `"threshold":`) + len(`"threshold":`)
	bad := string(good)[:at] + "1" + string(good)[at:]
	if err := os.WriteFile(filepath.Join(dir, "models", "iforest-pressure", "v0002.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, ctx, "models", "list", "--models", store)
	if code != 0 || strings.Count(stdout, " ok, live\n") != 2 || !strings.Contains(stdout, "v0002") || !strings.Contains(stdout, "REFUSED: ") ||
		!strings.Contains(stdout, "checksum mismatch") {
		t.Fatalf("models list: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("models list:\n%s", stdout)

	_, res := backtestInProcess(t, "--csv", path, "--no-drift", "--models", store)
	for sensor, ss := range res.Scores {
		typ := ss[0].SensorType
		for _, s := range ss {
			if s.Detector != "iforest" || s.ModelVersion != "iforest-"+typ+"@v0001" {
				t.Fatalf("%s scored by %s %s", sensor, s.Detector, s.ModelVersion)
			}
		}
	}
}

func TestTrainBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "few.csv")
	if err := os.WriteFile(csvPath, []byte("timestamp,value\n2026-03-01T00:00:00Z,1\n2026-03-01T00:00:01Z,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oneWindow := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(oneWindow, []byte("timestamp,value\n2026-03-01T00:00:00Z,1\n2026-03-01T00:00:01Z,2\n2026-03-01T00:00:02Z,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--models", "file:///tmp/x"}, 2, "--csv is required"},
		{[]string{"--csv", csvPath}, 2, "--models is required"},
		{[]string{"--csv", csvPath, "--models", "s4://bucket"}, 2, `scheme "s4" not supported`},
		{[]string{"--csv", csvPath, "--models", "file:///tmp/x", "--contamination", "0.7"}, 2, "contamination 0.7"},
		{[]string{"--csv", csvPath, "--models", "file://" + dir, "--type", "pressure"}, 1, "no feature window of 3 or more readings"},
		{[]string{"--csv", oneWindow, "--models", "file://" + dir, "--type", "pressure"}, 1, "no sensor of type pressure has 5 windows to centre on"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, context.Background(), append([]string{"train"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

// TestEvaluateABacktest: the workflow on labelled history of one's own:
// backtest a file, then score its output against the file's labels.
func TestEvaluateABacktest(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("time;pressure;anomaly\n")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 60 * 60 { // an hour at 1 Hz; a 10-minute fault from minute 40
		v, label := 4.2+float64(i%7)/100, 0
		if i >= 40*60 && i < 50*60 {
			v, label = v+1, 1
		}
		fmt.Fprintf(&b, "%s;%g;%d\n", t0.Add(time.Duration(i)*time.Second).Format("2006-01-02 15:04:05"), v, label)
	}
	path := filepath.Join(dir, "line.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, context.Background(), "backtest", "--csv", path, "--time-col", "time", "--value-col", "pressure", "--type", "pressure"); code != 0 {
		t.Fatalf("backtest: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, context.Background(), "evaluate", "--labels", path, "--time-col", "time", "--skip", "400", "--json")
	if code != 0 {
		t.Fatalf("evaluate: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var d backtest.Detection
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &d); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if d.Points != 3600-400 || d.Anomalous != 600 || d.Events != 1 || d.EventsDetected != 1 || d.Recall <= 0 || d.Precision <= 0 {
		t.Errorf("detection %+v", d)
	}
	if !strings.Contains(out, "events: 1 of 1 detected") {
		t.Errorf("printed:\n%s", out)
	}
	if code, _, stderr := runCLI(t, context.Background(), "evaluate", "--labels", path, "--scored", "a.csv,b.csv"); code != 2 || !strings.Contains(stderr, "as many scored as labelled") {
		t.Errorf("mismatched files: exit %d, %s", code, stderr)
	}
}

// backtest --forecasts writes every forecast, and evaluate --task
// forecast scores that file as the backtest's summary scored them.
func TestBacktestForecastsAndTheirEvaluation(t *testing.T) {
	dir := t.TempDir()
	limits := filepath.Join(dir, "limits.json")
	path := simulateToCSV(t, dir, "--assets", "2", "--span", "90m", "--scenarios", "none", "--limits", limits)
	fc := filepath.Join(dir, "forecasts.csv")
	code, stdout, stderr := runCLI(t, context.Background(), "backtest", "--csv", path, "--windows", "60s", "--limits", limits,
		"--forecasts", fc, "--out", filepath.Join(dir, "scored.csv"), "--json")
	if code != 0 || strings.Contains(stderr, "applies to no sensor") { // simulate writes the limits of its plant's types only
		t.Fatalf("backtest: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum backtest.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Forecasts == nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	if sum.Forecasts.Sensors != 8 || !(sum.Forecasts.RelMAE > 0 && sum.Forecasts.RelMAE < 1) || sum.AlertsOpened["PREDICTED"] != 0 {
		t.Errorf("a fault-free plant: %+v, alerts %v", sum.Forecasts, sum.AlertsOpened)
	}
	code, stdout, stderr = runCLI(t, context.Background(), "evaluate", "--task", "forecast", "--forecasts", fc, "--json")
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	var acc struct {
		Forecasts int     `json:"forecasts"`
		RelMAE    float64 `json:"rel_mae"`
		Coverage  float64 `json:"coverage"`
	}
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &acc) != nil {
		t.Fatalf("evaluate: exit %d %s %s", code, stdout, stderr)
	}
	if acc.Forecasts != sum.Forecasts.Forecasts || acc.RelMAE != sum.Forecasts.RelMAE || acc.Coverage != sum.Forecasts.Coverage {
		t.Errorf("evaluate %+v, the backtest's summary %+v", acc, sum.Forecasts)
	}
	if sum.ForecastsFile != fc {
		t.Errorf("the summary names %q as the forecasts file, want %q", sum.ForecastsFile, fc)
	}
	// A limit that names no sensor of the data is said to.
	typo := writeFile(t, dir, "typo.json", `[{"sensor_type": "vibraton", "above": 3}, {"sensor_type": "vibration", "above": 3}, {"sensor_id": "asset-009-pressure", "below": 1}]`)
	code, _, stderr = runCLI(t, context.Background(), "backtest", "--csv", path, "--windows", "60s", "--no-drift", "--limits", typo, "--out", filepath.Join(dir, "typo.scored.csv"))
	if code != 0 || !strings.Contains(stderr, `the limit for sensor_type "vibraton" applies to no sensor`) ||
		!strings.Contains(stderr, `the limit for sensor_id "asset-009-pressure" applies to no sensor`) || strings.Contains(stderr, `"vibration"`) {
		t.Errorf("limits naming no sensor: exit %d, %q", code, stderr)
	}
	// --forecasts alone asks for the forecast task.
	if code, out, stderr := runCLI(t, context.Background(), "evaluate", "--forecasts", fc); code != 0 || !strings.Contains(out, "1 file,") {
		t.Errorf("evaluate --forecasts without --task: exit %d, %q %q", code, out, stderr)
	}
	// The line for people counts the forecasts read and those scored.
	if want := fmt.Sprintf(" forecasts in 1 file, %d of them with an outcome at their horizon", acc.Forecasts); !strings.Contains(lines[0], want) {
		t.Errorf("evaluate says %q, want %q", lines[0], want)
	}
	if code, _, stderr := runCLI(t, context.Background(), "evaluate", "--task", "forecast", "--forecasts", path); code == 0 || !strings.Contains(stderr, "not a forecasts file") {
		t.Errorf("a readings file as forecasts: exit %d, %q", code, stderr)
	}
	// The whole file is shorter than the horizon: the summary says why
	// nothing was scored, and what to change; with the horizon it names,
	// forecasts are scored.
	short := simulateToCSV(t, t.TempDir(), "--assets", "1", "--span", "20m", "--scenarios", "none")
	code, stdout, _ = runCLI(t, context.Background(), "backtest", "--csv", short, "--windows", "60s", "--out", filepath.Join(dir, "short.scored.csv"))
	if code != 0 || !strings.Contains(stdout, "none reached its horizon\n                   (the data spans 20m0s: a shorter --forecast-horizon lets forecasts be scored)") {
		t.Errorf("a file shorter than the horizon: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, context.Background(), "backtest", "--csv", short, "--windows", "60s", "--forecast-horizon", "5m", "--out", filepath.Join(dir, "short.scored.csv"))
	if code != 0 || strings.Contains(stdout, "none reached") || strings.Contains(stdout, "shorter --forecast-horizon") {
		t.Errorf("with a 5-minute horizon: exit %d\n%s", code, stdout)
	}
}

// backtest --alerts writes every alert record, with the text operators
// would read: as many opened of each kind as the summary counts.
func TestBacktestWritesItsAlerts(t *testing.T) {
	dir := t.TempDir()
	limits, truth := filepath.Join(dir, "limits.json"), filepath.Join(dir, "truth.jsonl")
	path := simulateToCSV(t, dir, "--assets", "2", "--span", "60m", "--scenarios", "degradation", "--incidents", "2", "--seed", "1",
		"--limits", limits, "--truth", truth)
	alerts := filepath.Join(dir, "alerts.csv")
	code, stdout, stderr := runCLI(t, context.Background(), "backtest", "--csv", path, "--truth", truth, "--limits", limits, "--windows", "60s",
		"--no-drift", "--alerts", alerts, "--out", filepath.Join(dir, "scored.csv"), "--json")
	if code != 0 {
		t.Fatalf("backtest: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum backtest.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.AlertsFile != alerts {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	tab, err := readTable(alerts)
	if err != nil || !slices.Equal(tab.Header, backtest.AlertsHeader) {
		t.Fatalf("alerts file: %v, header %v", err, tab.Header)
	}
	col := func(name string) int { return slices.Index(backtest.AlertsHeader, name) }
	opened := map[string]int{}
	for _, r := range tab.Rows {
		if r[col("state")] != "OPEN" {
			continue
		}
		opened[r[col("kind")]]++
		if r[col("kind")] == "PREDICTED" && (!strings.Contains(r[col("summary")], "will go above its limit of") || !strings.HasPrefix(r[col("recommended_action")], "Before ")) {
			t.Errorf("a PREDICTED alert without its crossing or its due time: %q", r)
		}
	}
	if opened["ANOMALY"] == 0 || opened["PREDICTED"] == 0 || !maps.Equal(opened, sum.AlertsOpened) {
		t.Errorf("opened in the file %v, in the summary %v", opened, sum.AlertsOpened)
	}
}
