// Package alert turns anomaly scores and drift reports into maintenance
// alerts: one alert per incident, not one per window. An anomaly alert
// opens when K of a sensor's last M windows score anomalous, is updated
// while the incident lasts, and resolves after a quiet period; drift and a
// sensor falling silent raise alerts of their own. Each alert says what
// drove it and what to do.
//
// Every change of an alert is a record on maintenance.alerts with the
// same alert_id: OPEN, then UPDATED (when its severity rises, or every
// UpdateEvery of event time while it lasts), then RESOLVED. A drift alert
// whose sensor then turns anomalous becomes that anomaly's alert (an
// UPDATED record of kind ANOMALY), rather than a second alert for one
// incident.
package alert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Event is one input of the stage: an anomaly score, a drift report or a
// forecast.
type Event struct {
	Score    *schemas.AnomalyScore
	Drift    *schemas.DriftReport
	Forecast *schemas.Forecast
}

// Decode returns the runner's decoder for Events from the three topics.
func Decode(scoresTopic, driftTopic, forecastsTopic string) pipeline.DecodeFunc[Event] {
	return func(ctx context.Context, d *schemas.Decoder, topic string, b []byte, ev *Event) error {
		switch topic {
		case scoresTopic:
			*ev = Event{Score: new(schemas.AnomalyScore)}
			return d.Decode(ctx, b, ev.Score)
		case driftTopic:
			*ev = Event{Drift: new(schemas.DriftReport)}
			return d.Decode(ctx, b, ev.Drift)
		case forecastsTopic:
			*ev = Event{Forecast: new(schemas.Forecast)}
			return d.Decode(ctx, b, ev.Forecast)
		}
		return fmt.Errorf("%w: alert stage does not read topic %s", pipeline.ErrInvalid, topic)
	}
}

// Config configures the alert stage.
//
// K, M, Quiet and CriticalRuns count window lengths: where a sensor's
// windows hop (each instant in o of them, schemas.Hops), the stage
// counts o times as many of its windows, so an alert needs the same span
// of event time to open, resolve or turn critical as with tumbling
// windows.
type Config struct {
	K, M        int           // open after K of the last M windows are anomalous (default 2 of 3)
	DriftK      int           // open a drift alert after DriftK of a sensor's last M drift reports found drift (default 2)
	Settle      time.Duration // drift this soon after an anomaly alert's last window is that incident's, not news (default 10m)
	Quiet       int           // resolve after this many normal windows in a row (default 5)
	UpdateEvery time.Duration // re-send an open alert at most this often, in event time (default 5m)
	SilentAfter time.Duration // SENSOR_SILENT when a sensor's windows lag its partition's by this much (default 10m)
	DriftQuiet  int           // resolve a drift alert after this many undrifted reports in a row (default 6: half an hour of 5-minute drift windows), so a sensor that keeps moving keeps one alert
	// DriftTypical: a drifted report counts only if its KS statistic is
	// at least DriftTypical times the median of the sensor's last
	// DriftTypicalOf reports' (default 3 times, of 12: an hour of 5-minute
	// drift windows), and none counts before DriftWarmUp reports (default
	// 3). A sensor whose windows always differ (a steady warm-up, a
	// vibration level that wanders) then raises a drift alert for the
	// change that moves it much further than usual, not for every window.
	DriftTypical   float64
	DriftTypicalOf int
	DriftWarmUp    int
	// PredictK: a PREDICTED alert opens after this many forecasts in a
	// row foresee the sensor's limit crossed within their horizon
	// (default 1); it resolves after Quiet in a row that do not.
	PredictK     int
	CriticalAt   float64 // an alert whose score reached this ... (default 0.99)
	CriticalRuns int     // ... over at least 3 windows, or that lasts this many windows, is CRITICAL (default 15)

	Actions     []ActionRule // default DefaultActions
	AlertsTopic string       // default maintenance.alerts
	// Notify, if set, is handed every OPEN and RESOLVED alert and every
	// rise in severity. It must not block (sinks/notify's Dispatcher.Enqueue does not).
	Notify func(*schemas.Alert)

	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.K, 2)
	def(&c.M, 3)
	def(&c.DriftK, 2)
	if c.Settle == 0 {
		c.Settle = 10 * time.Minute
	}
	def(&c.Quiet, 5)
	def(&c.DriftQuiet, 6)
	def(&c.CriticalRuns, 15)
	def(&c.DriftTypicalOf, 12)
	def(&c.DriftWarmUp, 3)
	def(&c.PredictK, 1)
	if c.DriftTypical == 0 {
		c.DriftTypical = 3
	}
	if c.UpdateEvery == 0 {
		c.UpdateEvery = 5 * time.Minute
	}
	if c.SilentAfter == 0 {
		c.SilentAfter = 10 * time.Minute
	}
	if c.CriticalAt == 0 {
		c.CriticalAt = 0.99
	}
	if c.Actions == nil {
		c.Actions = DefaultActions
	}
	if c.AlertsTopic == "" {
		c.AlertsTopic = pipeline.DefaultTopics().Alerts
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.K < 1 || c.M < c.K || c.M > 100 || c.DriftK < 1 || c.DriftK > c.M:
		return fmt.Errorf("%w: alert: %d (drift %d) of %d windows", pipeline.ErrConfig, c.K, c.DriftK, c.M)
	case c.Settle < 0:
		return fmt.Errorf("%w: alert: negative settle time", pipeline.ErrConfig)
	case c.Quiet < 1 || c.DriftQuiet < 1 || c.CriticalRuns < 1 || c.PredictK < 1:
		return fmt.Errorf("%w: alert: quiet %d, drift quiet %d, critical runs %d, predict k %d must be positive", pipeline.ErrConfig, c.Quiet, c.DriftQuiet, c.CriticalRuns, c.PredictK)
	case !(c.DriftTypical >= 1) || c.DriftTypicalOf < 1 || c.DriftWarmUp < 1 || c.DriftWarmUp > c.DriftTypicalOf:
		return fmt.Errorf("%w: alert: drift %v times typical (at least 1) of %d reports, warm-up %d (1 to that many)", pipeline.ErrConfig, c.DriftTypical, c.DriftTypicalOf, c.DriftWarmUp)
	case c.UpdateEvery < 0 || c.SilentAfter <= 0:
		return fmt.Errorf("%w: alert: update every %v, silent after %v", pipeline.ErrConfig, c.UpdateEvery, c.SilentAfter)
	case !(c.CriticalAt > 0 && c.CriticalAt <= 1):
		return fmt.Errorf("%w: alert: critical score %v", pipeline.ErrConfig, c.CriticalAt)
	}
	return nil
}

