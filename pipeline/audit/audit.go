// Package audit accounts for every reading through the pipeline's topics,
// and its database when given one: per stage, the readings it lost, the
// outputs it wrote twice, and the windows that counted a reading twice,
// all measured against the readings topic. Operators run it after an
// incident ("smaint audit"); the fault tests assert with it.
//
// It reads what a downstream consumer reads: committed records, from the
// start of each topic to its end at the time of the call. It holds what
// it reads in memory (about 200 bytes a reading), so it is meant for a
// topic's retained history, not for years of it.
package audit

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Report is what an audit found. Its JSON form is "smaint audit --json".
type Report struct {
	// Readings is the number of records on the readings topic, Distinct
	// the distinct reading ids among those that decode.
	Readings int64 `json:"readings"`
	Distinct int64 `json:"distinct_readings"`
	// Stages has one entry per stage audited, in pipeline order.
	Stages []Stage `json:"stages"`
}

// Stage is one stage's account. Problems are Lost, Duplicated,
// OverCounted and SplitAlerts; Missing is reported beside them, since a
// stage may rightly emit nothing for some input (a window still open).
type Stage struct {
	Name    string `json:"stage"`
	Topic   string `json:"topic"`   // the output audited
	Records int64  `json:"records"` // on Topic
	// Lost: inputs that should have an output and have none, and are
	// not dead-lettered either.
	Lost int64 `json:"lost"`
	// Duplicated: outputs beyond the first for one key (a reading id, a
	// window, an alert update).
	Duplicated int64 `json:"duplicated"`
	// OverCounted: windows whose count exceeds the distinct readings of
	// their sensor and span.
	OverCounted int64 `json:"over_counted_windows,omitempty"`
	// Missing: windows counting fewer readings than their sensor and span
	// hold, late ones included; or windows without a score.
	Missing int64 `json:"missing,omitempty"`
	// SplitAlerts: incidents (a sensor, kind and opening time) that
	// carry more than one alert id.
	SplitAlerts int64    `json:"split_alerts,omitempty"`
	Examples    []string `json:"examples,omitempty"` // a few of the keys at fault
}

// Problems is the number of lost, duplicated and over-counted outputs.
func (s Stage) Problems() int64 { return s.Lost + s.Duplicated + s.OverCounted + s.SplitAlerts }

// OK reports whether no stage has a problem.
func (r *Report) OK() bool {
	for _, s := range r.Stages {
		if s.Problems() > 0 {
			return false
		}
	}
	return true
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "audit: %d readings on the readings topic, %d distinct\n", r.Readings, r.Distinct)
	fmt.Fprintf(w, "  %-10s %-24s %10s %8s %11s %13s %8s %7s\n", "stage", "output", "records", "lost", "duplicated", "over-counted", "missing", "split")
	for _, s := range r.Stages {
		fmt.Fprintf(w, "  %-10s %-24s %10d %8d %11d %13d %8d %7d\n", s.Name, s.Topic, s.Records, s.Lost, s.Duplicated, s.OverCounted, s.Missing, s.SplitAlerts)
		for _, e := range s.Examples {
			fmt.Fprintf(w, "             e.g. %s\n", e)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "no reading lost, no output duplicated, no window counting a reading twice")
	}
}

// StoredReadings lists the reading ids a database holds with timestamps
// in [from, to]; an audit given one also accounts for the readings sink.
type StoredReadings func(ctx context.Context, from, to time.Time) (map[string]bool, error)

// Source is what an audit reads: a topic's committed records, handed to
// fn in offset order per partition. ReadTopic makes one from Kafka.
type Source func(ctx context.Context, topic string, fn func(Record)) error

// Record is one record of a topic, as an audit needs it.
type Record struct {
	Partition int32
	Offset    int64
	Value     []byte
	Headers   map[string]string
}

// Config says what to audit.
type Config struct {
	Topics pipeline.Topics // default pipeline.DefaultTopics()
	Serde  *schemas.Serde  // default schemas.NewSerde()
	Stored StoredReadings  // nil: no database
	// Examples is how many offending keys to list per stage (default 3).
	Examples int
}

