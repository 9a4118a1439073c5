// Package backtest replays historical readings through the analytics
// stages, in process and in event time (pipeline.Offline), and reports
// what they made of them: each row's window score and whether an alert
// was open, a summary and, with the simulator's ground truth, how well the
// alerts match it. "smaint backtest" and "smaint train" are its command
// lines.
package backtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/forecast"
	"github.com/smaint/smaint/stages/simulate"
)

// Replay pushes readings, in the order given, to topic of off, a thousand
// at a time, then closes the windows still open (as the stream does when
// its input goes idle).
func Replay(ctx context.Context, off *pipeline.Offline, topic string, readings []schemas.SensorReading) error {
	for i := 0; i < len(readings); i += 1000 {
		if err := pipeline.Push(ctx, off, topic, readings[i:min(i+1000, len(readings))]); err != nil {
			return err
		}
	}
	return off.Tick(ctx, time.Now().Add(24*time.Hour))
}

// Open reads the rows of the CSV file at path and builds, in process, the
// stages specs with the configuration c: what a backtest, or a training on
// history, runs them through.
//
// Windows "auto" (c.Features.Auto) are sized here from the rows'
// SamplingInterval (features.WindowsFor), and c says which were used.
func Open(ctx context.Context, path string, f Format, c *stages.Config, specs []stages.Spec) ([]Row, *pipeline.Offline, error) {
	rows, err := ReadCSV(path, f)
	if err != nil {
		return nil, nil, err
	}
	if c.Features.Auto {
		if iv := SamplingInterval(rows); iv > 0 {
			c.Features.SetWindowsFor(iv)
		} else { // one reading a sensor: nothing to size from, so the default
			c.Features.Auto, c.Features.Size = false, features.Config{}.WithDefaults().Size
		}
	}
	off, err := stages.Offline(ctx, c, specs)
	return rows, off, err
}

// SamplingInterval is how often the rows' sensors are read: the median,
// over sensors, of the median time between a sensor's consecutive
// readings; 0 if no sensor was read twice at different times.
func SamplingInterval(rows []Row) time.Duration {
	times := map[string][]int64{}
	for _, rw := range rows {
		r := &rw.Reading
		times[r.SensorID] = append(times[r.SensorID], r.TS.UnixMicro())
	}
	var perSensor []int64
	for _, ts := range times {
		slices.Sort(ts)
		var gaps []int64
		for i := 1; i < len(ts); i++ {
			if g := ts[i] - ts[i-1]; g > 0 {
				gaps = append(gaps, g)
			}
		}
		if len(gaps) > 0 {
			slices.Sort(gaps)
			perSensor = append(perSensor, gaps[len(gaps)/2])
		}
	}
	if len(perSensor) == 0 {
		return 0
	}
	slices.Sort(perSensor)
	return time.Duration(perSensor[len(perSensor)/2]) * time.Microsecond
}

// ResultDelay is how long after a window's end its result is known, for
// WriteScored: a time window closes once the readings pass its end by the
// lateness; a count window closes with its last reading, and its end is
// one microsecond past that reading.
func ResultDelay(c features.Config) time.Duration {
	if c.Count > 0 {
		return -time.Microsecond
	}
	if c = c.WithDefaults(); c.Lateness == features.NoLateness {
		return 0
	}
	return c.Lateness
}

// Result is what the stages made of the rows.
type Result struct {
	Scores    map[string][]schemas.AnomalyScore // by sensor, in window order
	Alerts    []schemas.Alert                   // every record, in order
	Log       simulate.AlertLog
	Drifted   []schemas.DriftReport // the reports that found drift
	Forecasts []schemas.Forecast
	Retrain   int64 // retrain requests
}

// Run replays rows, in event-time order, through off as the clean
// readings of topics, and returns what came out on the other topics.
func Run(ctx context.Context, off *pipeline.Offline, topics pipeline.Topics, rows []Row) (*Result, error) {
	res := &Result{Scores: map[string][]schemas.AnomalyScore{}}
	pipeline.Observe(off, topics.Scores, func(s *schemas.AnomalyScore) { res.Scores[s.SensorID] = append(res.Scores[s.SensorID], *s) })
	pipeline.Observe(off, topics.Alerts, func(a *schemas.Alert) {
		res.Alerts = append(res.Alerts, *a)
		res.Log.Add(*a)
	})
	pipeline.Observe(off, topics.Drift, func(r *schemas.DriftReport) {
		if r.Drifted {
			res.Drifted = append(res.Drifted, *r)
		}
	})
	pipeline.Observe(off, topics.Forecasts, func(f *schemas.Forecast) { res.Forecasts = append(res.Forecasts, *f) })
	off.Tap(topics.Retrain, func([]byte) error { res.Retrain++; return nil })
	if err := Replay(ctx, off, topics.Clean, InEventOrder(rows)); err != nil {
		return nil, err
	}
	return res, nil
}

