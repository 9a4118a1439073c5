package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// streamOf is units' runs as windows of one minute per row, one sensor
// per channel (its type the channel's name, the row's value its mean),
// interleaved row by row.
func streamOf(units []Run, channels []string) []schemas.FeatureVector {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out []schemas.FeatureVector
	for i := 0; ; i++ {
		more := false
		for _, r := range units {
			if i >= len(r.Times) {
				continue
			}
			more = true
			at := t0.Add(time.Duration(r.Times[i]-1) * time.Minute)
			for c, ch := range channels {
				out = append(out, schemas.FeatureVector{SensorID: r.Unit + "-" + ch, AssetID: r.Unit, SensorType: ch,
					WindowStart: at, WindowEnd: at.Add(time.Minute), Count: 1, Mean: r.Values[i][c]})
			}
		}
		if !more {
			return out
		}
	}
}

// offline is m's prediction and interval at every row of every unit, by
// unit, as smaint evaluate makes them.
func offline(m *RUL, units []Run) map[string][][3]float64 {
	out := map[string][][3]float64{}
	for _, r := range units {
		for i := range r.Times {
			part := Run{Unit: r.Unit, Times: r.Times[:i+1], Values: r.Values[:i+1]}
			lo, hi := m.Interval(part)
			out[r.Unit] = append(out[r.Unit], [3]float64{m.Predict(part), lo, hi})
		}
	}
	return out
}

func rulStage(t *testing.T, m *RUL) (*Stage, *pipeline.Local[schemas.FeatureVector]) {
	t.Helper()
	return rulStageGap(t, m, 0)
}

