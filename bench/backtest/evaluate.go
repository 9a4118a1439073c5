package backtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Labels says how to read the labels of a file: which column holds the
// event time and which the label (a number, non-zero while an anomaly is
// under way), and how many leading lines are a training part that is not
// scored. The zero value, after WithDefaults, reads SKAB's files but
// their time column's name ("datetime").
type Labels struct {
	TimeCol    string // default "timestamp"
	LabelCol   string // default "anomaly"
	TimeFormat string // as Format.TimeFormat (default auto)
	Comma      rune   // as Format.Comma
	Skip       int    // leading lines left out of the scores
}

// WithDefaults returns l with every unset field at its default.
func (l Labels) WithDefaults() Labels {
	if l.TimeCol == "" {
		l.TimeCol = "timestamp"
	}
	if l.LabelCol == "" {
		l.LabelCol = "anomaly"
	}
	if l.TimeFormat == "" {
		l.TimeFormat = "auto"
	}
	return l
}

// Label is one labelled time.
type Label struct {
	TS        time.Time
	Anomalous bool
}

// ReadLabels reads the labels of the file at path, past its Skip lines.
func ReadLabels(path string, l Labels) ([]Label, error) {
	l = l.WithDefaults()
	var ti, li int
	var out []Label
	times := timeReader{format: l.TimeFormat}
	err := eachLine(path, l.Comma, func(header []string) error {
		ti, li = indexOf(header, l.TimeCol), indexOf(header, l.LabelCol)
		var missing []string
		for _, c := range [...]struct {
			at   int
			name string
		}{{ti, l.TimeCol}, {li, l.LabelCol}} {
			if c.at < 0 {
				missing = append(missing, strconv.Quote(c.name))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: %s has no column %s (columns: %s)", ErrFormat, path, strings.Join(missing, " or "), strings.Join(header, ", "))
		}
		return nil
	}, func(rec []string, line int) error {
		if line-2 < l.Skip {
			return nil
		}
		ts, err := times.parse(rec[ti])
		if err != nil {
			return fmt.Errorf("%s %w", l.TimeCol, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[li]), 64)
		if err != nil {
			return fmt.Errorf("%s %q: %w", l.LabelCol, rec[li], err)
		}
		out = append(out, Label{TS: ts, Anomalous: v != 0})
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%w: %s has no labelled lines past the %d skipped", ErrFormat, path, l.Skip)
	}
	return out, err
}

func indexOf(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

// Flagged are the times a scored file flags as anomalous, by Unix
// nanoseconds: a time is flagged when any of its sensors' rows is.
type Flagged map[int64]bool

// ReadFlagged reads a scored file (see WriteScored): by "alert", the times
// at which an alert was open; by "window", those whose last closed window
// was anomalous.
func ReadFlagged(path, by string) (Flagged, error) {
	col := map[string]string{"alert": "alert", "window": "is_anomaly"}[by]
	if col == "" {
		return nil, fmt.Errorf("%w: flag by %q (want alert or window)", ErrFormat, by)
	}
	var ti, fi int
	out := Flagged{}
	err := eachLine(path, ',', func(header []string) error {
		ti, fi = indexOf(header, "timestamp"), indexOf(header, col)
		if ti < 0 || fi < 0 {
			return fmt.Errorf("%w: %s is not a scored file (no %q column)", ErrFormat, path, col)
		}
		return nil
	}, func(rec []string, _ int) error {
		ts, err := time.Parse(time.RFC3339Nano, rec[ti])
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", rec[ti], err)
		}
		if f := rec[fi]; f == "1" || f == "true" {
			out[ts.UnixNano()] = true
		}
		return nil
	})
	return out, err
}

// Detection is how well flagged times match labels.
type Detection struct {
	Points         int     `json:"points"`    // labelled times scored
	Anomalous      int     `json:"anomalous"` // of which labelled anomalous
	TP             int     `json:"true_positives"`
	FP             int     `json:"false_positives"`
	TN             int     `json:"true_negatives"`
	FN             int     `json:"false_negatives"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	FAR            float64 `json:"far"`             // false alarm rate: FP / (FP + TN)
	MAR            float64 `json:"mar"`             // missed alarm rate: FN / (FN + TP)
	Events         int     `json:"events"`          // runs of anomalous labels
	EventsDetected int     `json:"events_detected"` // with a flagged time within them
	MeanDelay      float64 `json:"mean_delay_s"`    // from an event's start to its first flagged time
	MaxDelay       float64 `json:"max_delay_s"`
	// NAB is the windowed benchmark score in each of its profiles (see
	// NABScore, and addNAB for what counts as a detection).
	NAB    []NABScore `json:"nab"`
	delays float64    // their sum
}

// Add scores one file's labels against its flagged times. Pointwise counts
// and events add up over files, as a benchmark of many files reports
// them; call Finish after the last.
func (d *Detection) Add(labels []Label, flagged Flagged) {
	d.addNAB(labels, flagged)
	var start time.Time
	inEvent, detected := false, false
	endEvent := func() {
		if inEvent {
			d.Events++
			if detected {
				d.EventsDetected++
			}
		}
		inEvent, detected = false, false
	}
	for _, l := range labels {
		f := flagged[l.TS.UnixNano()]
		d.Points++
		switch {
		case l.Anomalous && f:
			d.TP++
		case l.Anomalous:
			d.FN++
		case f:
			d.FP++
		default:
			d.TN++
		}
		if !l.Anomalous {
			endEvent()
			continue
		}
		d.Anomalous++
		if !inEvent {
			inEvent, start = true, l.TS
		}
		if f && !detected {
			detected = true
			delay := l.TS.Sub(start).Seconds()
			d.delays += delay
			d.MaxDelay = max(d.MaxDelay, delay)
		}
	}
	endEvent()
}

// Finish works out the rates from the counts.
func (d *Detection) Finish() {
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	d.Precision, d.Recall = ratio(d.TP, d.TP+d.FP), ratio(d.TP, d.TP+d.FN)
	if d.Precision+d.Recall > 0 {
		d.F1 = 2 * d.Precision * d.Recall / (d.Precision + d.Recall)
	}
	d.FAR, d.MAR = ratio(d.FP, d.FP+d.TN), ratio(d.FN, d.FN+d.TP)
	if d.EventsDetected > 0 {
		d.MeanDelay = d.delays / float64(d.EventsDetected)
	}
	d.finishNAB()
}

// Print writes the detection for people.
func (d Detection) Print(w io.Writer) {
	fmt.Fprintf(w, "pointwise over %d labelled times (%d anomalous)\n", d.Points, d.Anomalous)
	fmt.Fprintf(w, "  precision %.3f  recall %.3f  F1 %.3f\n", d.Precision, d.Recall, d.F1)
	fmt.Fprintf(w, "  FAR %.1f%%  MAR %.1f%%   (TP %d, FP %d, TN %d, FN %d)\n", 100*d.FAR, 100*d.MAR, d.TP, d.FP, d.TN, d.FN)
	fmt.Fprintf(w, "events: %d of %d detected; delay mean %.0fs, max %.0fs\n", d.EventsDetected, d.Events, d.MeanDelay, d.MaxDelay)
	if len(d.NAB) > 0 {
		fmt.Fprintf(w, "windowed score (NAB; each flagged span's onset a detection):")
		for _, s := range d.NAB {
			fmt.Fprintf(w, " %s %.1f", s.Profile, s.Score)
		}
		fmt.Fprintln(w)
	}
}

// EvaluateFiles scores scored files against the labels of their inputs,
// pointwise and by event over all of them together, as a benchmark of
// many files is scored: labels[i] labels the times of scored[i] (""
// means labels[i] with .csv replaced by .scored.csv, backtest's default
// name), and by says what flags a time (see ReadFlagged).
func EvaluateFiles(labels, scored []string, l Labels, by string) (Detection, error) {
	var d Detection
	if len(labels) == 0 || (len(scored) != 0 && len(scored) != len(labels)) {
		return d, fmt.Errorf("%w: %d labelled files and %d scored ones (want one or more, and as many scored as labelled, or none)", ErrFormat, len(labels), len(scored))
	}
	for i, path := range labels {
		ls, err := ReadLabels(path, l)
		if err != nil {
			return d, err
		}
		s := strings.TrimSuffix(path, ".csv") + ".scored.csv"
		if len(scored) > 0 {
			s = scored[i]
		}
		flagged, err := ReadFlagged(s, by)
		if err != nil {
			return d, err
		}
		d.Add(ls, flagged)
	}
	d.Finish()
	return d, nil
}
