package drift_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/drift"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// series makes one reading a second for a sensor, value f(second).
func series(sensor, typ string, secs int, f func(i int, rng *rand.Rand) float64) []schemas.SensorReading {
	rng := rand.New(rand.NewPCG(5, uint64(len(sensor))))
	out := make([]schemas.SensorReading, secs)
	for i := range out {
		out[i] = schemas.SensorReading{ReadingID: "x", SensorID: sensor, AssetID: "a", SensorType: typ,
			TS: t0.Add(time.Duration(i) * time.Second), Value: f(i, rng), Unit: "u", Quality: 100}
	}
	return out
}

type env struct {
	stage *drift.Stage
	local *pipeline.Local[schemas.SensorReading]
}

func newEnv(t *testing.T, cfg drift.Config) *env {
	t.Helper()
	s, err := drift.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "drift", pipeline.Stage[schemas.SensorReading](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{s, l}
}

func (e *env) run(t *testing.T, rs []schemas.SensorReading, firstOffset int64) ([]schemas.DriftReport, []schemas.RetrainEvent) {
	t.Helper()
	var reps []schemas.DriftReport
	var evs []schemas.RetrainEvent
	for i := 0; i < len(rs); i += 250 {
		var in []pipeline.Msg[schemas.SensorReading]
		for j := i; j < min(i+250, len(rs)); j++ {
			in = append(in, pipeline.Msg[schemas.SensorReading]{Value: rs[j], Topic: "clean", Offset: firstOffset + int64(j)})
		}
		res, err := e.local.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := pipeline.Decode[schemas.DriftReport](context.Background(), res, "sensor.drift")
		v, _ := pipeline.Decode[schemas.RetrainEvent](context.Background(), res, "model.retrain")
		reps, evs = append(reps, r...), append(evs, v...)
	}
	return reps, evs
}

func TestStableSignalDoesNotDrift(t *testing.T) {
	e := newEnv(t, drift.Config{})
	// 2 h of noise on the steepest part of a daily cycle of ±1.5 (5
	// spreads): 0.1 spread per 5 minutes.
	rs := series("t1", "temperature", 7200, func(i int, rng *rand.Rand) float64 {
		return 65 + 1.5*sin(float64(i)/86400) + 0.3*rng.NormFloat64()
	})
	reps, evs := e.run(t, rs, 0)
	if len(reps) < 20 || len(evs) != 0 {
		t.Fatalf("%d reports, %d retrain events", len(reps), len(evs))
	}
	for _, r := range reps {
		if r.Drifted {
			t.Errorf("drift reported on a stable signal: %+v", r)
		}
		if r.ReferenceEnd != r.CurrentStart || r.CurrentEnd.Sub(r.CurrentStart) != 5*time.Minute || r.CurrentCount != 300 {
			t.Errorf("windows %+v", r)
		}
	}
}

// A sensor that wanders slowly next to its sampling rate (a random walk
// read every second) fills each window with values that nearly repeat
// each other: its windows always differ a little, and that is not drift.
// The same wander on white noise with a step in it still reports the step.
func TestSlowWanderIsNotDriftButAStepOnItIs(t *testing.T) {
	walk := func(step float64) []schemas.SensorReading {
		var x float64
		return series("w1", "temperature", 7200, func(i int, rng *rand.Rand) float64 {
			x += 0.002 * rng.NormFloat64()
			v := 20 + x + 0.001*rng.NormFloat64()
			if i >= 3600 {
				v += step
			}
			return v
		})
	}
	count := func(rs []schemas.SensorReading) (drifted int) {
		reps, _ := newEnv(t, drift.Config{}).run(t, rs, 0)
		for _, r := range reps {
			if r.Drifted {
				drifted++
			}
		}
		return drifted
	}
	if n := count(walk(0)); n != 0 {
		t.Errorf("%d drifted reports on a slow random walk", n)
	}
	if n := count(walk(1)); n == 0 {
		t.Error("a step of many spreads on the walk was not reported")
	}
}

func TestStepIsReportedOnceAndRequestsOneRetrain(t *testing.T) {
	e := newEnv(t, drift.Config{})
	rs := series("p1", "pressure", 3600, func(i int, rng *rand.Rand) float64 {
		v := 4.2 + 0.03*rng.NormFloat64()
		if i >= 1500 { // during the sixth window: 25 s in
			v += 0.045 // 1.5 spreads
		}
		return v
	})
	reps, evs := e.run(t, rs, 0)
	var drifted []schemas.DriftReport
	for _, r := range reps {
		if r.Drifted {
			drifted = append(drifted, r)
		}
	}
	if len(drifted) == 0 || len(drifted) > 2 {
		t.Fatalf("%d drifted reports: %+v", len(drifted), drifted)
	}
	if d := drifted[0]; d.CurrentStart != t0.Add(25*time.Minute) || d.KSPValue >= 0.01 || d.PSI < 0.2 || d.Method != "ks+psi" {
		t.Errorf("first drifted report %+v", d)
	}
	if len(evs) != 1 || evs[0].ModelName != "iforest-pressure" || evs[0].Scope != "sensor_type:pressure" ||
		evs[0].SensorID != "p1" || !evs[0].RequestedAt.Equal(drifted[0].CurrentEnd) || evs[0].EventID == "" {
		t.Fatalf("retrain events %+v", evs)
	}
}

func TestRetrainCooldownAndCap(t *testing.T) {
	e := newEnv(t, drift.Config{Cooldown: time.Hour, MaxConcurrent: 1})
	step := func(at int) func(int, *rand.Rand) float64 {
		return func(i int, rng *rand.Rand) float64 {
			v := rng.NormFloat64()
			if i >= at {
				v += 3
			}
			if i >= at+1200 {
				v += 3
			}
			return v
		}
	}
	var rs []schemas.SensorReading
	a := series("a", "pressure", 3600, step(900))
	b := series("b", "current", 3600, step(900))
	for i := range a {
		rs = append(rs, a[i], b[i])
	}
	_, evs := e.run(t, rs, 0)
	// Two drifts each: the second inside the hour's cooldown; current's
	// request waits for pressure's to age out of the cap.
	if len(evs) != 1 || evs[0].Scope != "sensor_type:pressure" && evs[0].Scope != "sensor_type:current" {
		t.Fatalf("retrain events %+v", evs)
	}
}

func TestResumeDoesNotReportAgain(t *testing.T) {
	rs := series("p1", "pressure", 3600, func(i int, rng *rand.Rand) float64 {
		v := rng.NormFloat64()
		if i >= 1800 {
			v += 2
		}
		return v
	})
	whole, _ := newEnv(t, drift.Config{}).run(t, rs, 0)

	first := newEnv(t, drift.Config{})
	got, _ := first.run(t, rs[:2000], 0)
	tp := pipeline.TopicPartition{Topic: "clean"}
	retained := first.stage.Retained()[tp]
	if retained > 1500 {
		t.Fatalf("retained %d: the reference window starts at 1500", retained)
	}
	second := newEnv(t, drift.Config{})
	second.stage.Resume(tp, first.stage.Checkpoint(tp))
	more, _ := second.run(t, rs[retained:], retained)
	got = append(got, more...)
	if !reflect.DeepEqual(got, whole) {
		t.Fatalf("with a restart: %d reports, without: %d", len(got), len(whole))
	}
}

func TestSampleStaysBounded(t *testing.T) {
	e := newEnv(t, drift.Config{MaxValues: 64, MinValues: 20})
	// 100 readings a second for 15 minutes.
	var rs []schemas.SensorReading
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 90_000 {
		rs = append(rs, schemas.SensorReading{SensorID: "v", SensorType: "vibration", TS: t0.Add(time.Duration(i) * 10 * time.Millisecond), Value: rng.NormFloat64()})
	}
	reps, _ := e.run(t, rs, 0)
	if len(reps) != 1 || reps[0].CurrentCount != 30_000 || reps[0].Drifted {
		t.Fatalf("%+v", reps)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []drift.Config{{Window: time.Millisecond}, {Alpha: 2}, {MinValues: 1000}, {MaxConcurrent: -1}, {Bins: 1}} {
		if _, err := drift.New(c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestSparseWindowsAreCountedNotCompared: a sensor read every 10 s has 30
// values in a 5-minute window, fewer than the 50 a comparison needs: no
// report, and each comparison not made is counted. With MinValues at 20,
// the same data is compared.
func TestSparseWindowsAreCountedNotCompared(t *testing.T) {
	slow := series("p", "pressure", 3600, func(i int, rng *rand.Rand) float64 { return rng.NormFloat64() })
	var every10 []schemas.SensorReading
	for i := 0; i < len(slow); i += 10 {
		every10 = append(every10, slow[i])
	}
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	reps, _ := newEnv(t, drift.Config{Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).run(t, every10, 0)
	if got := pipelinetest.Metric(t, reg, "smaint_drift_sparse_windows_total"); len(reps) != 0 || got < 10 {
		t.Fatalf("%d reports, %v comparisons counted as sparse", len(reps), got)
	}
	// Said once, with the window that would hold enough: 5m × 50/30.
	if n := strings.Count(logs.String(), "never reports drift"); n != 1 || !strings.Contains(logs.String(), `"window_needed":"9m0s"`) {
		t.Fatalf("%d warnings: %s", n, logs.String())
	}
	if reps, _ := newEnv(t, drift.Config{MinValues: 20}).run(t, every10, 0); len(reps) < 10 {
		t.Fatalf("with 20 values needed, %d reports", len(reps))
	}
}

func TestWindowFor(t *testing.T) {
	tests := []struct {
		window    time.Duration
		got, need int
		want      time.Duration
	}{
		{5 * time.Minute, 30, 50, 9 * time.Minute},
		{5 * time.Minute, 1, 50, 250 * time.Minute},
		{5 * time.Minute, 100, 50, 5 * time.Minute}, // never shorter
		{5 * time.Minute, 0, 50, 24 * time.Hour},
		{time.Hour, 1, 50, 24 * time.Hour}, // at most a day
	}
	for _, tc := range tests {
		if got := drift.WindowFor(tc.window, tc.got, tc.need); got != tc.want {
			t.Errorf("WindowFor(%v, %d, %d) = %v, want %v", tc.window, tc.got, tc.need, got, tc.want)
		}
	}
}

// A sensor's first window is cut short by where its readings begin: too
// few values to compare once is not a sensor too slow for drift, and is
// not warned about.
func TestAShortFirstWindowIsNotWarnedAbout(t *testing.T) {
	rs := series("p", "pressure", 1800, func(i int, rng *rand.Rand) float64 { return rng.NormFloat64() })
	rs = rs[280:] // the first window holds 20 values
	var logs bytes.Buffer
	reps, _ := newEnv(t, drift.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).run(t, rs, 0)
	if len(reps) < 3 || logs.Len() != 0 {
		t.Fatalf("%d reports; logs: %s", len(reps), logs.String())
	}
}
