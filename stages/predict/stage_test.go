package predict_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/predict"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// trained is a classifier of "failure": hot and shaking, from a
// temperature's mean, a vibration's std and a pressure's mean.
func trained(t *testing.T) *predict.Classifier {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	tab := predict.Table{Header: []string{"temperature", "vibration.std", "pressure", "failure"}}
	for range 2000 {
		temp, vib, pres := 60+40*rng.Float64(), 4*rng.Float64(), 5+rng.NormFloat64()
		label := "0"
		if temp > 85 && vib > 2.5 {
			label = "1"
		}
		tab.Rows = append(tab.Rows, []string{fmt.Sprint(temp), fmt.Sprint(vib), fmt.Sprint(pres), label})
	}
	c, err := predict.TrainClassifier(tab, []string{"temperature", "vibration.std", "pressure"}, []string{"failure"}, predict.BoostConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// window is sensor typ of asset at minute i, with mean and std.
func window(asset, typ string, i int, mean, std float64) schemas.FeatureVector {
	at := t0.Add(time.Duration(i) * time.Minute)
	return schemas.FeatureVector{SensorID: asset + "-" + typ, AssetID: asset, SensorType: typ, WindowStart: at, WindowEnd: at.Add(time.Minute),
		Count: 60, Mean: mean, Std: std}
}

func newStage(t *testing.T, c *predict.Classifier) (*predict.Stage, *pipeline.Local[schemas.FeatureVector]) {
	t.Helper()
	s, err := predict.New(predict.Config{Classifier: c, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "predict", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// TestPredictScoresAnAssetOnceItsSensorsAreIn: a prediction is issued
// when the last input of an asset's window start arrives, equal to the
// classifier's own on the same row; a window start that never completes
// is dropped when a later one does; a window without asset_id is dead-
// lettered.
func TestPredictScoresAnAssetOnceItsSensorsAreIn(t *testing.T) {
	c := trained(t)
	_, l := newStage(t, c)
	in := []schemas.FeatureVector{
		window("a1", "temperature", 0, 95, 1), window("a2", "temperature", 0, 70, 1),
		window("a1", "vibration", 0, 0, 3.5), window("a1", "current", 0, 9, 1), // current: not an input
		window("a2", "vibration", 0, 0, 3.5),
		window("a1", "pressure", 0, 5, 1),                                                                                // a1 at minute 0 is complete: hot and shaking
		window("a2", "temperature", 1, 72, 1), window("a2", "vibration", 1, 0, 0.5), window("a2", "pressure", 1, 5, 0.2), // a2 minute 1 completes; minute 0 lacked pressure
	}
	got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, "asset.features", 0, in, "asset.predictions")
	if len(got) != 2 || got[0].AssetID != "a1" || !got[0].WindowStart.Equal(t0) || got[1].AssetID != "a2" || !got[1].WindowStart.Equal(t0.Add(time.Minute)) {
		t.Fatalf("predictions %+v", got)
	}
	for _, pr := range got {
		row := []string{fmt.Sprint(pr.Inputs["temperature"]), fmt.Sprint(pr.Inputs["vibration.std"]), fmt.Sprint(pr.Inputs["pressure"])}
		want, err := c.Predict([]string{"temperature", "vibration.std", "pressure"}, row)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Probabilities["failure"] != want[0] || pr.Model != "gbdt-failure" || pr.ModelVersion != "v1" || len(pr.Drivers) != 3 {
			t.Errorf("%s: %+v, the classifier says %v", pr.AssetID, pr, want)
		}
	}
	if got[0].Probabilities["failure"] < 0.5 || got[1].Probabilities["failure"] > 0.5 || len(got[0].Predicted()) != 1 {
		t.Errorf("a1 should fail and a2 not: %v %v", got[0].Probabilities, got[1].Probabilities)
	}

	res, err := l.Process(context.Background(), []pipeline.Msg[schemas.FeatureVector]{{Value: schemas.FeatureVector{SensorID: "x", SensorType: "temperature"}, Topic: "asset.features", Offset: 9}})
	if err != nil || len(res.Rejected) != 1 || !errors.Is(res.Rejected[0].Err, pipeline.ErrInvalid) {
		t.Fatalf("a window without asset: %v %+v", err, res)
	}
}

// TestPredictResumesWithoutScoringTwice: after a restart mid-row, the
// retained windows replay; the row completes with the next window and is
// scored once, as a run without the restart scores it.
func TestPredictResumesWithoutScoringTwice(t *testing.T) {
	c := trained(t)
	var in []schemas.FeatureVector
	for i := range 6 {
		for _, asset := range []string{"a1", "a2"} {
			temp := 70 + 5*float64(i)
			in = append(in, window(asset, "temperature", i, temp, 1), window(asset, "vibration", i, 0, 0.6*float64(i)), window(asset, "pressure", i, 5, 1))
		}
	}
	_, whole := newStage(t, c)
	want := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, whole, "asset.features", 0, in, "asset.predictions")
	if len(want) != 12 {
		t.Fatalf("%d predictions without a restart, want 12", len(want))
	}

	cut := 16 // a2's minute 2 has its temperature only
	s1, l1 := newStage(t, c)
	before := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l1, "asset.features", 0, in[:cut], "asset.predictions")
	tp := pipeline.TopicPartition{Topic: "asset.features"}
	cp, from := s1.Checkpoint(tp), s1.Retained()[tp]
	if from != 15 {
		t.Fatalf("retained from %d, want 15 (a2's minute 2)", from)
	}
	s2, l2 := newStage(t, c)
	s2.Resume(tp, cp)
	after := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l2, "asset.features", from, in[from:], "asset.predictions")
	got := append(before, after...)
	if len(got) != len(want) {
		t.Fatalf("%d predictions across the restart, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].AssetID != want[i].AssetID || !got[i].WindowStart.Equal(want[i].WindowStart) || got[i].Probabilities["failure"] != want[i].Probabilities["failure"] {
			t.Errorf("prediction %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPredictConfig(t *testing.T) {
	c := trained(t)
	for i, cfg := range []predict.Config{{Classifier: &predict.Classifier{}}, {Classifier: c, Feature: "nope"}, {Classifier: c, Pending: -1}} {
		if _, err := predict.New(cfg); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("config %d: %v", i, err)
		}
	}
}

// TestPredictWaitsForAClassifier: without a classifier the stage scores
// nothing; one given by SetClassifier scores from the next batch on, and
// one that cannot score is refused.
func TestPredictWaitsForAClassifier(t *testing.T) {
	s, err := predict.New(predict.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "predict", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	minute := func(i int) []schemas.FeatureVector {
		return []schemas.FeatureVector{window("a1", "temperature", i, 95, 1), window("a1", "vibration", i, 0, 3), window("a1", "pressure", i, 5, 1)}
	}
	if got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, "asset.features", 0, minute(0), "asset.predictions"); len(got) != 0 {
		t.Fatalf("scored without a classifier: %+v", got)
	}
	if err := s.SetClassifier(&predict.Classifier{}, "broken"); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("an empty classifier: %v", err)
	}
	if err := s.SetClassifier(trained(t), "v7"); err != nil {
		t.Fatal(err)
	}
	got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, "asset.features", 3, minute(1), "asset.predictions")
	if len(got) != 1 || got[0].ModelVersion != "v7" || s.Version() != "v7" || !got[0].WindowStart.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after SetClassifier: %+v", got)
	}
}