// rulStageGap is rulStage with a RunGap.
func rulStageGap(t *testing.T, m *RUL, gap time.Duration) (*Stage, *pipeline.Local[schemas.FeatureVector]) {
	t.Helper()
	s, err := New(Config{Task: TaskRUL, RUL: m, Version: "v1", RunGap: gap}) // m nil: the stage waits for SetRUL
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "rul", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// TestRULInTheStreamEqualsOffline: streamed one window per row, each
// asset's remaining life and interval at each row are what the model
// says offline of the run up to that row, to the last bit; and so they
// stay across a restart, with each run's start restored from the state
// topic and the rows since replayed from the retained offset.
func TestRULInTheStreamEqualsOffline(t *testing.T) {
	channels := []string{"wear", "noise", "constant"}
	train, _ := runs(30, 1, false)
	m, err := TrainRUL(train, channels, RULConfig{Boost: BoostConfig{Seed: 1, Trees: 60}})
	if err != nil {
		t.Fatal(err)
	}
	units, _ := runs(4, 5, false) // whole runs: 120 rows or more, so each has its start saved by the cut
	want := offline(m, units)
	in := streamOf(units, channels)
	const topic = "asset.features"

	check := func(got []schemas.Prediction, seen map[string]int) {
		t.Helper()
		for _, p := range got {
			i := seen[p.AssetID]
			seen[p.AssetID]++
			w := want[p.AssetID][i]
			if p.RemainingLife != w[0] || p.RemainingLower != w[1] || p.RemainingUpper != w[2] || len(p.Drivers) != 3 {
				t.Fatalf("%s row %d: %v [%v, %v], offline %v", p.AssetID, i, p.RemainingLife, p.RemainingLower, p.RemainingUpper, w)
			}
		}
	}
	_, whole := rulStage(t, m)
	seen := map[string]int{}
	check(pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, whole, topic, 0, in, "asset.predictions"), seen)
	for _, r := range units {
		if seen[r.Unit] != len(r.Times) {
			t.Fatalf("%s: %d predictions for %d rows", r.Unit, seen[r.Unit], len(r.Times))
		}
	}

	// The restart: well past every unit's first Window rows.
	cut := len(in) * 3 / 4
	s1, l1 := rulStage(t, m)
	res, err := l1.Process(context.Background(), msgs(in[:cut], topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	seen = map[string]int{}
	before, err := pipeline.Decode[schemas.Prediction](context.Background(), res, "asset.predictions")
	if err != nil {
		t.Fatal(err)
	}
	check(before, seen)
	entries, err := pipeline.Decode[schemas.StageState](context.Background(), res, "asset.rul.state")
	long := 0 // units whose run had its first Window rows before the cut
	for _, n := range seen {
		if n >= m.Window {
			long++
		}
	}
	if err != nil || len(entries) != long || long < 2 {
		t.Fatalf("%d state entries, want one per unit with %d rows (%d) (%v)", len(entries), m.Window, long, err)
	}
	var e runEntry
	if json.Unmarshal(entries[0].Value, &e) != nil || len(e.Start) != len(channels) || math.IsNaN(e.Start[0]) {
		t.Fatalf("state entry %s", entries[0].Value)
	}
	tp := pipeline.TopicPartition{Topic: topic}
	cp, from := s1.Checkpoint(tp), s1.Retained()[tp]
	if from <= 0 || from >= int64(cut) {
		t.Fatalf("retained from %d of %d: want the runs' last Window rows, not their start", from, cut)
	}
	// The stage restarts before its model is loaded, as the stream's does.
	s2, l2 := rulStage(t, nil)
	for _, e := range entries {
		s2.Restore(tp, e.Key, e.Value)
	}
	s2.Resume(tp, cp)
	if err := s2.SetRUL(m, "v1"); err != nil {
		t.Fatal(err)
	}
	after := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l2, topic, from, in[from:], "asset.predictions")
	check(after, seen)
	for _, r := range units {
		if seen[r.Unit] != len(r.Times) {
			t.Fatalf("across the restart, %s: %d predictions for %d rows", r.Unit, seen[r.Unit], len(r.Times))
		}
	}
}

func msgs(fvs []schemas.FeatureVector, topic string, first int64) []pipeline.Msg[schemas.FeatureVector] {
	out := make([]pipeline.Msg[schemas.FeatureVector], len(fvs))
	for i := range fvs {
		out[i] = pipeline.Msg[schemas.FeatureVector]{Value: fvs[i], Topic: topic, Offset: first + int64(i)}
	}
	return out
}

// renewal is the fixture of the tests of a run's end: a model, and two
// units' runs on one asset, the second's rows gap minutes after the
// first's last (streamed as in). want is the model's prediction on each
// run alone at each row.
type renewal struct {
	m             *RUL
	channels      []string
	first, second Run
	in            []schemas.FeatureVector
	want          [][3]float64
}

func newRenewal(t *testing.T, gap float64) *renewal {
	t.Helper()
	f := &renewal{channels: []string{"wear", "noise", "constant"}}
	train, _ := runs(30, 1, false)
	var err error
	if f.m, err = TrainRUL(train, f.channels, RULConfig{Boost: BoostConfig{Seed: 1, Trees: 60}}); err != nil {
		t.Fatal(err)
	}
	units, _ := runs(2, 7, false)
	f.first, f.second = units[0], units[1]
	again := Run{Unit: f.first.Unit, Values: f.second.Values}
	for _, tm := range f.second.Times {
		again.Times = append(again.Times, tm+f.first.Times[len(f.first.Times)-1]+gap)
	}
	f.in = append(streamOf([]Run{f.first}, f.channels), streamOf([]Run{again}, f.channels)...)
	f.want = append(offline(f.m, []Run{f.first})[f.first.Unit], offline(f.m, []Run{f.second})[f.second.Unit]...)
	return f
}

// same reports whether got are the model's predictions on each run alone
// from row from of the two, to the end.
func (f *renewal) same(got []schemas.Prediction, from int) bool {
	for i, p := range got {
		w := f.want[from+i]
		if p.RemainingLife != w[0] || p.RemainingLower != w[1] || p.RemainingUpper != w[2] {
			return false
		}
	}
	return from+len(got) == len(f.want)
}

// TestRULRunEndsAfterAGap: an asset off line for longer than RunGap (a
// repair) comes back on a new run. Its predictions from then on are the
// model's on the new run alone, as if it were another asset; across a
// restart early in the new run (before it has a start to keep) too, and
// with a repair recorded while it was off line. With no RunGap the old
// run goes on, and the predictions differ.
func TestRULRunEndsAfterAGap(t *testing.T) {
	f := newRenewal(t, 120) // two hours off line
	m, first, in, same, channels := f.m, f.first, f.in, f.same, f.channels
	const topic = "asset.features"
	_, whole := rulStageGap(t, m, time.Hour)
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, whole, topic, 0, in, "asset.predictions"); !same(got, 0) {
		t.Fatalf("with a run gap of an hour: %d predictions, not the model's on each run", len(got))
	}
	// A repair done while it was off line changes nothing: the new run
	// begins with its first window back, whenever the repair's record
	// comes.
	repaired, withRepair := rulStageGap(t, m, time.Hour)
	offAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(first.Times[len(first.Times)-1]+60) * time.Minute)
	repaired.Maintained(&schemas.Maintenance{AssetID: first.Unit, PerformedAt: offAt, Action: "repair", Renews: true})
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, withRepair, topic, 0, in, "asset.predictions"); !same(got, 0) {
		t.Fatalf("with a repair while off line: %d predictions, not the model's on each run", len(got))
	}
	_, endless := rulStageGap(t, m, 0)
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, endless, topic, 0, in, "asset.predictions"); same(got, 0) {
		t.Fatal("with no run gap the second run's predictions are the model's on it alone: the test does not test the gap")
	}

	// A restart ten rows into the new run.
	cut := (len(first.Times) + 10) * len(channels)
	s1, l1 := rulStageGap(t, m, time.Hour)
	before, entries := emitted(t, l1, in, 0, int64(cut), topic)
	if len(before) != len(first.Times)+10 {
		t.Fatalf("%d predictions before the restart", len(before))
	}
	if len(entries) != 2 || !strings.Contains(string(entries[1].Value), `"start":null`) {
		t.Fatalf("state entries %q, want the first run's start and the second run's beginning", entries)
	}
	tp := pipeline.TopicPartition{Topic: topic}
	s2, l2 := rulStageGap(t, m, time.Hour)
	for _, e := range entries { // in the runner's order: Restore, then Resume
		s2.Restore(tp, e.Key, e.Value)
	}
	s2.Resume(tp, s1.Checkpoint(tp))
	from := s1.Retained()[tp]
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l2, topic, from, in[from:], "asset.predictions"); !same(got, len(before)) {
		t.Fatalf("after the restart: %d predictions, not the model's on the new run", len(got))
	}
}

