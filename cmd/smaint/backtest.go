package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/notify"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/drift"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/score"
	"github.com/smaint/smaint/stages/simulate"
)

func backtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	job, err := parseBacktest(ctx, args, stderr)
	if err != nil {
		return err
	}
	rows, err := job.csv.read()
	if err != nil {
		return err
	}
	res, err := job.run(ctx, rows)
	if err != nil {
		return err
	}
	out := job.out
	if out == "" {
		out = strings.TrimSuffix(job.csv.in, ".csv") + ".scored.csv"
	}
	if err := writeScored(out, rows, res); err != nil {
		return err
	}
	sum := res.summarize(rows, out)
	if job.truth != "" {
		f, err := os.Open(job.truth)
		if err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
		faults, err := simulate.ReadFaults(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--truth %s: %w", job.truth, err)
		}
		ev := evaluate(faults, sum.To, res.log.seen(), res.drifted, res.retrain)
		sum.Evaluation = &ev
	}
	sum.print(stdout)
	if job.jsonOut {
		return json.NewEncoder(stdout).Encode(sum)
	}
	return nil
}

// backtestJob is a parsed backtest command line: the input and the
// settings of every stage, as "run" would build them from the same flags.
type backtestJob struct {
	csv              csvFlags
	out, truth       string
	noDrift, jsonOut bool
	fc               features.Config
	sc               score.Config
	dc               *drift.Config // nil with --no-drift
	ac               alert.Config
	topics           pipeline.Topics
}

func parseBacktest(ctx context.Context, args []string, stderr io.Writer) (*backtestJob, error) {
	fs := newFlagSet("backtest", "Usage: smaint backtest --csv FILE [flags]\n\nRuns the features, score, drift and alert stages over historical readings in\nevent time, without Kafka, with the same code and settings as the stream. Writes\neach input row with its window's anomaly score and whether an alert was open,\nand prints a summary. Tune thresholds with it.\n", stderr)
	var (
		job backtestJob
		ff  featureFlags
		sf  scoreFlags
		df  driftFlags
		af  alertFlags
		lf  logFlags
	)
	job.csv.register(fs)
	fs.StringVar(&job.out, "out", "", "output CSV (default: the input name with .scored.csv)")
	fs.StringVar(&job.truth, "truth", "", "ground truth (JSON lines, as smaint simulate --truth writes) to score the alerts against")
	fs.BoolVar(&job.noDrift, "no-drift", false, "skip the drift stage")
	fs.BoolVar(&job.jsonOut, "json", false, "also print the summary as one JSON object on the last line")
	ff.register(fs)
	sf.register(fs)
	df.register(fs)
	af.register(fs)
	lf.register(fs, "warn")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if job.csv.in == "" {
		return nil, fmt.Errorf("%w: --csv is required", errUsage)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return nil, err
	}
	d := newDeps(log, schemas.NewSerde())
	job.topics = d.topics
	if job.fc, err = ff.config(d); err != nil {
		return nil, err
	}
	if job.sc, err = sf.config(ctx, d); err != nil {
		return nil, err
	}
	var disp *notify.Dispatcher
	if job.ac, disp, err = af.config(d); err != nil {
		return nil, err
	}
	if disp != nil {
		return nil, fmt.Errorf("%w: backtest sends no notifications; drop --webhook and --smtp-addr", errUsage)
	}
	if !job.noDrift {
		c := df.config(d)
		job.dc = &c
	}
	return &job, nil
}

// backtestResult is what the stages made of the input.
type backtestResult struct {
	scores  map[string][]schemas.AnomalyScore // by sensor, in window order
	alerts  []schemas.Alert                   // every record, in order
	log     alertLog
	drifted []schemas.DriftReport // the reports that found drift
	retrain int64                 // retrain requests
}