// Stage is the alert stage. Run it with a pipeline.Runner on sensor.scores,
// sensor.drift and sensor.forecasts, co-partitioned (pipeline.CoPartitioned) so one member
// sees all of a sensor's events; its methods are called from the runner's
// goroutine.
//
// Like the other stateful stages it retains the input its open alerts were
// built from (and each sensor's last DriftTypicalOf drift reports) and
// checkpoints its position, so a restart rebuilds them without sending
// them again.
type Stage struct {
	cfg    Config
	alerts *pipeline.Output[*schemas.Alert]
	met    metrics
	// State by sensor; partitions (by index: the two topics are
	// co-partitioned) hold their sensors' latest window ends.
	sensors map[string]*sensorState
	parts   map[int32]*partState
	// Replay bookkeeping by topic partition.
	next     map[pipeline.TopicPartition]int64
	replayTo map[pipeline.TopicPartition]int64
	ksBuf    []float64
}

type partState struct {
	latest  time.Time // latest window end of any of its sensors
	sensors map[string]bool
}

type sensorState struct {
	id, asset, typ string
	partition      int32
	recent         []window     // the last M windows (M·overlap), oldest first
	hops           schemas.Hops // its windows covering an instant: 1 unless they hop
	lastEnd        time.Time
	anomaly        *openAlert
	drift          *openAlert
	silent         *openAlert
	predicted      *openAlert
	predict        predictState
	driftQuiet     int
	driftRecent    []bool       // the last M drift reports that were not an incident's: drifted?
	driftStats     []driftStat  // the last DriftTypicalOf drift reports' KS statistics, oldest first
	lastIncident   [2]time.Time // the last anomaly alert's first and last window
	held           []heldDrift  // drift reports waiting for the score of their time (order.go)
}

// driftStat is a drift report's KS statistic, and where the report is.
type driftStat struct {
	ks  float64
	tp  pipeline.TopicPartition
	off int64
}

type window struct {
	anomalous bool
	start     time.Time
	offset    int64 // in the scores topic
	topic     string
}

