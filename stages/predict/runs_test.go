package predict

import (
	"context"
	"encoding/json"
	"math"
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

// TestRULRunEndsAfterAGap: an asset off line for longer than RunGap (a
// repair) comes back on a new run. Its predictions from then on are the
// model's on the new run alone, as if it were another asset; across a
// restart early in the new run (before it has a start to keep) too. With
// no RunGap the old run goes on, and the predictions differ.
func TestRULRunEndsAfterAGap(t *testing.T) {
	channels := []string{"wear", "noise", "constant"}
	train, _ := runs(30, 1, false)
	m, err := TrainRUL(train, channels, RULConfig{Boost: BoostConfig{Seed: 1, Trees: 60}})
	if err != nil {
		t.Fatal(err)
	}
	units, _ := runs(2, 7, false)
	first, second := units[0], units[1]
	// The second unit's rows come from the first's asset, two hours after
	// its last.
	again := Run{Unit: first.Unit, Values: second.Values}
	for _, tm := range second.Times {
		again.Times = append(again.Times, tm+first.Times[len(first.Times)-1]+120)
	}
	in := append(streamOf([]Run{first}, channels), streamOf([]Run{again}, channels)...)
	want := append(offline(m, []Run{first})[first.Unit], offline(m, []Run{second})[second.Unit]...)
	const topic = "asset.features"
	same := func(got []schemas.Prediction, from int) bool {
		for i, p := range got {
			w := want[from+i]
			if p.RemainingLife != w[0] || p.RemainingLower != w[1] || p.RemainingUpper != w[2] {
				return false
			}
		}
		return from+len(got) == len(want)
	}
	_, whole := rulStageGap(t, m, time.Hour)
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, whole, topic, 0, in, "asset.predictions"); !same(got, 0) {
		t.Fatalf("with a run gap of an hour: %d predictions, not the model's on each run", len(got))
	}
	_, endless := rulStageGap(t, m, 0)
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, endless, topic, 0, in, "asset.predictions"); same(got, 0) {
		t.Fatal("with no run gap the second run's predictions are the model's on it alone: the test does not test the gap")
	}

	// A restart ten rows into the new run.
	cut := (len(first.Times) + 10) * len(channels)
	s1, l1 := rulStageGap(t, m, time.Hour)
	res, err := l1.Process(context.Background(), msgs(in[:cut], topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	before, err := pipeline.Decode[schemas.Prediction](context.Background(), res, "asset.predictions")
	if err != nil || len(before) != len(first.Times)+10 {
		t.Fatalf("%d predictions before the restart (%v)", len(before), err)
	}
	entries, err := pipeline.Decode[schemas.StageState](context.Background(), res, "asset.rul.state")
	if err != nil || len(entries) != 2 || !strings.Contains(string(entries[1].Value), `"start":null`) {
		t.Fatalf("state entries %q (%v), want the first run's start and the second run's beginning", entries, err)
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
