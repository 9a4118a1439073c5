package forecast_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/forecast"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// series returns a sensor's windows, one a minute: level(i) plus noise.
func series(id string, n int, level func(i int) float64) []schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(7, uint64(len(id))))
	out := make([]schemas.FeatureVector, n)
	for i := range out {
		v := level(i) + 0.05*rng.NormFloat64()
		out[i] = schemas.FeatureVector{SensorID: id, AssetID: "pump-1", SensorType: "temperature",
			WindowStart: t0.Add(time.Duration(i) * time.Minute), WindowEnd: t0.Add(time.Duration(i+1) * time.Minute),
			Count: 60, Mean: v, Std: 0.3, RMS: v}
	}
	return out
}

func newLocal(t *testing.T, cfg forecast.Config) (*forecast.Stage, *pipeline.Local[schemas.FeatureVector]) {
	t.Helper()
	s, err := forecast.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "forecast", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

func process(t *testing.T, l *pipeline.Local[schemas.FeatureVector], fvs []schemas.FeatureVector, firstOffset int64) []schemas.Forecast {
	t.Helper()
	return pipelinetest.Process[schemas.FeatureVector, schemas.Forecast](t, l, "features", firstOffset, fvs, "sensor.forecasts")
}

func ptr(v float64) *float64 { return &v }

// A sensor that holds steady for an hour and then rises 0.5 a minute is
// foreseen to cross its limit before it does; while steady, nothing
// crosses. Limits work above, below and relative to the usual level.
func TestForecastForeseesTheCrossingOfALimit(t *testing.T) {
	up := func(i int) float64 { return 65 + 0.5*float64(max(0, i-60)) }
	down := func(i int) float64 { return 65 - 0.5*float64(max(0, i-60)) }
	tests := []struct {
		name  string
		limit forecast.Limit
		level func(int) float64
		cross int // the first window beyond the limit
	}{
		{"above", forecast.Limit{SensorType: "temperature", Above: ptr(75)}, up, 80},
		{"below", forecast.Limit{SensorType: "temperature", Below: ptr(55)}, down, 80},
		{"a rise over the usual level", forecast.Limit{SensorID: "t1", Rise: ptr(10)}, up, 80},
		{"a fall", forecast.Limit{SensorID: "t1", Fall: ptr(10)}, down, 80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, l := newLocal(t, forecast.Config{Limits: []forecast.Limit{tc.limit}})
			fs := process(t, l, series("t1", 100, tc.level), 0)
			if len(fs) != 100-9 {
				t.Fatalf("%d forecasts, want one a window after the 10-window warm-up", len(fs))
			}
			first := -1
			for i, f := range fs {
				w := i + 9 // the window the forecast was issued at
				// (A relative limit follows the median of the last hour,
				// which the ramp begins to move once it fills a third.)
				if w < 80 && math.Abs(f.Limit-75) > 0.1 && math.Abs(f.Limit-55) > 0.1 {
					t.Fatalf("window %d: limit %v", w, f.Limit)
				}
				switch {
				case w < 60 && f.Predicts():
					t.Fatalf("window %d, while steady: crossing foreseen in %vs", w, f.CrossesInS)
				case w > tc.cross && f.CrossesInS != 0:
					t.Fatalf("window %d, beyond the limit: crosses in %vs, want 0", w, f.CrossesInS)
				case first < 0 && f.Predicts():
					first = w
					if f.Model != "holt-damped" {
						t.Errorf("window %d, on the ramp: forecast by %s, want the fast model", w, f.Model)
					}
					if !(f.CrossesEarliestS <= f.CrossesInS && (f.CrossesLatestS < 0 || f.CrossesInS <= f.CrossesLatestS)) {
						t.Errorf("crossing in %vs outside its interval %v..%v", f.CrossesInS, f.CrossesEarliestS, f.CrossesLatestS)
					}
				}
			}
			if first < 0 || first > tc.cross-5 {
				t.Fatalf("first forecast of the crossing at window %d, want at least 5 windows before it happens at %d", first, tc.cross)
			}
		})
	}
}

func TestForecastWithoutALimit(t *testing.T) {
	_, l := newLocal(t, forecast.Config{WarmUp: 6, Horizon: 10 * time.Minute})
	fs := process(t, l, series("t2", 20, func(int) float64 { return 4 }), 0)
	if len(fs) != 15 {
		t.Fatalf("%d forecasts after a warm-up of 6, want 15", len(fs))
	}
	f := fs[len(fs)-1]
	if f.Predicts() || f.LimitDirection != "" || f.CrossesInS != -1 || f.HorizonS != 600 || f.Feature != "mean" || f.Model != "smoothed-level" {
		t.Fatalf("%+v", f)
	}
	if !(f.Lower < f.Value && f.Value < f.Upper) || math.Abs(f.Value-4) > 0.2 || !f.IssuedAt.Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("%+v", f)
	}
}

