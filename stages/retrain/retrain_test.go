package retrain_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/retrain"
	"github.com/smaint/smaint/stages/score"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// windows returns n windows of sensor type typ around level, one a
// minute from start, spread over 4 sensors.
func windows(typ string, start time.Time, n int, level float64, seed uint64) []retrain.Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]retrain.Event, n)
	for i := range out {
		mean := level + 0.05*rng.NormFloat64()
		std := 0.3 * (1 + 0.1*rng.NormFloat64())
		at := start.Add(time.Duration(i/4) * time.Minute)
		out[i] = retrain.Event{Features: &schemas.FeatureVector{SensorID: fmt.Sprintf("%s-%d", typ, i%4), AssetID: "a", SensorType: typ,
			WindowStart: at, WindowEnd: at.Add(time.Minute), Count: 60, Mean: mean, Std: std, Min: mean - 2*std, Max: mean + 2*std,
			RMS: mean, Kurtosis: 0.1 * rng.NormFloat64(), CrestFactor: 1.1, PeakToPeak: 4 * std}}
	}
	return out
}

func ask(model string, at time.Time) retrain.Event {
	return retrain.Event{Request: &schemas.RetrainEvent{EventID: model + "@" + at.Format(time.RFC3339), ModelName: model,
		Scope: "sensor_type:" + strings.TrimPrefix(model, "iforest-"), Reason: "drift on the test", RequestedAt: at}}
}

type harness struct {
	t   *testing.T
	l   *pipeline.Local[retrain.Event]
	off map[string]int64
}

func newHarness(t *testing.T, cfg retrain.Config) *harness {
	t.Helper()
	s, err := retrain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "retrain", pipeline.Stage[retrain.Event](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, l: l, off: map[string]int64{}}
}

