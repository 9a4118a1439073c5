package alert_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func sc(sensor, typ string, minute int, score float64, drivers ...any) alert.Event {
	s := &schemas.AnomalyScore{SensorID: sensor, AssetID: "asset-1", SensorType: typ,
		WindowStart: t0.Add(time.Duration(minute) * time.Minute), WindowEnd: t0.Add(time.Duration(minute+1) * time.Minute),
		Score: score, Threshold: 0.5, IsAnomaly: score >= 0.5, Detector: "adaptive",
		Contributions: map[string]float64{}, Deviations: map[string]float64{}}
	for i := 0; i+2 < len(drivers)+1 && i+2 <= len(drivers); i += 3 {
		f := drivers[i].(string)
		s.Contributions[f] = drivers[i+1].(float64)
		s.Deviations[f] = drivers[i+2].(float64)
	}
	return alert.Event{Score: s}
}

// dr is a drift report whose current window ends at minute: a KS
// statistic of 0.4 if drifted, else 0.05.
func dr(sensor string, minute int, drifted bool) alert.Event {
	ks := 0.05
	if drifted {
		ks = 0.4
	}
	return drk(sensor, minute, ks, drifted)
}

func drk(sensor string, minute int, ks float64, drifted bool) alert.Event {
	return alert.Event{Drift: &schemas.DriftReport{SensorID: sensor, AssetID: "asset-1", SensorType: "pressure",
		ReferenceStart: t0.Add(time.Duration(minute-10) * time.Minute), ReferenceEnd: t0.Add(time.Duration(minute-5) * time.Minute),
		CurrentStart: t0.Add(time.Duration(minute-5) * time.Minute), CurrentEnd: t0.Add(time.Duration(minute) * time.Minute),
		KSStatistic: ks, KSPValue: 1e-9, PSI: 0.8, Drifted: drifted, Method: "ks+psi"}}
}

// settled is the three undrifted reports before minute that a sensor's
// drift is first judged against (DriftWarmUp).
func settled(sensor string, minute int) []alert.Event {
	return []alert.Event{dr(sensor, minute-15, false), dr(sensor, minute-10, false), dr(sensor, minute-5, false)}
}

type env struct {
	stage    *alert.Stage
	local    *pipeline.Local[alert.Event]
	notified []*schemas.Alert
	off      map[string]int64
}

func newEnv(t *testing.T, mod func(*alert.Config)) *env {
	t.Helper()
	e := &env{off: map[string]int64{}}
	cfg := alert.Config{Notify: func(a *schemas.Alert) { e.notified = append(e.notified, a) }}
	if mod != nil {
		mod(&cfg)
	}
	s, err := alert.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.stage = s
	if e.local, err = pipeline.NewLocal(context.Background(), "alert", pipeline.Stage[alert.Event](s), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) feed(t *testing.T, evs ...alert.Event) []schemas.Alert {
	t.Helper()
	in := make([]pipeline.Msg[alert.Event], len(evs))
	for i, ev := range evs {
		topic := "sensor.scores"
		switch {
		case ev.Drift != nil:
			topic = "sensor.drift"
		case ev.Forecast != nil:
			topic = "sensor.forecasts"
		}
		in[i] = pipeline.Msg[alert.Event]{Value: ev, Topic: topic, Offset: e.off[topic]}
		e.off[topic]++
	}
	res, err := e.local.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pipeline.Decode[schemas.Alert](context.Background(), res, "maintenance.alerts")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// of returns sensor's alerts of as.
func of(sensor string, as []schemas.Alert) []schemas.Alert {
	var out []schemas.Alert
	for _, a := range as {
		if a.SensorID == sensor {
			out = append(out, a)
		}
	}
	return out
}

func states(as []schemas.Alert) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Kind.String()+"/"+a.State.String()+"/"+a.Severity.String())
	}
	return strings.Join(s, " ")
}

