package forecast_test

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/forecast"
)

const day = 24 * 60 // one-minute windows a day

// daily is a sensor with a daily cycle of amplitude 2 over a slow rise.
func daily(i int) float64 {
	return 65 + 0.0005*float64(i) + 2*math.Sin(2*math.Pi*float64(i)/day)
}

// stateOf runs fvs through a stage of cfg and returns its forecasts and
// the last state entry of each sensor.
func stateOf(t *testing.T, cfg forecast.Config, fvs []schemas.FeatureVector) ([]schemas.Forecast, *forecast.Stage, map[string][]byte) {
	t.Helper()
	s, l := newLocal(t, cfg)
	res, err := l.Process(context.Background(), msgs(fvs, 0))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pipeline.Decode[schemas.Forecast](context.Background(), res, "sensor.forecasts")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := pipeline.Decode[schemas.StageState](context.Background(), res, "sensor.forecast.state")
	if err != nil {
		t.Fatal(err)
	}
	last := map[string][]byte{}
	for _, e := range entries {
		last[e.Key] = e.Value
	}
	return fs, s, last
}

func msgs(fvs []schemas.FeatureVector, first int64) []pipeline.Msg[schemas.FeatureVector] {
	out := make([]pipeline.Msg[schemas.FeatureVector], len(fvs))
	for i, fv := range fvs {
		out[i] = pipeline.Msg[schemas.FeatureVector]{Topic: "features", Offset: first + int64(i), Key: []byte(fv.SensorID), Value: fv}
	}
	return out
}

// On the third day of a daily cycle, three hours ahead, the forecast
// that knows the cycle has well under half the error of the one that
// only follows the last hour; before two days are in, the two agree.
func TestForecastLearnsADailyCycle(t *testing.T) {
	fvs := series("t5", 3*day, daily)
	reg := prometheus.NewRegistry()
	cfg := forecast.Config{Horizon: 3 * time.Hour, Registerer: reg}
	with, _, _ := stateOf(t, cfg, fvs)
	cfg.Season, cfg.Registerer = -1, nil
	without, _, _ := stateOf(t, cfg, fvs)
	if len(with) != len(without) {
		t.Fatalf("%d forecasts with the cycle, %d without", len(with), len(without))
	}
	firstCycle := -1
	for i := range with {
		if strings.HasSuffix(with[i].Model, "+cycle") {
			firstCycle = i
			break
		}
		if !reflect.DeepEqual(with[i], without[i]) {
			t.Fatalf("forecast %d differs before the cycle is used: %+v, %+v", i, with[i], without[i])
		}
	}
	// 2 days of windows, less the warm-up's 9 without a forecast, plus up
	// to a slot for the second cycle's last fold.
	if firstCycle < 2*day-9 || firstCycle > 2*day-9+15 {
		t.Fatalf("the cycle was first used at forecast %d, want after two days (%d)", firstCycle, 2*day-9)
	}
	if n := pipelinetest.Metric(t, reg, "smaint_forecast_cycle_total"); n != float64(len(with)-firstCycle) {
		t.Errorf("smaint_forecast_cycle_total %v, want the %d forecasts from the first along the cycle", n, len(with)-firstCycle)
	}
	a, b := forecast.Evaluate(with[firstCycle:]), forecast.Evaluate(without[firstCycle:])
	t.Logf("third day, 3 h ahead: MAE %.3f of naive with the cycle (80%% intervals held %.2f), %.3f without (%.2f)", a.RelMAE, a.Coverage, b.RelMAE, b.Coverage)
	if a.RelMAE > 0.5*b.RelMAE {
		t.Errorf("on the third day, MAE %.3f of naive with the cycle, %.3f without", a.RelMAE, b.RelMAE)
	}
	if a.Coverage < 0.6 {
		t.Errorf("80%% intervals held %.2f with the cycle", a.Coverage)
	}
}

// A flat noisy sensor has no cycle to speak of: it is never used.
func TestForecastIgnoresACycleThatIsNoise(t *testing.T) {
	fs, _, state := stateOf(t, forecast.Config{}, series("t6", 3*day, func(int) float64 { return 40 }))
	for _, f := range fs {
		if strings.HasSuffix(f.Model, "+cycle") {
			t.Fatalf("forecast at %v used the cycle of noise", f.IssuedAt)
		}
	}
	if len(state["t6"]) == 0 {
		t.Fatal("no state entry for the sensor")
	}
}

// A restart two and a half days in forecasts exactly as an uninterrupted
// run: the cycle comes back from the state topic and the windows since
// its last fold from the retained input. Without the state entries, the
// restarted stage would learn its cycle again and forecast differently.
func TestForecastResumesItsCycleExactly(t *testing.T) {
	fvs := series("t7", 3*day, daily)
	cfg := forecast.Config{Horizon: 3 * time.Hour}
	want, _, _ := stateOf(t, cfg, fvs)

	cut := 2*day + day/2 + 7 // mid-slot
	before, first, state := stateOf(t, cfg, fvs[:cut])
	if !reflect.DeepEqual(before, want[:len(before)]) {
		t.Fatal("the first part differs from the uninterrupted run")
	}
	tp := pipeline.TopicPartition{Topic: "features"}
	from := first.Retained()[tp]
	restart := func(restore bool) []schemas.Forecast {
		s, l := newLocal(t, cfg)
		if restore {
			for k, v := range state {
				s.Restore(tp, k, v)
			}
		}
		s.Resume(tp, first.Checkpoint(tp))
		return process(t, l, fvs[from:], from)
	}
	if got := restart(true); !reflect.DeepEqual(got, want[len(before):]) {
		t.Fatalf("after the restart: %d forecasts, want %d", len(got), len(want)-len(before))
	}
	if got := restart(false); reflect.DeepEqual(got, want[len(before):]) {
		t.Fatal("without its state the restart forecast the same: the test does not test the state")
	}
	// An entry that does not fit the configured cycle, or is not one, is
	// dropped: the sensor learns its cycle again from its next window.
	for name, cfg := range map[string]forecast.Config{"other slots": {Slots: 48}, "not json": {}} {
		s, l := newLocal(t, cfg)
		entry := state["t7"]
		if name == "not json" {
			entry = []byte("{not json")
		}
		s.Restore(tp, "t7", entry)
		s.Resume(tp, first.Checkpoint(tp))
		res, err := l.Process(context.Background(), msgs(fvs[from:from+1], from))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pipeline.Decode[schemas.StageState](context.Background(), res, "sensor.forecast.state")
		if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Value), `"cycles":0`) {
			t.Errorf("%s: after the entry was dropped, state %q (%v), want a cycle learnt anew", name, got, err)
		}
	}
}