// feed processes evs as one batch and returns the decisions it made.
func (h *harness) feed(evs ...retrain.Event) []schemas.ModelUpdated {
	h.t.Helper()
	in := make([]pipeline.Msg[retrain.Event], len(evs))
	for i, ev := range evs {
		topic := "sensor.features"
		switch {
		case ev.Request != nil:
			topic = "model.retrain"
		case ev.Alert != nil:
			topic = "maintenance.alerts"
		}
		in[i] = pipeline.Msg[retrain.Event]{Value: ev, Topic: topic, Offset: h.off[topic]}
		h.off[topic]++
	}
	res, err := h.l.Process(context.Background(), in)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := pipeline.Decode[schemas.ModelUpdated](context.Background(), res, "model.updates")
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func actions(us []schemas.ModelUpdated) map[string]int {
	n := map[string]int{}
	for _, u := range us {
		n[u.Action]++
	}
	return n
}

// TestRetrainPublishesJudgesAndCoolsDown: a request waits for the
// windows after it, trains, and publishes (there was no version); a
// candidate that flags far more held-out windows than the current
// version is rejected and not stored; a burst of requests inside the
// cooldown trains once.
func TestRetrainPublishesJudgesAndCoolsDown(t *testing.T) {
	ctx := context.Background()
	store := &score.FileStore{Dir: t.TempDir()}
	h := newHarness(t, retrain.Config{Store: store, After: 100, Forest: score.IForestConfig{Trees: 30}})

	if got := h.feed(append([]retrain.Event{ask("iforest-pressure", t0)}, windows("pressure", t0.Add(-time.Hour), 80, 4, 1)...)...); len(got) != 0 {
		t.Fatalf("decided before the windows after the request came: %+v", got)
	}
	got := h.feed(windows("pressure", t0, 120, 5, 2)...)
	// The 100 windows after the request, 25 of each of 4 sensors: every
	// fourth of each sensor's (6) is held out.
	if len(got) != 1 || got[0].Action != schemas.ModelPublished || got[0].URI == "" || got[0].Metrics["windows"] != 76 || got[0].Metrics["holdout"] != 24 {
		t.Fatalf("decisions %+v", got)
	}
	t.Logf("published: %s", got[0].Reason)
	m, _, err := score.LoadIForest(ctx, store, got[0].URI, got[0].SHA256)
	if err != nil || m.Version != got[0].Version || !got[0].TrainFrom.Equal(t0) {
		t.Fatalf("the published version: %v, %+v", err, got[0])
	}

	// A burst inside the cooldown: every request is skipped.
	var burst []retrain.Event
	for i := range 50 {
		burst = append(burst, ask("iforest-pressure", t0.Add(time.Duration(i)*time.Minute)))
	}
	got = h.feed(append(burst, windows("pressure", t0.Add(30*time.Minute), 200, 5, 3)...)...)
	if a := actions(got); a[schemas.ModelSkipped] != 50 || len(got) != 50 || !strings.Contains(got[0].Reason, "cooldown") {
		t.Fatalf("burst: %v %+v", a, got[0])
	}

	// A worse candidate: its forest expects 30% of its windows to be
	// anomalous, and so flags about that many held-out windows.
	worse := newHarness(t, retrain.Config{Store: store, After: 100, Forest: score.IForestConfig{Trees: 30, Contamination: 0.3}})
	got = worse.feed(append([]retrain.Event{ask("iforest-pressure", t0.Add(5*time.Hour))}, windows("pressure", t0.Add(5*time.Hour), 120, 5, 4)...)...)
	if len(got) != 1 || got[0].Action != schemas.ModelRejected || got[0].URI != "" || !strings.Contains(got[0].Reason, "the current version") {
		t.Fatalf("worse candidate: %+v", got)
	}
	t.Logf("rejected: %s", got[0].Reason)
	if vs, _ := store.Versions(ctx, "iforest-pressure"); len(vs) != 1 {
		t.Fatalf("%d versions stored, want the first only", len(vs))
	}

	// Requests for two types at once are both decided, the vibration one
	// on windows read before it (the features topic runs ahead of the
	// drift stage's requests); a model that is not a forest is skipped.
	both := windows("vibration", t0.Add(9*time.Hour), 100, 1, 5)
	both = append(both, ask("iforest-vibration", t0.Add(9*time.Hour)), ask("iforest-current", t0.Add(9*time.Hour)), ask("lstm-x", t0))
	both = append(both, windows("current", t0.Add(9*time.Hour), 100, 12, 6)...)
	if a := actions(h.feed(both...)); a[schemas.ModelPublished] != 2 || a[schemas.ModelSkipped] != 1 {
		t.Fatalf("two types: %v", a)
	}
}

func TestRetrainConfig(t *testing.T) {
	for _, cfg := range []retrain.Config{{}, {Store: &score.FileStore{}, After: 5}, {Store: &score.FileStore{}, Holdout: 0.9}} {
		if _, err := retrain.New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// TestRetrainResumesAWaitingRequest: after a restart, the inputs from
// the retained offsets replay; a request that was waiting waits again
// with the windows it had, and is decided once when the rest come; a
// request decided before the restart is not decided again; an alert
// that still matters is read again, and one long over is not.
func TestRetrainResumesAWaitingRequest(t *testing.T) {
	ctx := context.Background()
	cfg := retrain.Config{Store: &score.FileStore{Dir: t.TempDir()}, After: 60, Forest: score.IForestConfig{Trees: 20}}
	reqTP := pipeline.TopicPartition{Topic: "model.retrain"}
	featTP := pipeline.TopicPartition{Topic: "sensor.features"}
	alertTP := pipeline.TopicPartition{Topic: "maintenance.alerts"}
	alerts := append(alarm(schemas.KindAnomaly, "pressure-3", t0.Add(-5*time.Hour), t0.Add(-4*time.Hour)),
		alarm(schemas.KindAnomaly, "pressure-1", t0.Add(5*time.Minute), time.Time{})...)
	msgs := func(evs []retrain.Event, tp pipeline.TopicPartition, from int64) []pipeline.Msg[retrain.Event] {
		out := make([]pipeline.Msg[retrain.Event], len(evs))
		for i, ev := range evs {
			out[i] = pipeline.Msg[retrain.Event]{Value: ev, Topic: tp.Topic, Partition: tp.Partition, Offset: from + int64(i)}
		}
		return out
	}
	decided := func(l *pipeline.Local[retrain.Event], in []pipeline.Msg[retrain.Event]) []schemas.ModelUpdated {
		res, err := l.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		us, err := pipeline.Decode[schemas.ModelUpdated](ctx, res, "model.updates")
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	start := func() (*retrain.Stage, *pipeline.Local[retrain.Event]) {
		s, err := retrain.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, err := pipeline.NewLocal(ctx, "retrain", pipeline.Stage[retrain.Event](s), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, l
	}

	// The first request is skipped at once (not a forest); the second waits.
	requests := []retrain.Event{{Request: &schemas.RetrainEvent{ModelName: "not-a-forest", RequestedAt: t0}}, ask("iforest-pressure", t0)}
	all := windows("pressure", t0, 100, 5, 9)
	s1, l1 := start()
	before := append(append(msgs(requests, reqTP, 0), msgs(all[:30], featTP, 0)...), msgs(alerts, alertTP, 0)...)
	if got := decided(l1, before); len(got) != 1 || got[0].Action != schemas.ModelSkipped {
		t.Fatalf("before the restart: %+v", got)
	}
	cps := map[pipeline.TopicPartition]string{reqTP: s1.Checkpoint(reqTP), featTP: s1.Checkpoint(featTP), alertTP: s1.Checkpoint(alertTP)}
	retained := s1.Retained()
	if retained[reqTP] != 1 || retained[featTP] != 0 || retained[alertTP] != 2 {
		t.Fatalf("retained %v: want the waiting request (offset 1), its windows (from 0) and the open alert (2), not the one long over", retained)
	}

	s2, l2 := start()
	for tp, cp := range cps {
		s2.Resume(tp, cp)
	}
	// The runner replays from the committed offsets: the skipped request
	// (0) was committed past, but replay it anyway to show it stays decided.
	if got := decided(l2, append(append(msgs(requests, reqTP, 0), msgs(all[:30], featTP, 0)...), msgs(alerts[2:], alertTP, 2)...)); len(got) != 0 {
		t.Fatalf("the replay decided again: %+v", got)
	}
	got := decided(l2, msgs(all[30:], featTP, 30))
	if len(got) != 1 || got[0].Action != schemas.ModelPublished || got[0].ModelName != "iforest-pressure" ||
		got[0].Metrics["windows"]+got[0].Metrics["holdout"] != 45 || got[0].Metrics["incident_windows"] != 15 {
		t.Fatalf("after the restart: %+v", got)
	}
}

// flaky is a model store that fails while down is set.
type flaky struct {
	score.ModelStore
	down bool
}

func (f *flaky) Versions(ctx context.Context, model string) ([]score.StoredVersion, error) {
	if f.down {
		return nil, errors.New("store down for the test")
	}
	return f.ModelStore.Versions(ctx, model)
}

// TestRetrainWaitsForTheStore: while the store cannot be read, a ready
// request stays waiting and its batch still succeeds (nothing skipped,
// no window counted twice); the next batch after the store returns
// decides it, once.
func TestRetrainWaitsForTheStore(t *testing.T) {
	store := &flaky{ModelStore: &score.FileStore{Dir: t.TempDir()}, down: true}
	h := newHarness(t, retrain.Config{Store: store, After: 40, Forest: score.IForestConfig{Trees: 20}})
	ws := windows("pressure", t0, 60, 5, 1)
	if got := h.feed(append([]retrain.Event{ask("iforest-pressure", t0)}, ws[:50]...)...); len(got) != 0 {
		t.Fatalf("decided with the store down: %+v", got)
	}
	if got := h.feed(ws[50:55]...); len(got) != 0 {
		t.Fatalf("decided with the store down: %+v", got)
	}
	store.down = false
	got := h.feed(ws[55:]...)
	if len(got) != 1 || got[0].Action != schemas.ModelPublished || got[0].Metrics["windows"]+got[0].Metrics["holdout"] != 40 {
		t.Fatalf("after the store came back: %+v", got)
	}
}

// alarm returns an alert record of kind on sensor, opened at opened (its
// onset) and, when resolved is not zero, resolved then.
func alarm(kind schemas.AlertKind, sensor string, opened, resolved time.Time) []retrain.Event {
	a := schemas.Alert{AlertID: sensor + "@" + opened.Format(time.RFC3339), SensorID: sensor, Kind: kind, State: schemas.StateOpen,
		OpenedAt: opened.Add(3 * time.Minute), LastSeen: opened.Add(3 * time.Minute), Onset: opened}
	out := []retrain.Event{{Alert: &a}}
	if !resolved.IsZero() {
		r := a
		r.State, r.LastSeen = schemas.StateResolved, resolved
		out = append(out, retrain.Event{Alert: &r})
	}
	return out
}

// TestRetrainLeavesIncidentsOut: the windows of a sensor with an
// ANOMALY, THRESHOLD or PREDICTED alert that touches the request's span
// are neither trained nor judged on; a DRIFT alert, or an incident that
// ended before the request, leaves its sensor in; a request whose windows
// come mostly from sensors in an incident is rejected and stores nothing.
func TestRetrainLeavesIncidentsOut(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		alerts  []retrain.Event
		action  string
		dropped int // windows left out, of 120 over 4 sensors
	}{
		{"no alert", nil, schemas.ModelPublished, 0},
		{"an open anomaly", alarm(schemas.KindAnomaly, "pressure-1", t0.Add(10*time.Minute), time.Time{}), schemas.ModelPublished, 30},
		{"a resolved threshold and a predicted", append(alarm(schemas.KindThreshold, "pressure-2", t0.Add(-time.Hour), t0.Add(time.Minute)),
			alarm(schemas.KindPredicted, "pressure-3", t0.Add(20*time.Minute), t0.Add(25*time.Minute))...), schemas.ModelPublished, 60},
		{"drift only", alarm(schemas.KindDrift, "pressure-1", t0, time.Time{}), schemas.ModelPublished, 0},
		{"ended before the request", alarm(schemas.KindAnomaly, "pressure-1", t0.Add(-3*time.Hour), t0.Add(-2*time.Hour)), schemas.ModelPublished, 0},
		{"mostly faults", append(alarm(schemas.KindAnomaly, "pressure-0", t0, time.Time{}), append(alarm(schemas.KindAnomaly, "pressure-1", t0, time.Time{}),
			alarm(schemas.KindAnomaly, "pressure-2", t0.Add(20*time.Minute), time.Time{})...)...), schemas.ModelRejected, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &score.FileStore{Dir: t.TempDir()}
			h := newHarness(t, retrain.Config{Store: store, After: 120, Forest: score.IForestConfig{Trees: 20}})
			ws := windows("pressure", t0, 120, 5, 11)
			evs := append(append([]retrain.Event{ask("iforest-pressure", t0)}, ws[:60]...), tc.alerts...)
			if got := h.feed(evs...); len(got) != 0 {
				t.Fatalf("decided early: %+v", got)
			}
			got := h.feed(ws[60:]...)
			if len(got) != 1 || got[0].Action != tc.action || int(got[0].Metrics["incident_windows"]) != tc.dropped {
				t.Fatalf("decisions %+v", got)
			}
			u := got[0]
			t.Logf("%s: %s", u.Action, u.Reason)
			vs, _ := store.Versions(ctx, "iforest-pressure")
			if tc.action == schemas.ModelRejected {
				if len(vs) != 0 || !strings.Contains(u.Reason, "incident") {
					t.Fatalf("rejected, yet %d versions stored; reason %q", len(vs), u.Reason)
				}
				return
			}
			if n := u.Metrics["windows"] + u.Metrics["holdout"]; int(n) != 120-tc.dropped || len(vs) != 1 {
				t.Fatalf("trained and judged on %v windows, want %d; %d versions", n, 120-tc.dropped, len(vs))
			}
		})
	}
}

// TestRetrainRejectsACandidateThatFlagsTooMuch: with no version to
// compare with, a candidate that flags more held-out windows than
// Config.MaxFalseAlerts is rejected and nothing is stored.
func TestRetrainRejectsACandidateThatFlagsTooMuch(t *testing.T) {
	for _, tc := range []struct {
		contamination float64
		action        string
	}{{0.01, schemas.ModelPublished}, {0.3, schemas.ModelRejected}} {
		store := &score.FileStore{Dir: t.TempDir()}
		h := newHarness(t, retrain.Config{Store: store, After: 100, Forest: score.IForestConfig{Trees: 30, Contamination: tc.contamination}})
		got := h.feed(append([]retrain.Event{ask("iforest-pressure", t0)}, windows("pressure", t0, 100, 5, 4)...)...)
		if len(got) != 1 || got[0].Action != tc.action {
			t.Fatalf("contamination %v: %+v", tc.contamination, got)
		}
		vs, _ := store.Versions(context.Background(), "iforest-pressure")
		if stored := tc.action == schemas.ModelPublished; stored != (len(vs) == 1) {
			t.Fatalf("contamination %v: %s, %d versions stored", tc.contamination, got[0].Action, len(vs))
		}
		t.Logf("contamination %v: %s: %s", tc.contamination, got[0].Action, got[0].Reason)
	}
}

// TestRetrainRejectsACandidateBlindToALevelChange: a candidate must flag
// Config.MinSensitivity of the held-out windows moved by Config.Shift of
// their standard deviations. With the defaults (6) it does; asked to
// see a move of a tenth of a spread, which is noise, it does not, and is
// rejected without being stored.
func TestRetrainRejectsACandidateBlindToALevelChange(t *testing.T) {
	for _, tc := range []struct {
		shift  float64
		action string
	}{{0, schemas.ModelPublished}, {0.1, schemas.ModelRejected}} {
		store := &score.FileStore{Dir: t.TempDir()}
		h := newHarness(t, retrain.Config{Store: store, After: 100, Shift: tc.shift, Forest: score.IForestConfig{Trees: 30}})
		got := h.feed(append([]retrain.Event{ask("iforest-pressure", t0)}, windows("pressure", t0, 100, 5, 4)...)...)
		if len(got) != 1 || got[0].Action != tc.action {
			t.Fatalf("shift %v: %+v", tc.shift, got)
		}
		sens := got[0].Metrics["sensitivity_candidate"]
		if (tc.action == schemas.ModelPublished) != (sens >= 0.5) {
			t.Fatalf("shift %v: %s with sensitivity %v", tc.shift, got[0].Action, sens)
		}
		if vs, _ := store.Versions(context.Background(), "iforest-pressure"); (len(vs) == 1) != (tc.action == schemas.ModelPublished) {
			t.Fatalf("shift %v: %s, %d versions stored", tc.shift, got[0].Action, len(vs))
		}
		t.Logf("shift %v: %s, sensitivity %.2f: %s", tc.shift, got[0].Action, sens, got[0].Reason)
	}
}

// A candidate is judged on the held-out windows it would judge live:
// when every held-out window is cut short (5 readings where the sensor's
// usual window has 60), it judges none, and it is rejected, not
// published unjudged. With them whole it is published, judged on all.
func TestRetrainRejectsACandidateItCannotJudge(t *testing.T) {
	for _, short := range []bool{false, true} {
		store := &score.FileStore{Dir: t.TempDir()}
		h := newHarness(t, retrain.Config{Store: store, After: 100, Forest: score.IForestConfig{Trees: 30}})
		ws := windows("pressure", t0, 100, 5, 4)
		if short {
			for i, ev := range ws { // the ones held out: every fourth of each sensor's
				if (i/4+1)%4 == 0 {
					ev.Features.Count = 5
				}
			}
		}
		got := h.feed(append([]retrain.Event{ask("iforest-pressure", t0)}, ws...)...)
		want, judged := schemas.ModelPublished, 24.0
		if short {
			want, judged = schemas.ModelRejected, 0
		}
		if len(got) != 1 || got[0].Action != want || got[0].Metrics["holdout"] != 24 || got[0].Metrics["holdout_judged"] != judged {
			t.Fatalf("held-out windows cut short %v: %+v", short, got)
		}
		t.Logf("cut short %v: %s: %s", short, got[0].Action, got[0].Reason)
	}
}