func TestOpensOnKOfMAndResolvesAfterQuiet(t *testing.T) {
	e := newEnv(t, nil)
	if out := e.feed(t, sc("p1", "pressure", 0, 0.9), sc("p1", "pressure", 1, 0.1)); len(out) != 0 {
		t.Fatalf("opened on one window of two: %v", states(out))
	}
	out := e.feed(t, sc("p1", "pressure", 2, 0.8, "mean", 1.0, 6.0))
	if len(out) != 1 || out[0].State != schemas.StateOpen || out[0].Kind != schemas.KindAnomaly || out[0].Severity != schemas.SeverityWarning {
		t.Fatalf("%+v", out)
	}
	a := out[0]
	// Opened when the second anomalous window ended (minute 3); the anomaly
	// began with the first (minute 0).
	if a.OpenedAt != t0.Add(3*time.Minute) || a.Onset != t0 || a.AlertID == "" || !strings.Contains(a.RecommendedAction, "blockage") ||
		!strings.Contains(a.Summary, "mean up 6.0") || a.Evidence["share:mean"] != 1 || a.Evidence["threshold"] != 0.5 {
		t.Fatalf("%+v", a)
	}
	// The incident goes on for 10 more windows: one update after 5 minutes.
	var evs []alert.Event
	for m := 3; m < 13; m++ {
		evs = append(evs, sc("p1", "pressure", m, 0.8, "mean", 1.0, 6.0))
	}
	out = e.feed(t, evs...)
	if states(out) != "ANOMALY/UPDATED/WARNING ANOMALY/UPDATED/WARNING" || out[0].AlertID != a.AlertID || out[1].Occurrences != 12 {
		t.Fatalf("during the incident: %v %+v", states(out), out)
	}
	evs = nil
	for m := 13; m < 18; m++ {
		evs = append(evs, sc("p1", "pressure", m, 0.1))
	}
	out = e.feed(t, evs...)
	if states(out) != "ANOMALY/RESOLVED/WARNING" || out[0].AlertID != a.AlertID || out[0].LastSeen != t0.Add(13*time.Minute) || out[0].Onset != t0 {
		t.Fatalf("after it: %v %+v", states(out), out)
	}
	if len(e.notified) != 2 || e.notified[0].State != schemas.StateOpen || e.notified[1].State != schemas.StateResolved {
		t.Fatalf("notified %d times", len(e.notified))
	}
}

// Hopping windows (a minute long, every 20 s: three cover each instant)
// need the same span of event time as tumbling ones to open and resolve
// an alert: K of M and Quiet count window lengths, not hops.
func TestHoppingWindowsCountInWindowLengths(t *testing.T) {
	hop := func(i int, score float64) alert.Event {
		ev := sc("p1", "pressure", 0, score)
		ev.Score.WindowStart = t0.Add(time.Duration(i) * 20 * time.Second)
		ev.Score.WindowEnd = ev.Score.WindowStart.Add(time.Minute)
		return ev
	}
	e := newEnv(t, nil)
	var evs []alert.Event
	for i := range 6 { // normal
		evs = append(evs, hop(i, 0.1))
	}
	evs = append(evs, hop(6, 0.9), hop(7, 0.9), hop(8, 0.9), hop(9, 0.9), hop(10, 0.1)) // 4 of the last 9 hops: under 2 window lengths
	if out := e.feed(t, evs...); len(out) != 0 {
		t.Fatalf("a blip of 4 hops opened an alert: %v", states(out))
	}
	evs = nil
	for i := 11; i < 17; i++ {
		evs = append(evs, hop(i, 0.9))
	}
	out := e.feed(t, evs...)
	if states(out) != "ANOMALY/OPEN/WARNING" || out[0].OpenedAt != t0.Add((12*20+60)*time.Second) {
		t.Fatalf("want one alert opened at the 6th anomalous hop of 9 (hop 12): %v %+v", states(out), out)
	}
	evs = nil
	for i := 17; i < 31; i++ { // 14 normal hops: under Quiet's 5 window lengths
		evs = append(evs, hop(i, 0.1))
	}
	if out := e.feed(t, evs...); len(out) != 0 {
		t.Fatalf("resolved after 14 normal hops: %v", states(out))
	}
	if out := e.feed(t, hop(31, 0.1)); states(out) != "ANOMALY/RESOLVED/WARNING" {
		t.Fatalf("want a resolution at the 15th normal hop: %v", states(out))
	}
}