// Run audits what src reads.
func Run(ctx context.Context, src Source, cfg Config) (*Report, error) {
	if cfg.Topics.Readings == "" {
		cfg.Topics = pipeline.DefaultTopics()
	}
	if cfg.Serde == nil {
		cfg.Serde = schemas.NewSerde()
	}
	if cfg.Examples == 0 {
		cfg.Examples = 3
	}
	a := &auditor{cfg: cfg, src: src, dec: cfg.Serde.NewDecoder()}
	if err := a.read(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Readings: a.readings, Distinct: int64(len(a.ids))}
	rep.Stages = append(rep.Stages, a.dedupe(), a.late(), a.features(), a.scores(), a.drift(), a.alerts(), a.retrain())
	if cfg.Stored != nil {
		s, err := a.sink(ctx)
		if err != nil {
			return nil, err
		}
		rep.Stages = append(rep.Stages, s)
	}
	return rep, nil
}

type windowKey struct {
	sensor     string
	start, end int64
}

type auditor struct {
	cfg Config
	src Source
	dec *schemas.Decoder

	readings int64
	ids      map[string]bool    // reading id -> some position of it was not dead-lettered
	dlqPos   map[string]bool    // "partition/offset" of readings dead-lettered
	conflict map[string]bool    // reading ids the sink dead-lettered as conflicts
	clean    map[string]int     // reading id -> copies on the clean topic
	bySensor map[string][]int64 // sensor -> timestamps (Unix ns) of its clean readings, sorted
	lateIDs  map[string]int
	lateWin  map[string][]int64 // sensor -> timestamps of late readings
	windows  map[windowKey]schemas.FeatureVector
	winDup   map[windowKey]int
	featRecs int64
	topics   map[string]int64 // records read per topic
	scored   map[windowKey]int
	driftKey map[string]int
	alertKey map[string]int
	incident map[string]map[string]bool // sensor/kind/opened -> alert ids
	retrains map[string]int
	ts       [2]int64 // min and max clean timestamp
}

// read reads every topic once.
func (a *auditor) read(ctx context.Context) error {
	t := a.cfg.Topics
	a.ids, a.dlqPos, a.conflict = map[string]bool{}, map[string]bool{}, map[string]bool{}
	a.clean, a.bySensor, a.lateIDs, a.lateWin = map[string]int{}, map[string][]int64{}, map[string]int{}, map[string][]int64{}
	a.windows, a.winDup, a.scored = map[windowKey]schemas.FeatureVector{}, map[windowKey]int{}, map[windowKey]int{}
	a.driftKey, a.alertKey, a.incident, a.retrains = map[string]int{}, map[string]int{}, map[string]map[string]bool{}, map[string]int{}
	a.topics = map[string]int64{}
	a.ts = [2]int64{1<<63 - 1, -1 << 63}

	// Dead letters first: they say which readings were rightly dropped.
	err := a.src(ctx, t.DLQ, func(r Record) {
		a.topics[t.DLQ]++
		switch r.Headers[pipeline.HeaderSourceTopic] {
		case t.Readings:
			a.dlqPos[r.Headers[pipeline.HeaderSourcePartition]+"/"+r.Headers[pipeline.HeaderSourceOffset]] = true
		case t.Clean:
			var v schemas.SensorReading
			if r.Headers[pipeline.HeaderErrorKind] == pipeline.KindConflict && a.dec.Decode(ctx, r.Value, &v) == nil {
				a.conflict[v.ReadingID] = true
			}
		}
	})
	if err != nil {
		return err
	}
	var v schemas.SensorReading
	err = a.src(ctx, t.Readings, func(r Record) {
		a.readings++
		if a.dec.Decode(ctx, r.Value, &v) != nil {
			return
		}
		pos := strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
		a.ids[v.ReadingID] = a.ids[v.ReadingID] || !a.dlqPos[pos]
	})
	if err != nil {
		return err
	}
	err = a.src(ctx, t.Clean, func(r Record) {
		a.topics[t.Clean]++
		if a.dec.Decode(ctx, r.Value, &v) != nil {
			return
		}
		a.clean[v.ReadingID]++
		if a.clean[v.ReadingID] == 1 {
			ns := v.TS.UnixNano()
			a.bySensor[v.SensorID] = append(a.bySensor[v.SensorID], ns)
			a.ts[0], a.ts[1] = min(a.ts[0], ns), max(a.ts[1], ns)
		}
	})
	if err != nil {
		return err
	}
	err = a.src(ctx, t.Late, func(r Record) {
		a.topics[t.Late]++
		if a.dec.Decode(ctx, r.Value, &v) != nil {
			return
		}
		a.lateIDs[v.ReadingID]++
		if a.lateIDs[v.ReadingID] == 1 {
			a.lateWin[v.SensorID] = append(a.lateWin[v.SensorID], v.TS.UnixNano())
		}
	})
	if err != nil {
		return err
	}
	for _, ts := range a.bySensor {
		slices.Sort(ts)
	}
	for _, ts := range a.lateWin {
		slices.Sort(ts)
	}
	return a.readOutputs(ctx)
}