// TestRULRunEndsAtMaintenance: an asset renewed without going off line
// (a repair recorded on asset.maintenance) comes back on a new run,
// dated from the maintenance: its predictions from then on are the
// model's on the new run alone. Work that does not renew it (an
// inspection) changes nothing, and so does no record. A restart ten rows
// into the new run, the maintenance read again, predicts the same. A
// stage that learns of the maintenance only once it has scored rows past
// it begins the new run at its next row, still dated from the
// maintenance: the model's on the new run from that row.
func TestRULRunEndsAtMaintenance(t *testing.T) {
	f := newRenewal(t, 0) // renewed between two windows
	m, first, second, in, same, channels := f.m, f.first, f.second, f.in, f.same, f.channels
	last := first.Times[len(first.Times)-1]
	renewedAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(last) * time.Minute) // the second run's first window
	repair := &schemas.Maintenance{AssetID: first.Unit, PerformedAt: renewedAt, Action: "repair", Renews: true}
	const topic = "asset.features"
	for _, tc := range []struct {
		name  string
		maint []*schemas.Maintenance
		renew bool
	}{
		{"a repair", []*schemas.Maintenance{repair}, true},
		{"an inspection", []*schemas.Maintenance{{AssetID: first.Unit, PerformedAt: renewedAt, Action: "inspection"}}, false},
		{"a repair of another asset", []*schemas.Maintenance{{AssetID: second.Unit + "x", PerformedAt: renewedAt, Action: "repair", Renews: true}}, false},
		{"no record", nil, false},
	} {
		s, l := rulStage(t, m)
		for _, mt := range tc.maint {
			s.Maintained(mt)
		}
		if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, topic, 0, in, "asset.predictions"); same(got, 0) != tc.renew {
			t.Errorf("%s: %d predictions, the model's on each run alone: %v", tc.name, len(got), !tc.renew)
		}
	}

	// A restart ten rows into the new run.
	cut := (len(first.Times) + 10) * len(channels)
	s1, l1 := rulStage(t, m)
	s1.Maintained(repair)
	before, entries := emitted(t, l1, in, 0, int64(cut), topic)
	if len(before) != len(first.Times)+10 {
		t.Fatalf("%d predictions before the restart", len(before))
	}
	if len(entries) != 2 || !strings.Contains(string(entries[1].Value), fmt.Sprintf(`"began_us":%d`, renewedAt.UnixMicro())) {
		t.Fatalf("state entries %q, want the first run's start and the second run's beginning", entries)
	}
	tp := pipeline.TopicPartition{Topic: topic}
	s2, l2 := rulStage(t, m)
	s2.Maintained(repair) // the topic read again from its start
	for _, e := range entries {
		s2.Restore(tp, e.Key, e.Value)
	}
	s2.Resume(tp, s1.Checkpoint(tp))
	from := s1.Retained()[tp]
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l2, topic, from, in[from:], "asset.predictions"); !same(got, len(before)) {
		t.Fatalf("after the restart: %d predictions, not the model's on the new run", len(got))
	}

	// Learnt late: five rows into the new run.
	late := (len(first.Times) + 5) * len(channels)
	s3, l3 := rulStage(t, m)
	early := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l3, topic, 0, in[:late], "asset.predictions")
	if len(early) != len(first.Times)+5 {
		t.Fatalf("learnt late: %d predictions before", len(early))
	}
	s3.Maintained(repair)
	fromRow(t, m, second, 5, pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l3, topic, int64(late), in[late:], "asset.predictions"))

	// Learnt while the stage was down: the stage before the restart had
	// not read the maintenance, the one after reads it at its start. The
	// replayed rows rebuild the run as it was; the new run begins at the
	// first row scored after the restart, as it would have without one.
	s4, l4 := rulStage(t, m)
	if _, entries = emitted(t, l4, in, 0, int64(cut), topic); len(entries) != 1 {
		t.Fatalf("state entries %q, want the first run's start", entries)
	}
	s5, l5 := rulStage(t, m)
	s5.Maintained(repair)
	s5.Restore(tp, entries[0].Key, entries[0].Value)
	s5.Resume(tp, s4.Checkpoint(tp))
	after, entries := emitted(t, l5, in, s4.Retained()[tp], int64(len(in)), topic)
	fromRow(t, m, second, 10, after)
	if len(entries) != 2 {
		t.Fatalf("state entries after the restart %q, want the new run's beginning and its start", entries)
	}
}