func TestSeverityRisesToCritical(t *testing.T) {
	e := newEnv(t, func(c *alert.Config) { c.UpdateEvery = time.Hour })
	out := e.feed(t, sc("v1", "vibration", 0, 0.9, "kurtosis", 0.6, 9.0, "rms", 0.4, 3.0), sc("v1", "vibration", 1, 0.999, "kurtosis", 0.6, 9.0))
	out = append(out, e.feed(t, sc("v1", "vibration", 2, 0.999, "kurtosis", 0.6, 9.0))...)
	if states(out) != "ANOMALY/OPEN/WARNING ANOMALY/UPDATED/CRITICAL" {
		t.Fatalf("%v", states(out))
	}
	if !strings.Contains(out[0].RecommendedAction, "bearing lubrication and alignment") {
		t.Errorf("action %q", out[0].RecommendedAction)
	}
	if len(e.notified) != 2 || e.notified[1].Severity != schemas.SeverityCritical {
		t.Errorf("escalation not notified: %d", len(e.notified))
	}
}

func TestDriftAlertsAndFolding(t *testing.T) {
	e := newEnv(t, nil)
	// One drifted report is not yet an alert; two of three are.
	e.feed(t, settled("p1", 10)...)
	out := e.feed(t, dr("p1", 10, true), dr("p1", 15, true))
	if states(out) != "DRIFT/OPEN/INFO" || out[0].OpenedAt != t0.Add(15*time.Minute) || !strings.Contains(out[0].RecommendedAction, "calibration") || out[0].Evidence["psi"] != 0.8 {
		t.Fatalf("%v %+v", states(out), out)
	}
	// A sensor that keeps moving keeps its one alert: drift again within
	// DriftQuiet (6) reports is no news.
	first := out[0]
	out = e.feed(t, dr("p1", 20, false), dr("p1", 25, false), dr("p1", 30, true), dr("p1", 35, true))
	for _, a := range out {
		if a.State != schemas.StateUpdated || a.AlertID != first.AlertID {
			t.Fatalf("drift resumed within the quiet period: %v", states(out))
		}
	}
	var quiet []alert.Event
	for m := 40; m < 70; m += 5 {
		quiet = append(quiet, dr("p1", m, false))
	}
	out = e.feed(t, quiet...)
	if states(out) != "DRIFT/RESOLVED/INFO" || out[0].AlertID != first.AlertID {
		t.Fatalf("after six undrifted reports: %v %+v", states(out), out)
	}
	// A drift alert whose sensor turns anomalous becomes the anomaly alert.
	e.feed(t, settled("p3", 0)...)
	drifting := e.feed(t, dr("p3", 0, true), dr("p3", 5, true))
	out = e.feed(t, sc("p3", "pressure", 5, 0.9, "mean", 1.0, 5.0), sc("p3", "pressure", 6, 0.9, "mean", 1.0, 5.0))
	if states(out) != "ANOMALY/UPDATED/WARNING" || out[0].AlertID != drifting[0].AlertID || out[0].OpenedAt != drifting[0].OpenedAt ||
		out[0].Evidence["psi"] != 0.8 || !strings.Contains(out[0].RecommendedAction, "blockage") {
		t.Fatalf("upgrade: %v %+v", states(out), out)
	}
	// Drift during an anomaly alert joins its evidence instead.
	e.feed(t, settled("p2", 5)...)
	e.feed(t, sc("p2", "pressure", 0, 0.9, "mean", 1.0, 5.0), sc("p2", "pressure", 1, 0.9, "mean", 1.0, 5.0))
	out = e.feed(t, dr("p2", 5, true), dr("p2", 10, true))
	if len(out) != 0 {
		t.Fatalf("a separate alert for drift during an anomaly: %v", states(out))
	}
	// After it resolves, the drift of the recovery is the incident's too.
	var evs []alert.Event
	for m := 2; m < 8; m++ {
		evs = append(evs, sc("p2", "pressure", m, 0.1))
	}
	out = e.feed(t, append(evs, dr("p2", 15, true), dr("p2", 20, true))...)
	if states(out) != "ANOMALY/RESOLVED/WARNING" {
		t.Fatalf("after the incident: %v", states(out))
	}
	// Well after it, drift is news again (once the sensor's scores reach
	// the reports' time: a report waits for the score of its time).
	later := []alert.Event{dr("p2", 25, false), dr("p2", 30, false), dr("p2", 35, false), dr("p2", 40, true), dr("p2", 45, true)}
	for m := 8; m < 45; m++ {
		later = append(later, sc("p2", "pressure", m, 0.1))
	}
	if out = of("p2", e.feed(t, later...)); states(out) != "DRIFT/OPEN/INFO" {
		t.Fatalf("later drift: %v", states(out))
	}
}