func (a *auditor) readOutputs(ctx context.Context) error {
	t := a.cfg.Topics
	var fv schemas.FeatureVector
	err := a.src(ctx, t.Features, func(r Record) {
		a.topics[t.Features]++
		if a.dec.Decode(ctx, r.Value, &fv) != nil {
			return
		}
		k := windowKey{fv.SensorID, fv.WindowStart.UnixNano(), fv.WindowEnd.UnixNano()}
		a.winDup[k]++
		if a.winDup[k] == 1 {
			a.windows[k] = fv
		}
	})
	if err != nil {
		return err
	}
	var sc schemas.AnomalyScore
	err = a.src(ctx, t.Scores, func(r Record) {
		a.topics[t.Scores]++
		if a.dec.Decode(ctx, r.Value, &sc) == nil {
			a.scored[windowKey{sc.SensorID, sc.WindowStart.UnixNano(), sc.WindowEnd.UnixNano()}]++
		}
	})
	if err != nil {
		return err
	}
	var dr schemas.DriftReport
	err = a.src(ctx, t.Drift, func(r Record) {
		a.topics[t.Drift]++
		if a.dec.Decode(ctx, r.Value, &dr) == nil {
			a.driftKey[dr.SensorID+" "+dr.SensorType+" "+dr.CurrentStart.Format(time.RFC3339Nano)+" "+dr.CurrentEnd.Format(time.RFC3339Nano)]++
		}
	})
	if err != nil {
		return err
	}
	var al schemas.Alert
	err = a.src(ctx, t.Alerts, func(r Record) {
		a.topics[t.Alerts]++
		if a.dec.Decode(ctx, r.Value, &al) != nil {
			return
		}
		a.alertKey[fmt.Sprintf("%s %v %d %s", al.AlertID, al.State, al.Occurrences, al.LastSeen.Format(time.RFC3339Nano))]++
		inc := fmt.Sprintf("%s %v opened %s", al.SensorID, al.Kind, al.OpenedAt.Format(time.RFC3339Nano))
		if a.incident[inc] == nil {
			a.incident[inc] = map[string]bool{}
		}
		a.incident[inc][al.AlertID] = true
	})
	if err != nil {
		return err
	}
	var re schemas.RetrainEvent
	return a.src(ctx, t.Retrain, func(r Record) {
		a.topics[t.Retrain]++
		if a.dec.Decode(ctx, r.Value, &re) == nil {
			a.retrains[re.EventID]++
		}
	})
}

// examples collects up to n sorted keys.
type examples struct {
	n    int
	keys []string
}

func (e *examples) add(format string, args ...any) {
	e.keys = append(e.keys, fmt.Sprintf(format, args...))
}

func (e *examples) list() []string {
	sort.Strings(e.keys)
	return e.keys[:min(len(e.keys), e.n)]
}

// dedupe: every reading id not wholly dead-lettered reaches the clean
// topic once.
func (a *auditor) dedupe() Stage {
	s, ex := written(a, "dedupe", a.cfg.Topics.Clean, a.clean, "reading")
	for id, valid := range a.ids {
		if valid && a.clean[id] == 0 {
			s.Lost++
			ex.add("lost %s", id)
		}
	}
	s.Examples = ex.list()
	return s
}