// ScoredHeader is the first line of the scored file.
var ScoredHeader = []string{"timestamp", "sensor_id", "value", "window_start", "window_end", "score", "is_anomaly", "alert"}

// WriteScored writes each input row, in input order, with what was known
// of its sensor when the row arrived: the last of its windows that had
// closed by then (its bounds, its score in full precision, whether it was
// anomalous), and whether an alert on the sensor was open. A window closes
// once the readings reach its end plus lateness, so a row never carries a
// result its own window, or a later one, produced: the file is causal,
// and scoring it row by row measures what the stream would have said.
// Rows before their sensor's first window closed have empty score fields.
// delay is how long after its end a window's result is known
// (ResultDelay).
func WriteScored(path string, rows []Row, res *Result, delay time.Duration) error {
	open := alertsOpen(res.Alerts, delay)
	rec := make([]string, len(ScoredHeader))
	return writeCSV(path, ScoredHeader, func(write func([]string)) {
		for _, rw := range rows {
			r := rw.Reading
			clear(rec)
			rec[0], rec[1], rec[2], rec[7] = r.TS.Format(time.RFC3339Nano), r.SensorID, strconv.FormatFloat(r.Value, 'g', -1, 64), "0"
			if s, ok := lastClosed(res.Scores[r.SensorID], r.TS.Add(-delay)); ok {
				rec[3], rec[4] = s.WindowStart.Format(time.RFC3339Nano), s.WindowEnd.Format(time.RFC3339Nano)
				rec[5], rec[6] = strconv.FormatFloat(s.Score, 'g', -1, 64), strconv.FormatBool(s.IsAnomaly)
			}
			if open(r.SensorID, r.TS) {
				rec[7] = "1"
			}
			write(rec)
		}
	})
}