// A window whose feature is not a number, or that is older than the
// sensor's last, is left out: no forecast, and the history unspoilt.
func TestForecastSkipsWhatItCannotUse(t *testing.T) {
	fvs := series("t6", 30, func(int) float64 { return 4 })
	fvs[20].Mean = math.NaN()
	fvs = append(fvs, fvs[25]) // sent again
	_, l := newLocal(t, forecast.Config{})
	fs := process(t, l, fvs, 0)
	if len(fs) != 30-9-1 {
		t.Fatalf("%d forecasts, want one a window after the warm-up, but for the NaN and the repeat", len(fs))
	}
	for _, f := range fs {
		if math.IsNaN(f.Value) || math.IsNaN(f.Upper) || math.Abs(f.Value-4) > 0.2 {
			t.Fatalf("%+v", f)
		}
	}
}

// A restart forecasts as if there had been none: the stage retains the
// windows its histories hold and skips those it had forecast.
func TestForecastResumesExactly(t *testing.T) {
	fvs := series("t3", 150, func(i int) float64 { return 65 + 0.2*float64(max(0, i-100)) })
	cfg := forecast.Config{Limits: []forecast.Limit{{SensorType: "temperature", Rise: ptr(5)}}}
	_, whole := newLocal(t, cfg)
	want := process(t, whole, fvs, 0)

	first, l1 := newLocal(t, cfg)
	process(t, l1, fvs[:110], 0)
	tp := pipeline.TopicPartition{Topic: "features"}
	retained, ok := first.Retained()[tp]
	if !ok || retained != 110-60 {
		t.Fatalf("retained offset %d (%v), want the 60 windows of history: 50", retained, ok)
	}
	second, l2 := newLocal(t, cfg)
	second.Resume(tp, first.Checkpoint(tp))
	got := process(t, l2, fvs[retained:], retained)
	if !reflect.DeepEqual(got, want[110-9:]) {
		t.Fatalf("after the restart: %d forecasts, want %d\n%+v\nwant\n%+v", len(got), len(want[110-9:]), got[:1], want[110-9])
	}
}

// A restart after the hop changed (hopping windows, then tumbling ones)
// forecasts as if there had been none: the overlap comes from the last
// windows, which the restart replays, not from the sensor's whole past.
func TestForecastResumesExactlyAfterTheHopChanged(t *testing.T) {
	cfg := forecast.Config{Season: -1, History: 20, WarmUp: 10, Select: 3}
	fvs := series("h", 200, func(i int) float64 { return 65 + 0.01*float64(i*i%37) })
	for i := range 5 { // 2-minute windows hopping by 1 minute first
		fvs[i].WindowEnd = fvs[i].WindowStart.Add(2 * time.Minute)
	}
	_, whole := newLocal(t, cfg)
	want := process(t, whole, fvs, 0)
	first, l1 := newLocal(t, cfg)
	before := process(t, l1, fvs[:150], 0)
	tp := pipeline.TopicPartition{Topic: "features"}
	from := first.Retained()[tp]
	second, l2 := newLocal(t, cfg)
	second.Resume(tp, first.Checkpoint(tp))
	got := process(t, l2, fvs[from:], from)
	if len(got) == 0 || !reflect.DeepEqual(got, want[len(before):]) {
		t.Fatalf("after the restart: %d forecasts, want %d", len(got), len(want)-len(before))
	}
}

// A stray window (the same one a microsecond late) neither stops a
// sensor's forecasts nor keeps its history, and the offset retained for
// it, from moving on.
func TestForecastShrugsOffAStrayWindow(t *testing.T) {
	fvs := series("s", 500, func(int) float64 { return 1 })
	stray := fvs[99]
	stray.WindowStart = stray.WindowStart.Add(time.Microsecond)
	stray.WindowEnd = stray.WindowStart.Add(time.Minute)
	all := slices.Concat(fvs[:100], []schemas.FeatureVector{stray}, fvs[100:])
	s, l := newLocal(t, forecast.Config{Season: -1})
	fs := process(t, l, all, 0)
	if r := s.Retained()[pipeline.TopicPartition{Topic: "features"}]; r != int64(len(all)-60) {
		t.Errorf("retained offset %d, want %d: the 60 windows of history", r, len(all)-60)
	}
	if want := len(all) - 9; len(fs) != want { // every window after the warm-up's
		t.Errorf("%d forecasts, want %d", len(fs), want)
	}
}

// Values near the float64 limit give no forecast rather than one with
// infinite bounds (which no alert or JSON could carry).
func TestForecastOfHugeValuesIsFiniteOrNone(t *testing.T) {
	fvs := series("s", 40, func(i int) float64 { return math.Copysign(1e308, float64(i%2)-0.5) })
	_, l := newLocal(t, forecast.Config{Season: -1, Limits: []forecast.Limit{{SensorID: "s", Above: ptr(10)}}})
	for _, f := range process(t, l, fvs, 0) {
		for _, v := range []float64{f.Value, f.Lower, f.Upper, f.Level, f.TrendPerHour, f.CrossesInS, f.CrossesEarliestS, f.CrossesLatestS} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("finite input, a forecast with %v: %+v", v, f)
			}
		}
	}
}