// fromRow checks that got are m's predictions on r from its row k on (a
// run that begins at row k, dated as r is).
func fromRow(t *testing.T, m *RUL, r Run, k int, got []schemas.Prediction) {
	t.Helper()
	rest := Run{Unit: r.Unit, Times: r.Times[k:], Values: r.Values[k:]}
	want := offline(m, []Run{rest})[r.Unit]
	if len(got) != len(want) {
		t.Fatalf("from row %d: %d predictions for %d rows", k, len(got), len(want))
	}
	for i, p := range got {
		if w := want[i]; p.RemainingLife != w[0] || p.RemainingLower != w[1] || p.RemainingUpper != w[2] {
			t.Fatalf("row %d of the new run: %v [%v, %v], want the model's on the run from row %d, %v", k+i, p.RemainingLife, p.RemainingLower, p.RemainingUpper, k, w)
		}
	}
}

// TestRULMaintenanceLearntLateSurvivesARestart: a repair the stage learns
// of only after scoring rows past it, then a restart, with another asset
// on the partition holding the replay back to before the repair: the
// replayed rows the old run scored stay out of the new run, and every
// prediction after the restart is the uninterrupted stage's. Two repairs
// learnt at once, both before the next row, date the new run from the
// later one; one learnt after the run it would begin has begun begins
// nothing.
func TestRULMaintenanceLearntLateSurvivesARestart(t *testing.T) {
	f := newRenewal(t, 0)
	others, _ := runs(1, 11, false)
	other := Run{Unit: "other", Times: others[0].Times, Values: others[0].Values}
	// One row of the other asset after each row of the renewed one.
	var in []schemas.FeatureVector
	rows, extra := f.in, streamOf([]Run{other}, f.channels)
	per := len(f.channels)
	for i := 0; i < len(rows) || i < len(extra); i += per {
		in = append(in, rows[min(i, len(rows)):min(i+per, len(rows))]...)
		in = append(in, extra[min(i, len(extra)):min(i+per, len(extra))]...)
	}
	last := f.first.Times[len(f.first.Times)-1]
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(minutes float64) time.Time { return t0.Add(time.Duration(minutes * float64(time.Minute))) }
	repairs := []*schemas.Maintenance{
		{AssetID: f.first.Unit, PerformedAt: at(last - 2), Action: "repair", Renews: true},
		{AssetID: f.first.Unit, PerformedAt: at(last), Action: "replacement", Renews: true},
	}
	// Where the stream has the renewed asset's new run 10 rows in (the
	// repairs learnt there), and 20 (the restart).
	cutAt := func(rowsIn int) int {
		for i, fv := range in {
			if fv.AssetID == f.first.Unit && !fv.WindowStart.Before(at(last+float64(rowsIn))) {
				return i
			}
		}
		t.Fatal("no such row")
		return 0
	}
	late, restart := cutAt(10), cutAt(20)
	const topic = "asset.features"
	process := func(l *pipeline.Local[schemas.FeatureVector], from, to int) pipeline.Result {
		t.Helper()
		res, err := l.Process(context.Background(), msgs(in[from:to], topic, int64(from)))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	predictions := func(res pipeline.Result) []schemas.Prediction {
		t.Helper()
		got, err := pipeline.Decode[schemas.Prediction](context.Background(), res, "asset.predictions")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Uninterrupted.
	s, l := rulStage(t, f.m)
	process(l, 0, late)
	for _, r := range repairs {
		s.Maintained(r)
	}
	mid := predictions(process(l, late, restart))
	want := predictions(process(l, restart, len(in)))
	// The renewed asset's new run is dated from the later repair, and
	// begins at the first row scored after the stage learnt of them.
	var renewed []schemas.Prediction
	for _, p := range append(mid, want...) {
		if p.AssetID == f.first.Unit {
			renewed = append(renewed, p)
		}
	}
	fromRow(t, f.m, Run{Unit: f.first.Unit, Times: f.second.Times, Values: f.second.Values}, 10, renewed)

	// Stopped at the restart, started again.
	s1, l1 := rulStage(t, f.m)
	var entries []schemas.StageState
	for i, cut := range [][2]int{{0, late}, {late, restart}} {
		if i == 1 {
			for _, r := range repairs {
				s1.Maintained(r)
			}
		}
		es, err := pipeline.Decode[schemas.StageState](context.Background(), process(l1, cut[0], cut[1]), "asset.rul.state")
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, es...)
	}
	tp := pipeline.TopicPartition{Topic: topic}
	s2, l2 := rulStage(t, f.m)
	for _, r := range repairs {
		s2.Maintained(r)
	}
	for _, e := range entries { // in the runner's order: Restore, then Resume
		s2.Restore(tp, e.Key, e.Value)
	}
	s2.Resume(tp, s1.Checkpoint(tp))
	from := int(s1.Retained()[tp])
	if from >= cutAt(0) {
		t.Fatalf("the replay starts at %d, after the repair's row %d: the test does not test the replay", from, cutAt(0))
	}
	if got := predictions(process(l2, from, len(in))); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the restart, %d predictions differ from the uninterrupted stage's %d", len(got), len(want))
	}

	// A renewal learnt after the run it would begin has begun (at an
	// earlier renewal, learnt first) begins nothing: the run goes on.
	s3, l3 := rulStage(t, f.m)
	process(l3, 0, late)
	s3.Maintained(repairs[1])
	got := predictions(process(l3, late, restart))
	s3.Maintained(&schemas.Maintenance{AssetID: f.first.Unit, PerformedAt: at(last + 5), Action: "repair", Renews: true})
	got = append(got, predictions(process(l3, restart, len(in)))...)
	renewed = renewed[:0]
	for _, p := range got {
		if p.AssetID == f.first.Unit {
			renewed = append(renewed, p)
		}
	}
	fromRow(t, f.m, Run{Unit: f.first.Unit, Times: f.second.Times, Values: f.second.Values}, 10, renewed)
}