// TestPredictWaitsForASensorBehind: one sensor's windows may run far
// ahead of another's (partitions read in turn after downtime); every
// window start still completes when the others catch up.
func TestPredictWaitsForASensorBehind(t *testing.T) {
	_, l := newStage(t, trained(t))
	var in []schemas.FeatureVector
	for i := range 30 {
		in = append(in, window("a1", "temperature", i, 80, 1))
	}
	for i := range 30 {
		in = append(in, window("a1", "vibration", i, 0, 1), window("a1", "pressure", i, 5, 1))
	}
	got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, "asset.features", 0, in, "asset.predictions")
	if len(got) != 30 {
		t.Fatalf("%d predictions, want 30", len(got))
	}
}

// TestPredictTakesCategoriesFromTheAssetsAttributes: a classifier that
// learnt a failure only product type H has is given each asset's type
// from Config.Attributes, and scores as it does offline on the same row;
// an asset without one scores as an unseen type.
func TestPredictTakesCategoriesFromTheAssetsAttributes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	tab := predict.Table{Header: []string{"Type", "temperature", "failure"}}
	for range 3000 {
		typ, temp := []string{"L", "M", "H"}[rng.IntN(3)], 60+40*rng.Float64()
		label := "0"
		if typ == "H" && temp > 80 {
			label = "1"
		}
		tab.Rows = append(tab.Rows, []string{typ, fmt.Sprint(temp), label})
	}
	c, err := predict.TrainClassifier(tab, []string{"Type", "temperature"}, []string{"failure"}, predict.BoostConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := predict.New(predict.Config{Classifier: c, Version: "v1", Attributes: map[string]map[string]string{"a1": {"Type": "H"}, "a2": {"Type": "L"}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "predict", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := []schemas.FeatureVector{window("a1", "temperature", 0, 95, 1), window("a2", "temperature", 0, 95, 1), window("a3", "temperature", 0, 95, 1)}
	got := pipelinetest.Process[schemas.FeatureVector, schemas.Prediction](t, l, "asset.features", 0, in, "asset.predictions")
	if len(got) != 3 {
		t.Fatalf("%d predictions", len(got))
	}
	typ := map[string]string{"a1": "H", "a2": "L", "a3": ""} // a3: no attributes
	for _, pr := range got {
		want, err := c.Predict([]string{"Type", "temperature"}, []string{typ[pr.AssetID], "95"})
		if err != nil {
			t.Fatal(err)
		}
		if pr.Probabilities["failure"] != want[0] {
			t.Errorf("%s: %v in the stream, %v offline with type %q", pr.AssetID, pr.Probabilities["failure"], want[0], typ[pr.AssetID])
		}
	}
	if p := got[0].Probabilities["failure"]; p < 0.5 {
		t.Errorf("a hot type-H asset: failure %v", p)
	}
	if p := got[1].Probabilities["failure"]; p > 0.5 {
		t.Errorf("a hot type-L asset: failure %v", p)
	}
}

func TestLoadAttributes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"good", `{"asset-001": {"Type": "L"}, "asset-002": {}}`, true},
		{"number level", `{"asset-001": {"Type": 3}}`, false},
		{"not an object", `["asset-001"]`, false},
		{"not json", `Type=L`, false},
	} {
		path := dir + "/" + tc.name + ".json"
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		attrs, err := predict.LoadAttributes(path)
		if tc.ok && (err != nil || attrs["asset-001"]["Type"] != "L") {
			t.Errorf("%s: %v, %v", tc.name, attrs, err)
		}
		if !tc.ok && !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%s: error %v, want pipeline.ErrConfig", tc.name, err)
		}
	}
	if _, err := predict.LoadAttributes(dir + "/none.json"); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("a missing file: %v", err)
	}
}