// openAlert is an alert in progress, with the input it needs kept.
type openAlert struct {
	schemas.Alert
	quiet      int
	runs       int // anomalous windows
	overlap    int // its sensor's windows covering an instant
	maxScore   float64
	lastSent   time.Time
	shares     map[string]float64
	deviations map[string]float64
	keep       pipeline.TopicPartition
	keepOffset int64
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stage{
		cfg: cfg, alerts: pipeline.NewOutput[*schemas.Alert](cfg.AlertsTopic), met: newMetrics(cfg.Registerer),
		sensors: map[string]*sensorState{}, parts: map[int32]*partState{},
		next: map[pipeline.TopicPartition]int64{}, replayTo: map[pipeline.TopicPartition]int64{},
	}, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.alerts} }

// emitter sends alert changes, unless the input that caused them is
// being replayed.
type emitter struct {
	s      *Stage
	out    *pipeline.Emitter
	replay bool
	// reading is the Msg.ReadingID of the input that caused the change:
	// the alert record carries it, and the log line of an opening or a
	// resolution names it.
	reading string
}

func (e emitter) send(a *openAlert, notify bool) {
	if e.replay {
		return
	}
	rec := a.Alert
	rec.Evidence = evidence(a)
	p := int32(-1)
	if sn := e.s.sensors[rec.SensorID]; sn != nil {
		p = sn.partition
	}
	e.s.alerts.EmitAtFor(e.out, p, rec.SensorID, &rec, e.reading)
	e.s.met.changes.WithLabelValues(rec.Kind.String(), rec.State.String()).Inc()
	if rec.State != schemas.StateUpdated {
		e.s.cfg.Logger.Info("alert "+strings.ToLower(rec.State.String()), "alert_id", rec.AlertID, "sensor_id", rec.SensorID,
			"kind", rec.Kind.String(), "severity", rec.Severity.String(), "reading_id", e.reading)
	}
	if notify && e.s.cfg.Notify != nil {
		e.s.cfg.Notify(&rec)
	}
}

// Process applies scores and drift reports in order.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[Event], out *pipeline.Emitter) error {
	touched := map[int32]bool{}
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[Event]) error {
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		s.next[tp] = max(s.next[tp], m.Offset+1)
		em := emitter{s: s, out: out, replay: m.Offset < s.replayTo[tp], reading: m.ReadingID}
		switch {
		case m.Value.Score != nil:
			if m.Value.Score.SensorID == "" {
				return pipeline.Invalidf("score without sensor_id")
			}
			s.score(m.Value.Score, m.Partition, tp, m.Offset, em)
			s.releaseDrift(s.sensors[m.Value.Score.SensorID], out)
			touched[m.Partition] = true
		case m.Value.Drift != nil:
			if m.Value.Drift.SensorID == "" {
				return pipeline.Invalidf("drift report without sensor_id")
			}
			s.drift(m.Value.Drift, m.Partition, tp, m.Offset, em)
		case m.Value.Forecast != nil:
			if m.Value.Forecast.SensorID == "" {
				return pipeline.Invalidf("forecast without sensor_id")
			}
			s.forecast(m.Value.Forecast, m.Partition, tp, m.Offset, em)
		}
		return nil
	})
	for p := range touched {
		s.checkSilent(p, emitter{s: s, out: out})
	}
	return nil
}

func (s *Stage) sensor(id, asset, typ string, partition int32) *sensorState {
	sn := s.sensors[id]
	if sn == nil {
		sn = &sensorState{id: id, asset: asset, typ: typ, partition: partition}
		s.sensors[id] = sn
	}
	p := s.parts[partition]
	if p == nil {
		p = &partState{sensors: map[string]bool{}}
		s.parts[partition] = p
	}
	p.sensors[id] = true
	sn.partition = partition
	return sn
}

