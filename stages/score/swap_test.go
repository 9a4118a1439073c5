package score_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// trainPressure trains a forest for pressure on the windows of level.
func trainPressure(t *testing.T, shift int, seed uint64) *score.IForest {
	t.Helper()
	var rows [][]float64
	for _, fv := range windows("train", "pressure", 200, shift) {
		rows = append(rows, score.FeatureValues(nil, &fv))
	}
	m, err := score.TrainIForest("iforest-pressure", "pressure", score.FeatureNames(0), rows, score.IForestConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// announce publishes m as version in st and returns its ModelUpdated.
func announce(t *testing.T, st score.ModelStore, m *score.IForest, version, action string) *schemas.ModelUpdated {
	t.Helper()
	pub, err := score.Publish(context.Background(), st, []*score.IForest{m}, version, score.Manifest{CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return &schemas.ModelUpdated{ModelName: m.Model, Version: version, URI: pub[0].URI, SHA256: pub[0].SHA256, Action: action}
}

// TestLiveSwap: a published version scores the windows after it, each
// window once; a wrong checksum is refused and the version in use stays;
// a shadow version is scored beside the live one and counted; a live
// version ends the shadow.
func TestLiveSwap(t *testing.T) {
	ctx := context.Background()
	store := &score.FileStore{Dir: t.TempDir()}
	reg := prometheus.NewRegistry()
	st, l := newLocal(t, score.Config{Registerer: reg})
	v1 := announce(t, store, trainPressure(t, 0, 1), "v1", schemas.ModelPublished)
	v2 := announce(t, store, trainPressure(t, 0, 2), "v2", schemas.ModelPublished)
	v3 := announce(t, store, trainPressure(t, 0, 3), "v3", schemas.ModelShadow)
	fvs := windows("p1", "pressure", 40, 0)
	version := func(out []schemas.AnomalyScore) string {
		vs := map[string]bool{}
		for _, s := range out {
			vs[s.ModelVersion] = true
		}
		if len(vs) != 1 {
			t.Fatalf("one batch scored by %v", vs)
		}
		return out[0].ModelVersion
	}

	if err := st.Apply(ctx, store, v1); err != nil {
		t.Fatal(err)
	}
	a := process(t, l, fvs[:10], 0)
	if err := st.Apply(ctx, store, v2); err != nil {
		t.Fatal(err)
	}
	b := process(t, l, fvs[10:20], 10)
	if len(a)+len(b) != 20 || version(a) != "iforest-pressure@v1" || version(b) != "iforest-pressure@v2" {
		t.Fatalf("scored %d+%d windows by %s then %s", len(a), len(b), version(a), version(b))
	}

	bad := *v1
	bad.SHA256 = strings.Repeat("0", 64)
	if err := st.Apply(ctx, store, &bad); !errors.Is(err, score.ErrChecksum) {
		t.Fatalf("a wrong checksum: %v", err)
	}
	if v := version(process(t, l, fvs[20:25], 20)); v != "iforest-pressure@v2" {
		t.Fatalf("after a refused version, scored by %s", v)
	}

	if err := st.Apply(ctx, store, v3); err != nil {
		t.Fatal(err)
	}
	if v := version(process(t, l, fvs[25:35], 25)); v != "iforest-pressure@v2" {
		t.Fatalf("with a shadow, the live version is %s", v)
	}
	shadowOf := map[string]string{"sensor_type": "pressure", "version": "v3"}
	total := sum(t, reg, "smaint_score_shadow_windows_total", shadowOf)
	if total != 10 {
		t.Fatalf("shadow counted %v windows, want 10", total)
	}

	live := *v3
	live.Action = schemas.ModelPromoted
	if err := st.Apply(ctx, store, &live); err != nil {
		t.Fatal(err)
	}
	if v := version(process(t, l, fvs[35:40], 35)); v != "iforest-pressure@v3" {
		t.Fatalf("promoted, scored by %s", v)
	}
	if after := sum(t, reg, "smaint_score_shadow_windows_total", shadowOf); after != total {
		t.Fatalf("the shadow went on after promotion: %v windows", after)
	}
	if n := sum(t, reg, "smaint_score_models_refused_total", nil); n != 1 {
		t.Fatalf("%v refusals counted", n)
	}
	if err := st.Apply(ctx, store, &schemas.ModelUpdated{ModelName: "lstm-x", Version: "1"}); !errors.Is(err, score.ErrNotAModel) {
		t.Fatalf("another model's update: %v", err)
	}
}

// sum adds up the series of metric name in reg whose labels include want.
func sum(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