// On a noisy level, the forecast beats the last value, and its 80%
// intervals hold about 80% of what happens.
func TestEvaluateScoresAgainstTheNaiveForecast(t *testing.T) {
	_, l := newLocal(t, forecast.Config{Horizon: 5 * time.Minute})
	fs := process(t, l, series("t4", 400, func(int) float64 { return 1 }), 0)
	acc := forecast.Evaluate(fs)
	if acc.Sensors != 1 || acc.Forecasts != len(fs)-5 {
		t.Fatalf("%+v for %d forecasts", acc, len(fs))
	}
	if acc.RelMAE >= 0.9 || acc.Better != 1 {
		t.Errorf("on noise around a level the forecast should beat the last value: %+v", acc)
	}
	if acc.Coverage < 0.7 || acc.Coverage > 0.95 {
		t.Errorf("80%% intervals hold %.2f of the outcomes", acc.Coverage)
	}
}

func TestForecastRejectsAndValidates(t *testing.T) {
	_, l := newLocal(t, forecast.Config{})
	res, err := l.Process(context.Background(), []pipeline.Msg[schemas.FeatureVector]{{Value: schemas.FeatureVector{}}})
	if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Kind != pipeline.KindInvalid {
		t.Fatalf("%+v %v", res, err)
	}
	for _, c := range []forecast.Config{
		{Fast: forecast.Holt{Alpha: 0.5, Beta: 0.6, Phi: 0.9}},
		{Slow: forecast.Level{Alpha: 2, T: 4}},
		{Bias: -1},
		{Select: 10},
		{WarmUp: 2},
		{History: 5, WarmUp: 10},
		{Horizon: -time.Second},
		{DefaultFeature: "colour"},
		{Season: 24 * time.Hour, Slots: 7}, // slots of 3h25m42.857142857s
		{Season: time.Hour, Slots: 1},
		{Limits: []forecast.Limit{{SensorType: "x", Above: ptr(1), Below: ptr(0)}}},
		{Limits: []forecast.Limit{{Above: ptr(1)}}},
		{Limits: []forecast.Limit{{SensorType: "x", Rise: ptr(-1)}}},
	} {
		if _, err := forecast.New(c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":      "{",
		"two limits":    `[{"sensor_type":"x","above":1,"rise":2}]`,
		"unknown field": `[{"sensor_type":"x","above":1,"feature":"colour"}]`,
	} {
		path := filepath.Join(dir, "limits.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := forecast.LoadLimits(path); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		} else if name == "unknown field" && !strings.Contains(err.Error(), `unknown feature "colour" (mean, std,`) {
			t.Errorf("an unknown feature does not list the known ones: %v", err)
		}
	}
	if _, err := forecast.LoadLimits(filepath.Join(dir, "missing.json")); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("missing file: %v", err)
	}
}

// Windows of one reading (count:1) span no time: a step of the model is
// the time between them, so the horizon is as many of those.
func TestForecastStepsFollowPointWindows(t *testing.T) {
	_, l := newLocal(t, forecast.Config{})
	fvs := series("t5", 30, func(int) float64 { return 20 })
	for i := range fvs {
		fvs[i].WindowStart = t0.Add(time.Duration(i) * 5 * time.Minute)
		fvs[i].WindowEnd = fvs[i].WindowStart.Add(time.Nanosecond)
	}
	fs := process(t, l, fvs, 0)
	if len(fs) != 21 || fs[0].HorizonS != 1800 {
		t.Fatalf("%d forecasts, the first %+v; want 21 with a horizon of 6 steps of 5 minutes", len(fs), fs[0])
	}
}

// Unused names the limits the stage would give no sensor: a misspelt
// type, a missing sensor, and limits others take the place of.
func TestUnusedLimits(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	c := forecast.Config{Limits: []forecast.Limit{
		{SensorType: "vibration", Above: v(2.8)},
		{SensorType: "vibraton", Above: v(2.8)},                // misspelt
		{SensorID: "pump-9/temp", Above: v(95)},                // no such sensor
		{SensorID: "pump-1/temp", Above: v(90)},                // its own
		{SensorType: "temperature", Above: v(95)},              // every temperature sensor has its own
		{SensorType: "vibration", Above: v(3)},                 // the first vibration limit comes before it
		{SensorID: "pump-1/vib", SensorType: "x", Below: v(1)}, // an id limit matches by id alone
	}}
	sensors := map[string]string{"pump-1/temp": "temperature", "pump-1/vib": "vibration", "pump-2/vib": "vibration"}
	var got []string
	for _, l := range c.Unused(sensors) {
		got = append(got, l.SensorID+"|"+l.SensorType)
	}
	want := []string{"|vibraton", "pump-9/temp|", "|temperature", "|vibration"}
	if !slices.Equal(got, want) {
		t.Errorf("unused %q, want %q", got, want)
	}
}