// score applies one window's score.
func (s *Stage) score(sc *schemas.AnomalyScore, partition int32, tp pipeline.TopicPartition, off int64, em emitter) {
	sn := s.sensor(sc.SensorID, sc.AssetID, sc.SensorType, partition)
	if last := sn.hops.Last(); !sc.WindowStart.After(last) && !last.IsZero() {
		s.met.stale.Inc() // a window already applied, sent again upstream
		return
	}
	o := sn.hops.Observe(sc.WindowStart, sc.WindowEnd)
	sn.lastEnd = sc.WindowEnd
	if p := s.parts[partition]; sc.WindowEnd.After(p.latest) {
		p.latest = sc.WindowEnd
	}
	if sn.silent != nil {
		s.resolve(sn.silent, sc.WindowEnd, em)
		sn.silent = nil
	}
	sn.recent = append(sn.recent, window{anomalous: sc.IsAnomaly, start: sc.WindowStart, offset: off, topic: tp.Topic})
	if n := s.cfg.M * o; len(sn.recent) > n { // more than one when the overlap fell
		sn.recent = sn.recent[len(sn.recent)-n:]
	}
	a := sn.anomaly
	if a != nil {
		a.overlap = o
	}
	switch {
	case a == nil && sc.IsAnomaly && s.countAnomalous(sn) >= s.cfg.K*o:
		if d := sn.drift; d != nil {
			// The change drift saw first is now an anomaly: one incident,
			// one alert. The drift alert becomes the anomaly alert.
			a, sn.drift = d, nil
			a.Kind, a.State = schemas.KindAnomaly, schemas.StateUpdated
			a.LastSeen = sc.WindowEnd
			s.met.upgraded.Inc()
		} else {
			first := sn.recent[0]
			for _, w := range sn.recent {
				if w.anomalous {
					first = w
					break
				}
			}
			a = s.open(sn, schemas.KindAnomaly, sc.WindowEnd, pipeline.TopicPartition{Topic: first.topic, Partition: partition}, first.offset)
			a.Onset = first.start
			a.Evidence = map[string]float64{}
			s.met.opened.WithLabelValues(a.Kind.String()).Inc()
		}
		a.overlap = o
		a.runs, a.maxScore, a.shares, a.deviations = s.countAnomalous(sn), sc.Score, sc.Contributions, sc.Deviations
		a.Occurrences = int64(a.runs)
		a.Evidence["threshold"] = sc.Threshold
		a.Severity = s.severity(a)
		a.Summary, a.RecommendedAction = s.describe(a, sc.Score)
		a.lastSent = sc.WindowEnd
		sn.anomaly = a
		em.send(a, true)
	case a != nil && sc.IsAnomaly:
		a.quiet = 0
		a.runs++
		a.Occurrences++
		a.LastSeen = sc.WindowEnd
		a.maxScore = math.Max(a.maxScore, sc.Score)
		a.shares, a.deviations = sc.Contributions, sc.Deviations
		s.update(a, sc.Score, em)
	case a != nil:
		a.quiet++
		if a.quiet >= s.cfg.Quiet*o {
			s.resolve(a, sc.WindowEnd, em)
			sn.anomaly = nil
		}
	}
	if a != nil {
		sn.lastIncident = [2]time.Time{a.OpenedAt, a.LastSeen}
	}
}

// drift applies one drift report. A drift alert needs DriftK of the
// sensor's last M reports to find drift; reports whose windows reach into
// the sensor's last incident (onset or recovery) do not count.
func (s *Stage) drift(r *schemas.DriftReport, partition int32, tp pipeline.TopicPartition, off int64, em emitter) {
	sn := s.sensor(r.SensorID, r.AssetID, r.SensorType, partition)
	if !s.holdDrift(sn, r, tp, off) {
		s.applyDrift(sn, r, tp, off, em)
	}
}