// emitted processes in[from:to] (at their offsets) with l, and returns
// the predictions and state entries it emitted.
func emitted(t *testing.T, l *pipeline.Local[schemas.FeatureVector], in []schemas.FeatureVector, from, to int64, topic string) ([]schemas.Prediction, []schemas.StageState) {
	t.Helper()
	res, err := l.Process(context.Background(), msgs(in[from:to], topic, from))
	if err != nil {
		t.Fatal(err)
	}
	return outputs(t, res)
}

// outputs decodes the predictions and state entries of res.
func outputs(t *testing.T, res pipeline.Result) ([]schemas.Prediction, []schemas.StageState) {
	t.Helper()
	preds, err := pipeline.Decode[schemas.Prediction](context.Background(), res, "asset.predictions")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := pipeline.Decode[schemas.StageState](context.Background(), res, "asset.rul.state")
	if err != nil {
		t.Fatal(err)
	}
	return preds, entries
}

// A window whose input is NaN goes to the dead-letter topic, and the run
// goes on without it: no prediction carries a NaN, and the run's state
// entry restores after a restart.
func TestRULRefusesNonFiniteInputs(t *testing.T) {
	channels := []string{"wear", "noise", "constant"}
	train, _ := runs(30, 1, false)
	m, err := TrainRUL(train, channels, RULConfig{Boost: BoostConfig{Seed: 1, Trees: 20}})
	if err != nil {
		t.Fatal(err)
	}
	units, _ := runs(1, 5, false)
	in := streamOf(units, channels)
	in[3].Mean = math.NaN() // in the run's first Window rows
	_, l := rulStage(t, m)
	res, err := l.Process(context.Background(), msgs(in, "asset.features", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Index != 3 || !strings.Contains(res.Rejected[0].Err.Error(), "not a finite number") {
		t.Fatalf("rejected %+v, want window 3 alone, for its NaN", res.Rejected)
	}
	preds, entries := outputs(t, res)
	if len(preds) == 0 || len(entries) == 0 {
		t.Fatalf("%d predictions, %d state entries", len(preds), len(entries))
	}
	for _, p := range preds {
		if math.IsNaN(p.RemainingLife) || math.IsNaN(p.RemainingLower) || math.IsNaN(p.RemainingUpper) {
			t.Fatalf("a prediction with NaN: %+v", p)
		}
	}
	e := entries[len(entries)-1]
	s2, _ := rulStage(t, m)
	s2.Restore(pipeline.TopicPartition{Topic: "asset.features"}, e.Key, e.Value)
	if run := s2.runs[e.Key]; run == nil || run.start == nil {
		t.Errorf("state entry %q does not restore the run with its start", e.Value)
	}
}

// Renewals are kept for the rul task only, and the latest maxRenewals of
// an asset at most (an asset of another instance never passes them).
func TestRenewalsAreBounded(t *testing.T) {
	for _, task := range []string{TaskRUL, TaskFailure} {
		s, err := New(Config{Task: task, StateTopic: "asset.rul.state"})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		for i := range 3 * maxRenewals {
			s.Maintained(&schemas.Maintenance{AssetID: "elsewhere", Renews: true, PerformedAt: at.Add(time.Duration(i) * time.Hour)})
			if i%10 == 0 {
				s.swap()
			}
		}
		s.swap()
		got := s.renewed["elsewhere"]
		switch {
		case task == TaskFailure && len(s.renewed) != 0:
			t.Errorf("failure task keeps %d assets' renewals", len(s.renewed))
		case task == TaskRUL && (len(got) != maxRenewals || !got[len(got)-1].Equal(at.Add(time.Duration(3*maxRenewals-1)*time.Hour))):
			t.Errorf("rul task keeps %d renewals %v; want the latest %d", len(got), got, maxRenewals)
		}
	}
}