// Drift is judged against how far the sensor's windows usually move
// apart: one whose every report finds drift (a steady warm-up) raises no
// alert, a step on a steady sensor does, and nothing counts before
// DriftWarmUp reports.
func TestDriftIsJudgedAgainstTheSensorsUsualChange(t *testing.T) {
	e := newEnv(t, nil)
	var evs []alert.Event
	for m := 5; m <= 120; m += 5 {
		evs = append(evs, drk("climbing", m, 0.8+0.01*float64(m%3), true))
	}
	if out := e.feed(t, evs...); len(out) != 0 {
		t.Fatalf("a sensor that always moves this much: %v", states(out))
	}
	out := e.feed(t, dr("fresh", 5, true), dr("fresh", 10, true), dr("fresh", 15, false))
	if len(out) != 0 {
		t.Fatalf("drift counted in the warm-up: %v", states(out))
	}
	evs = nil
	for m := 20; m <= 60; m += 5 {
		evs = append(evs, drk("fresh", m, 0.06, false))
	}
	// Under 3 times the median (0.06) three times, then over it twice.
	evs = append(evs, drk("fresh", 65, 0.17, true), drk("fresh", 70, 0.17, true), drk("fresh", 75, 0.17, true))
	if out := e.feed(t, evs...); len(out) != 0 {
		t.Fatalf("drift under 3 times the usual: %v", states(out))
	}
	out = e.feed(t, drk("fresh", 80, 0.3, true), drk("fresh", 85, 0.3, true))
	if states(out) != "DRIFT/OPEN/INFO" || out[0].OpenedAt != t0.Add(85*time.Minute) {
		t.Fatalf("a step on a steady sensor: %v", states(out))
	}
}

// A restart keeps each sensor's usual drift: the reports it is judged
// against are retained and replayed.
func TestResumeKeepsTheUsualDrift(t *testing.T) {
	var evs []alert.Event
	for m := 5; m <= 60; m += 5 {
		evs = append(evs, drk("p1", m, 0.05, false))
	}
	evs = append(evs, dr("p1", 65, true), dr("p1", 70, true))
	if out := newEnv(t, nil).feed(t, evs...); states(out) != "DRIFT/OPEN/INFO" {
		t.Fatalf("without a restart: %v", states(out))
	}
	restartAfter(t, evs, 12, "sensor.drift", 1) // the last 12 reports start at offset 0
}

func TestSilentSensor(t *testing.T) {
	e := newEnv(t, nil)
	var evs []alert.Event
	for m := range 20 {
		evs = append(evs, sc("a", "current", m, 0.1))
		if m < 5 {
			evs = append(evs, sc("b", "current", m, 0.1))
		}
	}
	out := e.feed(t, evs...)
	if states(out) != "SENSOR_SILENT/OPEN/WARNING" || out[0].SensorID != "b" || out[0].LastSeen != t0.Add(5*time.Minute) ||
		!strings.Contains(out[0].RecommendedAction, "power, cabling") {
		t.Fatalf("%v %+v", states(out), out)
	}
	out = e.feed(t, sc("b", "current", 20, 0.1))
	if states(out) != "SENSOR_SILENT/RESOLVED/WARNING" {
		t.Fatalf("%v", states(out))
	}
}

// The same input gives the same SENSOR_SILENT alert whatever the batches
// it came in: its id and times derive from the sensor's last window, not
// from the moment a batch happened to reveal the silence.
func TestSilentAlertIsTheSameInAnyBatching(t *testing.T) {
	var evs []alert.Event
	for m := range 30 {
		evs = append(evs, sc("a", "current", m, 0.1))
		if m < 5 {
			evs = append(evs, sc("b", "current", m, 0.1))
		}
	}
	var got []schemas.Alert
	for _, batch := range []int{len(evs), 1, 7} {
		e := newEnv(t, nil)
		var out []schemas.Alert
		for i := 0; i < len(evs); i += batch {
			out = append(out, e.feed(t, evs[i:min(i+batch, len(evs))]...)...)
		}
		if len(out) != 1 {
			t.Fatalf("batches of %d: %v", batch, states(out))
		}
		got = append(got, out[0])
	}
	for _, a := range got[1:] {
		if a.AlertID != got[0].AlertID || !a.OpenedAt.Equal(got[0].OpenedAt) || a.Evidence["silent_seconds"] != got[0].Evidence["silent_seconds"] {
			t.Fatalf("alerts differ by batching: %+v and %+v", got[0], a)
		}
	}
	if want := t0.Add(5*time.Minute + 10*time.Minute); !got[0].OpenedAt.Equal(want) {
		t.Errorf("opened at %v, want %v: the last window's end plus SilentAfter", got[0].OpenedAt, want)
	}
}