// applyDrift applies a drift report in its place among sn's scores.
func (s *Stage) applyDrift(sn *sensorState, r *schemas.DriftReport, tp pipeline.TopicPartition, off int64, em emitter) {
	drifted := r.Drifted && s.unusualDrift(sn, r.KSStatistic)
	if r.Drifted && !drifted {
		s.met.driftUsual.Inc()
	}
	sn.driftStats = append(sn.driftStats, driftStat{r.KSStatistic, tp, off})
	if len(sn.driftStats) > s.cfg.DriftTypicalOf {
		sn.driftStats = sn.driftStats[1:]
	}
	inc := sn.lastIncident
	explained := sn.anomaly != nil || !inc[0].IsZero() && r.ReferenceStart.Before(inc[1].Add(s.cfg.Settle)) && r.CurrentEnd.After(inc[0])
	if !explained {
		sn.driftRecent = append(sn.driftRecent, drifted)
		if len(sn.driftRecent) > s.cfg.M {
			sn.driftRecent = sn.driftRecent[1:]
		}
	}
	if !drifted {
		if sn.drift != nil {
			if sn.driftQuiet++; sn.driftQuiet >= s.cfg.DriftQuiet {
				s.resolve(sn.drift, r.CurrentEnd, em)
				sn.drift = nil
			}
		}
		return
	}
	sn.driftQuiet = 0
	ev := map[string]float64{"ks_statistic": r.KSStatistic, "ks_p_value": r.KSPValue, "psi": r.PSI}
	switch {
	case sn.anomaly != nil: // the same incident: note the drift on it
		for k, v := range ev {
			sn.anomaly.Evidence[k] = v
		}
	case sn.drift != nil:
		a := sn.drift
		a.Occurrences++
		a.LastSeen = r.CurrentEnd
		a.Evidence = ev
		s.update(a, 0, em)
	case explained || countTrue(sn.driftRecent) < s.cfg.DriftK:
		s.met.driftHeld.Inc()
	default:
		a := s.open(sn, schemas.KindDrift, r.CurrentEnd, tp, off)
		a.Onset = r.CurrentStart
		a.Evidence = ev
		a.Severity = schemas.SeverityInfo
		if r.PSI >= 1 {
			a.Severity = schemas.SeverityWarning
		}
		a.Summary, a.RecommendedAction = s.describe(a, 0)
		sn.drift = a
		s.met.opened.WithLabelValues(a.Kind.String()).Inc()
		em.send(a, true)
	}
}