// A classifier from a store that could not score a row (a split on a
// feature it lacks, a child past its tree, gains for other features,
// a label without a model) is refused when set, and the one scoring
// stays; a trained one is taken.
func TestSetClassifierRefusesBrokenModels(t *testing.T) {
	good, err := json.Marshal(trained(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(c *predict.Classifier)
	}{
		{"a label without a model", func(c *predict.Classifier) { c.Models[0] = nil }},
		{"a split past the features", func(c *predict.Classifier) { split(c).Feature = len(c.Features) }},
		{"a child past the nodes", func(c *predict.Classifier) { split(c).Left = len(c.Models[0].Trees[0].Nodes) }},
		{"gains for fewer features", func(c *predict.Classifier) { c.Models[0].Gain = c.Models[0].Gain[:1] }},
		{"features not of its inputs", func(c *predict.Classifier) { c.Features = c.Features[:1] }},
		{"a tree without nodes", func(c *predict.Classifier) { c.Models[0].Trees[0].Nodes = nil }},
	}
	for _, tc := range tests {
		c := new(predict.Classifier)
		if err := json.Unmarshal(good, c); err != nil {
			t.Fatal(err)
		}
		s, err := predict.New(predict.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetClassifier(c, "v1"); err != nil {
			t.Fatalf("%s: the trained classifier refused: %v", tc.name, err)
		}
		tc.edit(c)
		if err := s.SetClassifier(c, "v2"); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%s: SetClassifier = %v, want an ErrConfig", tc.name, err)
		}
	}
}

// split is the first split node of c's first model.
func split(c *predict.Classifier) *predict.Node {
	for i := range c.Models[0].Trees {
		nodes := c.Models[0].Trees[i].Nodes
		for j := range nodes {
			if nodes[j].Left != 0 {
				return &nodes[j]
			}
		}
	}
	panic("no split")
}

// Models are set from another goroutine while the stage scores (the
// race detector checks this).
func TestSetClassifierWhileScoring(t *testing.T) {
	c := trained(t)
	s, l := newStage(t, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if err := s.SetClassifier(c, "v2"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 200 {
		if _, err := l.Process(context.Background(), []pipeline.Msg[schemas.FeatureVector]{{Topic: "asset.features", Offset: int64(i), Value: window("a1", "temperature", i, 90, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