func TestStaleScoresAreIgnored(t *testing.T) {
	e := newEnv(t, nil)
	e.feed(t, sc("p1", "pressure", 5, 0.9))
	if out := e.feed(t, sc("p1", "pressure", 5, 0.9), sc("p1", "pressure", 4, 0.9)); len(out) != 0 {
		t.Fatalf("windows applied twice opened %v", states(out))
	}
}

// A restart replays from the retained offsets with the checkpoint: the
// rebuilt state sends nothing twice and goes on as before.
func TestResumeRebuildsWithoutResending(t *testing.T) {
	var evs []alert.Event
	for m := range 40 {
		score := 0.1
		if m >= 10 && m < 25 {
			score = 0.9
		}
		evs = append(evs, sc("p1", "pressure", m, score, "mean", 1.0, 5.0))
	}
	restartAfter(t, evs, 18, "sensor.scores", 10) // the open alert started at offset 10
}

// restartAfter feeds evs (all of one topic) to a stage, and to another
// that stops after the first n and restarts from its retained offset
// (which must be at most retainedAtMost) and checkpoint: both must send
// the same alerts.
func restartAfter(t *testing.T, evs []alert.Event, n int, topic string, retainedAtMost int64) {
	t.Helper()
	whole := newEnv(t, nil).feed(t, evs...)
	first := newEnv(t, nil)
	got := first.feed(t, evs[:n]...)
	tp := pipeline.TopicPartition{Topic: topic}
	retained, ok := first.stage.Retained()[tp]
	if !ok || retained > retainedAtMost {
		t.Fatalf("retained %d %v, want at most %d", retained, ok, retainedAtMost)
	}
	second := newEnv(t, nil)
	second.stage.Resume(tp, first.stage.Checkpoint(tp))
	second.off[topic] = retained
	got = append(got, second.feed(t, evs[retained:]...)...)
	if !reflect.DeepEqual(got, whole) {
		t.Fatalf("with a restart: %v\nwithout: %v", states(got), states(whole))
	}
}

func TestActionsFileOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "actions.json")
	os.WriteFile(path, []byte(`[{"sensor_type":"pressure","feature":"mean","direction":"up","action":"Call the hydraulics team."}]`), 0o644)
	rules, err := alert.LoadActions(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *alert.Config) { c.Actions = rules })
	out := e.feed(t, sc("p1", "pressure", 0, 0.9, "mean", 1.0, 4.0), sc("p1", "pressure", 1, 0.9, "mean", 1.0, 4.0))
	if len(out) != 1 || out[0].RecommendedAction != "Call the hydraulics team." {
		t.Fatalf("%+v", out)
	}
	for _, bad := range []string{`{`, `[{"kind":"NOPE","action":"x"}]`, `[{"direction":"sideways","action":"x"}]`, `[{}]`} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := alert.LoadActions(path); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	for _, c := range []alert.Config{{K: 3, M: 2}, {Quiet: -1}, {CriticalAt: 2}} {
		if _, err := alert.New(c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestBandsCountAsOneSpectrumDriver(t *testing.T) {
	e := newEnv(t, nil)
	ev := func(m int) alert.Event {
		return sc("v1", "vibration", m, 0.9, "band_0", 0.3, 9.0, "band_1", 0.3, 8.0, "band_2", 0.2, 7.0, "std", 0.2, 5.0)
	}
	out := e.feed(t, ev(0), ev(1))
	if len(out) != 1 || !strings.Contains(out[0].Summary, "spectrum up 9.0 (80%)") || out[0].Evidence["share:spectrum"] != 0.8 ||
		!strings.Contains(out[0].RecommendedAction, "vibration analysis") {
		t.Fatalf("%+v", out)
	}
}

// TestDriftAndScoresInAnyInterleaving: a sensor's drift reports and scores
// come from two topics, and a restart can interleave them differently.
// As long as each report is read before the score of the window after its
// time (the causal order), the alerts are the same, byte for byte.
func TestDriftAndScoresInAnyInterleaving(t *testing.T) {
	var scores, drifts []alert.Event
	for m := range 40 {
		v := 0.1
		if m >= 13 && m < 20 {
			v = 0.9
		}
		scores = append(scores, sc("p1", "pressure", m, v, "mean", 1.0, 5.0))
	}
	for m := 10; m <= 40; m += 5 {
		d := dr("p1", m, m >= 15 && m <= 30)
		d.Drift.PSI = float64(m) / 10 // which report an alert's evidence is from shows
		drifts = append(drifts, d)
	}
	run := func(order []alert.Event) []schemas.Alert {
		e := newEnv(t, nil)
		var out []schemas.Alert
		for _, ev := range order { // one event a batch: the finest interleaving
			out = append(out, e.feed(t, ev)...)
		}
		return out
	}
	// Each drift report right after the score of its time, ...
	var causal []alert.Event
	d := 0
	for _, s := range scores {
		causal = append(causal, s)
		for d < len(drifts) && !drifts[d].Drift.CurrentEnd.After(s.Score.WindowEnd) {
			causal = append(causal, drifts[d])
			d++
		}
	}
	want := run(causal)
	if len(want) == 0 {
		t.Fatal("no alerts: the test would show nothing")
	}
	// ... or as early as a report can come: before the scores of the
	// windows it covers, right after the score of the window before.
	var early []alert.Event
	d = 0
	for _, s := range scores {
		for d < len(drifts) && !drifts[d].Drift.CurrentEnd.After(s.Score.WindowEnd.Add(time.Minute)) {
			early = append(early, drifts[d])
			d++
		}
		early = append(early, s)
	}
	if got := run(early); !reflect.DeepEqual(got, want) {
		t.Fatalf("drift read before its score:\n%s\nwant\n%s", states(got), states(want))
	}
}

// TestAlertsCarryTheReadingThatCausedThem: an alert record carries the
// reading id of the score that opened, updated or resolved it, and the
// log lines of an opening and a resolution name it.
func TestAlertsCarryTheReadingThatCausedThem(t *testing.T) {
	var logs strings.Builder
	s, err := alert.New(alert.Config{K: 1, M: 1, DriftK: 1, Quiet: 1, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	local, err := pipeline.NewLocal(context.Background(), "alert", pipeline.Stage[alert.Event](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := []pipeline.Msg[alert.Event]{
		{Value: sc("p1", "pressure", 0, 0.9), Topic: "sensor.scores", Offset: 0, ReadingID: "reading-a"},
		{Value: sc("p1", "pressure", 1, 0.1), Topic: "sensor.scores", Offset: 1, ReadingID: "reading-b"},
	}
	res, err := local.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Records {
		got = append(got, r.ReadingID)
	}
	if strings.Join(got, " ") != "reading-a reading-b" {
		t.Fatalf("alert records carry reading ids %q, want the opening's and the resolution's", got)
	}
	for _, want := range []string{`"msg":"alert open"`, `"reading_id":"reading-a"`, `"msg":"alert resolved"`, `"reading_id":"reading-b"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

// After the windows stop hopping (60 s hopping by 6 s, then tumbling),
// an alert counts its K of M over the last M windows again: two
// anomalous windows twenty minutes apart open none.
func TestAlertAfterTheHopLengthens(t *testing.T) {
	e := newEnv(t, nil)
	window := func(start time.Time, anomalous bool) alert.Event {
		score := 0.1
		if anomalous {
			score = 0.9
		}
		return alert.Event{Score: &schemas.AnomalyScore{SensorID: "p", AssetID: "asset-1", SensorType: "pressure",
			WindowStart: start, WindowEnd: start.Add(time.Minute), Score: score, Threshold: 0.5, IsAnomaly: anomalous, Detector: "robust",
			Contributions: map[string]float64{"mean": 1}, Deviations: map[string]float64{"mean": 4}}}
	}
	var evs []alert.Event
	at := t0
	for range 100 {
		evs = append(evs, window(at, false))
		at = at.Add(6 * time.Second)
	}
	for i := range 50 {
		evs = append(evs, window(at, i == 20 || i == 40))
		at = at.Add(time.Minute)
	}
	if out := e.feed(t, evs...); len(out) != 0 {
		t.Fatalf("alerts %s: want none for two anomalous windows 20 minutes apart", states(out))
	}
}