// checkSilent opens SENSOR_SILENT alerts for the partition's sensors whose
// windows lag its latest by SilentAfter. The alert is dated, and its id
// derived, from the sensor's last window: SilentAfter after its end is
// when it fell silent, whatever batch the check ran in, so a replay of the
// same input gives the same alert, id included.
func (s *Stage) checkSilent(partition int32, em emitter) {
	p := s.parts[partition]
	if p == nil {
		return
	}
	for id := range p.sensors {
		sn := s.sensors[id]
		if sn != nil && len(sn.held) > 0 {
			s.releaseDrift(sn, em.out) // those of a sensor whose scores stopped
		}
		if sn == nil || sn.silent != nil || sn.lastEnd.IsZero() || p.latest.Sub(sn.lastEnd) < s.cfg.SilentAfter {
			continue
		}
		a := s.open(sn, schemas.KindSensorSilent, sn.lastEnd.Add(s.cfg.SilentAfter), pipeline.TopicPartition{}, -1)
		a.LastSeen, a.Onset = sn.lastEnd, sn.lastEnd
		a.Severity = schemas.SeverityWarning
		a.Summary, a.RecommendedAction = s.describe(a, 0)
		a.Evidence = map[string]float64{"silent_seconds": s.cfg.SilentAfter.Seconds()}
		sn.silent = a
		s.met.opened.WithLabelValues(a.Kind.String()).Inc()
		em.send(a, true)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func (s *Stage) countAnomalous(sn *sensorState) int {
	n := 0
	for _, w := range sn.recent {
		if w.anomalous {
			n++
		}
	}
	return n
}

func (s *Stage) open(sn *sensorState, kind schemas.AlertKind, at time.Time, keep pipeline.TopicPartition, off int64) *openAlert {
	return &openAlert{
		Alert: schemas.Alert{
			AlertID: strings.ToLower(kind.String()) + ":" + sn.id + ":" + strconv.FormatInt(at.UnixMicro(), 10),
			AssetID: sn.asset, SensorID: sn.id, SensorType: sn.typ, Kind: kind, State: schemas.StateOpen,
			OpenedAt: at, LastSeen: at, Occurrences: 1,
		},
		lastSent: at, keep: keep, keepOffset: off,
	}
}

// update re-sends an open alert when its severity rose, or when
// UpdateEvery has passed since it was last sent.
func (s *Stage) update(a *openAlert, score float64, em emitter) {
	sev := s.severity(a)
	rose := sev > a.Severity
	a.Severity = sev
	if !rose && a.LastSeen.Sub(a.lastSent) < s.cfg.UpdateEvery {
		return
	}
	a.State = schemas.StateUpdated
	a.Summary, a.RecommendedAction = s.describe(a, score)
	a.lastSent = a.LastSeen
	em.send(a, rose)
}

func (s *Stage) resolve(a *openAlert, at time.Time, em emitter) {
	a.State = schemas.StateResolved
	summary, _ := s.describe(a, 0)
	a.Summary = fmt.Sprintf("Resolved after %s: %s", at.Sub(a.OpenedAt).Round(time.Second), summary)
	s.met.resolved.WithLabelValues(a.Kind.String()).Inc()
	em.send(a, true)
}

// unusualDrift reports whether ks, a drift report's KS statistic, is at
// least DriftTypical times the median of sn's last reports'; false while
// sn has fewer than DriftWarmUp of them.
func (s *Stage) unusualDrift(sn *sensorState, ks float64) bool {
	if len(sn.driftStats) < s.cfg.DriftWarmUp {
		return false
	}
	s.ksBuf = s.ksBuf[:0]
	for _, d := range sn.driftStats {
		s.ksBuf = append(s.ksBuf, d.ks)
	}
	slices.Sort(s.ksBuf)
	n := len(s.ksBuf)
	return ks >= s.cfg.DriftTypical*(s.ksBuf[(n-1)/2]+s.ksBuf[n/2])/2
}

func (s *Stage) severity(a *openAlert) schemas.Severity {
	switch a.Kind {
	case schemas.KindAnomaly:
		o := max(a.overlap, 1)
		if a.maxScore >= s.cfg.CriticalAt && a.runs >= 3*o || a.runs >= s.cfg.CriticalRuns*o {
			return schemas.SeverityCritical
		}
		return schemas.SeverityWarning
	case schemas.KindPredicted:
		return predictedSeverity(a)
	default:
		return a.Severity
	}
}

// drivers are an alert's features by share, largest first; the band
// energies count as one driver, "spectrum", with their summed share and
// largest deviation.
func drivers(a *openAlert) []driver {
	var ds []driver
	spectrum := driver{feature: "spectrum"}
	for f, sh := range a.shares {
		if strings.HasPrefix(f, "band_") {
			spectrum.share += sh
			if d := a.deviations[f]; math.Abs(d) > math.Abs(spectrum.dev) {
				spectrum.dev = d
			}
			continue
		}
		ds = append(ds, driver{feature: f, share: sh, dev: a.deviations[f]})
	}
	if spectrum.share > 0 {
		ds = append(ds, spectrum)
	}
	slices.SortFunc(ds, func(x, y driver) int { return cmp.Or(cmp.Compare(y.share, x.share), cmp.Compare(x.feature, y.feature)) })
	return ds
}

// describe writes the alert's summary and recommended action.
func (s *Stage) describe(a *openAlert, score float64) (string, string) {
	ds := drivers(a)
	action := recommend(s.cfg.Actions, a.Kind, a.SensorType, ds, a.deviations)
	what := a.SensorID + " (" + a.SensorType + " on " + a.AssetID + ")"
	switch a.Kind {
	case schemas.KindAnomaly:
		var parts []string
		for _, d := range ds[:min(3, len(ds))] {
			dir := ""
			switch {
			case d.dev > 0:
				dir = fmt.Sprintf(" up %.1f", d.dev)
			case d.dev < 0:
				dir = fmt.Sprintf(" down %.1f", -d.dev)
			}
			parts = append(parts, fmt.Sprintf("%s%s (%.0f%%)", d.feature, dir, 100*d.share))
		}
		return fmt.Sprintf("Anomalous behaviour of %s for %d windows, score up to %.2f; driven by %s.",
			what, a.Occurrences, a.maxScore, strings.Join(parts, ", ")), action
	case schemas.KindDrift:
		return fmt.Sprintf("The distribution of %s changed: KS p=%.2g, PSI %.2f.", what, a.Evidence["ks_p_value"], a.Evidence["psi"]), action
	case schemas.KindSensorSilent:
		return fmt.Sprintf("%s has sent nothing since %s.", what, a.LastSeen.Format(time.RFC3339)), action
	case schemas.KindPredicted:
		return describePredicted(a, what, action)
	}
	return what, action
}

// evidence is what an alert record carries: its numbers and drivers.
func evidence(a *openAlert) map[string]float64 {
	ev := make(map[string]float64, len(a.Evidence)+8)
	for k, v := range a.Evidence {
		ev[k] = v
	}
	if a.Kind == schemas.KindAnomaly {
		ev["max_score"] = a.maxScore
		ev["anomalous_windows"] = float64(a.runs)
		ds := drivers(a)
		for _, d := range ds[:min(3, len(ds))] {
			ev["share:"+d.feature] = d.share
			if d.dev != 0 {
				ev["deviation:"+d.feature] = d.dev
			}
		}
	}
	return ev
}