// late: a late reading is written to the late topic once.
func (a *auditor) late() Stage {
	s, ex := written(a, "features", a.cfg.Topics.Late, a.lateIDs, "late reading")
	s.Examples = ex.list()
	return s
}

// features: each window is written once and counts each reading of its
// sensor and span [start, end) once (a count window's end is just after
// its last reading).
func (a *auditor) features() Stage {
	s, ex := written(a, "features", a.cfg.Topics.Features, a.winDup, "window")
	for k, fv := range a.windows {
		inSpan := within(a.bySensor[k.sensor], k.start, k.end)
		if fv.Count > inSpan {
			s.OverCounted++
			ex.add("window %v counts %d of %d readings", k, fv.Count, inSpan)
		}
		if fv.Count+within(a.lateWin[k.sensor], k.start, k.end) < inSpan {
			s.Missing++
		}
	}
	s.Examples = ex.list()
	return s
}

// scores: each window is scored once.
func (a *auditor) scores() Stage {
	s, ex := written(a, "score", a.cfg.Topics.Scores, a.scored, "score of window")
	for k := range a.windows {
		if a.scored[k] == 0 {
			s.Missing++
		}
	}
	s.Examples = ex.list()
	return s
}

func (a *auditor) drift() Stage {
	s, ex := written(a, "drift", a.cfg.Topics.Drift, a.driftKey, "drift report")
	s.Examples = ex.list()
	return s
}

// alerts: each update of an alert is written once, and an incident keeps
// one alert id.
func (a *auditor) alerts() Stage {
	s, ex := written(a, "alert", a.cfg.Topics.Alerts, a.alertKey, "alert update")
	for inc, ids := range a.incident {
		if len(ids) > 1 {
			s.SplitAlerts++
			ex.add("incident %s has %d alert ids", inc, len(ids))
		}
	}
	s.Examples = ex.list()
	return s
}

func (a *auditor) retrain() Stage {
	s, ex := written(a, "drift", a.cfg.Topics.Retrain, a.retrains, "retrain event")
	s.Examples = ex.list()
	return s
}

// sink: every clean reading is stored, unless it was dead-lettered as a
// conflict. (Its table keys a reading by sensor and time, so a reading
// cannot be stored twice: there is nothing to count as duplicated.)
func (a *auditor) sink(ctx context.Context) (Stage, error) {
	s := Stage{Name: "sink", Topic: "sensor_readings"}
	if len(a.clean) == 0 {
		return s, nil
	}
	stored, err := a.cfg.Stored(ctx, time.Unix(0, a.ts[0]), time.Unix(0, a.ts[1]))
	if err != nil {
		return s, fmt.Errorf("audit: reading the database: %w", err)
	}
	ex := examples{n: a.cfg.Examples}
	for id := range a.clean {
		if stored[id] {
			s.Records++
		} else if !a.conflict[id] {
			s.Lost++
			ex.add("not stored %s", id)
		}
	}
	s.Examples = ex.list()
	return s, nil
}

// written starts the account of stage name's output topic: its records,
// and the copies beyond the first of each key in counts (each a what).
func written[K comparable](a *auditor, name, topic string, counts map[K]int, what string) (Stage, *examples) {
	ex := &examples{n: a.cfg.Examples}
	return Stage{Name: name, Topic: topic, Records: a.topics[topic], Duplicated: repeats(counts, what, ex)}, ex
}

// within counts the values of sorted in [lo, hi).
func within(sorted []int64, lo, hi int64) int64 {
	a, _ := slices.BinarySearch(sorted, lo)
	b, _ := slices.BinarySearch(sorted, hi)
	return int64(b - a)
}

// repeats returns the copies beyond the first over counts, and notes the
// keys repeated.
func repeats[K comparable](counts map[K]int, what string, ex *examples) int64 {
	var n int64
	for k, c := range counts {
		if c > 1 {
			n += int64(c - 1)
			ex.add("%s %v written %d times", what, k, c)
		}
	}
	return n
}

func (k windowKey) String() string {
	return k.sensor + " " + time.Unix(0, k.start).UTC().Format(time.RFC3339) + ".." + time.Unix(0, k.end).UTC().Format(time.RFC3339)
}