// run passes the rows, in event-time order, through the offline stages.
func (j *backtestJob) run(ctx context.Context, rows []row) (*backtestResult, error) {
	o, err := newOffline(ctx, j.fc, j.sc, j.dc, j.ac, j.topics)
	if err != nil {
		return nil, err
	}
	res := &backtestResult{scores: map[string][]schemas.AnomalyScore{}}
	o.onScore = func(s *schemas.AnomalyScore) { res.scores[s.SensorID] = append(res.scores[s.SensorID], *s) }
	o.onAlert = func(a *schemas.Alert) {
		res.alerts = append(res.alerts, *a)
		res.log.add(*a)
	}
	o.onDrift = func(r *schemas.DriftReport) {
		if r.Drifted {
			res.drifted = append(res.drifted, *r)
		}
	}
	o.onRetrain = func() { res.retrain++ }
	sorted := inEventOrder(rows)
	for i := 0; i < len(sorted); i += 1000 {
		if err := o.push(ctx, sorted[i:min(i+1000, len(sorted))]); err != nil {
			return nil, err
		}
	}
	if err := o.flush(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// writeScored writes each input row, in input order, with the score of
// the window it fell in (the latest one to start, for hopping windows) and
// whether an alert on its sensor was open at that window's end.
func writeScored(path string, rows []row, res *backtestResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"timestamp", "sensor_id", "value", "score", "is_anomaly", "alert"})
	open := alertIntervals(res.alerts)
	for _, rw := range rows {
		r := rw.r
		s, ok := windowOf(res.scores[r.SensorID], r.TS)
		rec := []string{r.TS.Format(time.RFC3339Nano), r.SensorID, strconv.FormatFloat(r.Value, 'g', -1, 64), "", "", "0"}
		if ok {
			rec[3] = strconv.FormatFloat(s.Score, 'f', 4, 64)
			rec[4] = strconv.FormatBool(s.IsAnomaly)
			if open(r.SensorID, s.WindowEnd) {
				rec[5] = "1"
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// windowOf finds the scored window holding t with the latest start.
func windowOf(scores []schemas.AnomalyScore, t time.Time) (schemas.AnomalyScore, bool) {
	i, _ := slices.BinarySearchFunc(scores, t, func(s schemas.AnomalyScore, t time.Time) int {
		if !s.WindowStart.After(t) {
			return -1
		}
		return 1
	})
	for j := i - 1; j >= 0; j-- {
		if s := scores[j]; !t.Before(s.WindowStart) && t.Before(s.WindowEnd) {
			return s, true
		}
		if scores[j].WindowEnd.Before(t) {
			break
		}
	}
	return schemas.AnomalyScore{}, false
}

// alertIntervals returns whether a sensor had an alert open at a time.
func alertIntervals(alerts []schemas.Alert) func(sensor string, at time.Time) bool {
	type span struct{ from, to time.Time }
	open := map[string]span{} // by alert id
	var spans = map[string][]span{}
	for _, a := range alerts {
		sp, ok := open[a.AlertID]
		if !ok {
			sp = span{from: a.OpenedAt, to: time.Unix(1<<40, 0)}
		}
		if a.State == schemas.StateResolved {
			sp.to = a.LastSeen
			spans[a.SensorID] = append(spans[a.SensorID], sp)
			delete(open, a.AlertID)
			continue
		}
		open[a.AlertID] = sp
	}
	for _, a := range alerts {
		if sp, ok := open[a.AlertID]; ok {
			spans[a.SensorID] = append(spans[a.SensorID], sp)
			delete(open, a.AlertID)
		}
	}
	return func(sensor string, at time.Time) bool {
		for _, sp := range spans[sensor] {
			if !at.Before(sp.from) && !at.After(sp.to) {
				return true
			}
		}
		return false
	}
}

// backtestSummary is what backtest prints.
type backtestSummary struct {
	Rows             int            `json:"rows"`
	Sensors          int            `json:"sensors"`
	From             time.Time      `json:"from"`
	To               time.Time      `json:"to"`
	Windows          int            `json:"windows"`
	AnomalousWindows int            `json:"anomalous_windows"`
	AlertsOpened     map[string]int `json:"alerts_opened"` // by kind
	DriftReports     int            `json:"drifted_reports"`
	RetrainEvents    int64          `json:"retrain_events"`
	Output           string         `json:"output"`
	Evaluation       *evaluation    `json:"evaluation,omitempty"` // with --truth
}

func (r *backtestResult) summarize(rows []row, out string) backtestSummary {
	s := backtestSummary{Rows: len(rows), Sensors: len(r.scores), AlertsOpened: map[string]int{}, DriftReports: len(r.drifted),
		RetrainEvents: r.retrain, Output: out,
		From: rows[0].r.TS, To: rows[0].r.TS}
	for _, rw := range rows {
		if rw.r.TS.Before(s.From) {
			s.From = rw.r.TS
		}
		if rw.r.TS.After(s.To) {
			s.To = rw.r.TS
		}
	}
	for _, ss := range r.scores {
		s.Windows += len(ss)
		for _, sc := range ss {
			if sc.IsAnomaly {
				s.AnomalousWindows++
			}
		}
	}
	for _, a := range r.alerts {
		if a.State == schemas.StateOpen {
			s.AlertsOpened[a.Kind.String()]++
		}
	}
	return s
}

func (s backtestSummary) print(w io.Writer) {
	fmt.Fprintf(w, "backtest of %d rows, %d sensors, %s to %s\n", s.Rows, s.Sensors, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	fmt.Fprintf(w, "  windows scored   %d, of which anomalous %d\n", s.Windows, s.AnomalousWindows)
	kinds := slices.Sorted(maps.Keys(s.AlertsOpened))
	opened := make([]string, len(kinds))
	for i, k := range kinds {
		opened[i] = fmt.Sprintf("%d %s", s.AlertsOpened[k], k)
	}
	if len(opened) == 0 {
		opened = []string{"none"}
	}
	fmt.Fprintf(w, "  alerts opened    %s\n", strings.Join(opened, ", "))
	fmt.Fprintf(w, "  drifted reports  %d, retrain requests %d\n", s.DriftReports, s.RetrainEvents)
	fmt.Fprintf(w, "  wrote            %s\n", s.Output)
	if s.Evaluation != nil {
		fmt.Fprintf(w, "against the ground truth\n")
		s.Evaluation.print(w)
	}
}