// lastClosed finds, among scores in window order, the last window that
// ended at or before t.
func lastClosed(scores []schemas.AnomalyScore, t time.Time) (schemas.AnomalyScore, bool) {
	i, _ := slices.BinarySearchFunc(scores, t, func(s schemas.AnomalyScore, t time.Time) int {
		if s.WindowEnd.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return schemas.AnomalyScore{}, false
	}
	return scores[i-1], true
}

// alertsOpen returns whether, at a time, a sensor had an anomaly alert
// (kind ANOMALY or THRESHOLD) known to be open: the window of its first
// record of such a kind had closed (its end plus lateness had passed) and
// its RESOLVED record's had not. Drift and silence alerts say a
// distribution moved or data stopped, not that the sensor is anomalous,
// and are left out.
func alertsOpen(alerts []schemas.Alert, lateness time.Duration) func(sensor string, at time.Time) bool {
	type span struct{ from, to time.Time }
	never := time.Unix(1<<40, 0)
	byID := map[string]*span{}
	spans := map[string][]*span{}
	for _, a := range alerts {
		sp := byID[a.AlertID]
		if sp == nil && a.Kind != schemas.KindAnomaly && a.Kind != schemas.KindThreshold {
			continue
		}
		if sp == nil {
			sp = &span{from: a.LastSeen.Add(lateness), to: never}
			byID[a.AlertID] = sp
			spans[a.SensorID] = append(spans[a.SensorID], sp)
		}
		if a.State == schemas.StateResolved {
			sp.to = a.LastSeen.Add(lateness)
		}
	}
	return func(sensor string, at time.Time) bool {
		for _, sp := range spans[sensor] {
			if !at.Before(sp.from) && at.Before(sp.to) {
				return true
			}
		}
		return false
	}
}

// Summary is what a backtest prints; its JSON form is the last line of
// "smaint backtest --json".
type Summary struct {
	Rows             int            `json:"rows"`
	Sensors          int            `json:"sensors"`
	From             time.Time      `json:"from"`
	To               time.Time      `json:"to"`
	WindowSpec       string         `json:"window_spec"`         // the windows used, as --windows reads them
	Interval         float64        `json:"sampling_interval_s"` // see SamplingInterval
	Windows          int            `json:"windows"`
	AnomalousWindows int            `json:"anomalous_windows"`
	AlertsOpened     map[string]int `json:"alerts_opened"` // by kind
	DriftReports     int            `json:"drifted_reports"`
	RetrainEvents    int64          `json:"retrain_events"`
	Output           string         `json:"output"`
	ForecastsFile    string         `json:"forecasts_file,omitempty"` // where the forecasts were written, if anywhere
	AlertsFile       string         `json:"alerts_file,omitempty"`    // where the alert records were written, if anywhere
	// Forecasts scores the forecasts against what happened at their
	// horizon, and against the naive forecast; nil without any.
	Forecasts  *ForecastSummary     `json:"forecasts,omitempty"`
	Evaluation *simulate.Evaluation `json:"evaluation,omitempty"` // against a ground truth
}

// ForecastSummary is how the forecasts did.
type ForecastSummary struct {
	Issued   int     `json:"issued"`
	HorizonS float64 `json:"horizon_s"`
	forecast.Accuracy
}

// Summarize sums up res for rows, whose scored file is out.
func (res *Result) Summarize(rows []Row, out string) Summary {
	s := Summary{Rows: len(rows), Sensors: len(res.Scores), AlertsOpened: map[string]int{}, DriftReports: len(res.Drifted),
		RetrainEvents: res.Retrain, Output: out, From: rows[0].Reading.TS, To: rows[0].Reading.TS,
		Interval: SamplingInterval(rows).Seconds()}
	for _, rw := range rows {
		s.From, s.To = minTime(s.From, rw.Reading.TS), maxTime(s.To, rw.Reading.TS)
	}
	for _, ss := range res.Scores {
		s.Windows += len(ss)
		for _, sc := range ss {
			if sc.IsAnomaly {
				s.AnomalousWindows++
			}
		}
	}
	if len(res.Forecasts) > 0 {
		s.Forecasts = &ForecastSummary{Issued: len(res.Forecasts), HorizonS: res.Forecasts[0].HorizonS, Accuracy: forecast.Evaluate(res.Forecasts)}
	}
	for _, a := range res.Alerts {
		if a.State == schemas.StateOpen {
			s.AlertsOpened[a.Kind.String()]++
		}
	}
	return s
}

// Evaluate adds the evaluation of res against the faults of a ground truth.
func (s *Summary) Evaluate(res *Result, faults []simulate.Fault) {
	crossed := simulate.Crossings{}
	for i := range res.Forecasts {
		crossed.Add(&res.Forecasts[i])
	}
	ev := simulate.Evaluate(faults, s.To, res.Log.Seen(), res.Drifted, crossed, res.Retrain)
	s.Evaluation = &ev
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Print writes the summary for people.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "backtest of %d rows, %d sensors, %s to %s\n", s.Rows, s.Sensors, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	if s.WindowSpec != "" {
		fmt.Fprintf(w, "  windows          %s (readings every %v)\n", s.WindowSpec, time.Duration(s.Interval*1e9).Round(time.Microsecond))
	}
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
	if f := s.Forecasts; f != nil {
		horizon := time.Duration(f.HorizonS * float64(time.Second))
		fmt.Fprintf(w, "  forecasts        %d at a horizon of %v: %s\n", f.Issued, horizon, f.Accuracy)
		if span := s.To.Sub(s.From); f.Issued > 0 && f.Accuracy.Sensors == 0 && horizon >= span/2 {
			fmt.Fprintf(w, "                   (the data spans %v: a shorter --forecast-horizon lets forecasts be scored)\n", span.Round(time.Second))
		}
	}
	fmt.Fprintf(w, "  wrote            %s\n", s.Output)
	if s.ForecastsFile != "" {
		fmt.Fprintf(w, "                   %s (the forecasts)\n", s.ForecastsFile)
	}
	if s.AlertsFile != "" {
		fmt.Fprintf(w, "                   %s (the alert records)\n", s.AlertsFile)
	}
	if s.Evaluation != nil {
		fmt.Fprintf(w, "against the ground truth\n")
		s.Evaluation.Print(w)
	}
}
