package features_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/simulate"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type env struct {
	stage *features.Stage
	local *pipeline.Local[schemas.SensorReading]
	clk   *clock
	off   int64
}

func newEnv(t testing.TB, mod func(*features.Config)) *env {
	t.Helper()
	e := &env{clk: &clock{t: time.Unix(0, 0)}}
	cfg := features.Config{Clock: e.clk}
	if mod != nil {
		mod(&cfg)
	}
	s, err := features.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.stage = s
	if e.local, err = pipeline.NewLocal(context.Background(), "features", pipeline.Stage[schemas.SensorReading](s), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func rd(sensor string, at time.Duration, v float64) schemas.SensorReading {
	return schemas.SensorReading{ReadingID: "x", SensorID: sensor, AssetID: "a-" + sensor, SensorType: "temperature",
		TS: t0.Add(at), Value: v, Unit: "C", Quality: 100}
}

// feed processes readings as one batch, at consecutive offsets.
func (e *env) feed(t testing.TB, rs ...schemas.SensorReading) ([]schemas.FeatureVector, []schemas.SensorReading, pipeline.Result) {
	t.Helper()
	in := make([]pipeline.Msg[schemas.SensorReading], len(rs))
	for i, r := range rs {
		in[i] = pipeline.Msg[schemas.SensorReading]{Value: r, Topic: "clean", Offset: e.off}
		e.off++
	}
	res, err := e.local.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return decodeRes(t, res)
}

func decodeRes(t testing.TB, res pipeline.Result) ([]schemas.FeatureVector, []schemas.SensorReading, pipeline.Result) {
	fvs, err := pipeline.Decode[schemas.FeatureVector](context.Background(), res, "sensor.features")
	if err != nil {
		t.Fatal(err)
	}
	late, err := pipeline.Decode[schemas.SensorReading](context.Background(), res, "sensor.readings.late")
	if err != nil {
		t.Fatal(err)
	}
	return fvs, late, res
}

func TestTumblingWindowClosesWhenWatermarkPassesItsEnd(t *testing.T) {
	e := newEnv(t, nil)
	var rs []schemas.SensorReading
	for i := range 60 {
		rs = append(rs, rd("s1", time.Duration(i)*time.Second, float64(i)))
	}
	if fvs, _, _ := e.feed(t, rs...); len(fvs) != 0 {
		t.Fatalf("window emitted before the watermark passed it: %+v", fvs)
	}
	// 69 s: watermark 59 s, still open. 70 s: watermark 60 s, closed.
	if fvs, _, _ := e.feed(t, rd("s1", 69*time.Second, 0)); len(fvs) != 0 {
		t.Fatal("closed with the watermark short of the end")
	}
	fvs, _, _ := e.feed(t, rd("s1", 70*time.Second, 0))
	if len(fvs) != 1 {
		t.Fatalf("%d windows, want 1", len(fvs))
	}
	fv := fvs[0]
	if fv.SensorID != "s1" || fv.AssetID != "a-s1" || fv.SensorType != "temperature" || !fv.WindowStart.Equal(t0) ||
		!fv.WindowEnd.Equal(t0.Add(time.Minute)) || fv.Count != 60 || fv.Mean != 29.5 || fv.Min != 0 || fv.Max != 59 ||
		math.Abs(fv.Slope-1) > 1e-12 || len(fv.BandEnergies) != 0 {
		t.Fatalf("%+v", fv)
	}
}

func TestHoppingWindowsHoldEachReadingTwice(t *testing.T) {
	e := newEnv(t, func(c *features.Config) { c.Hop = 30 * time.Second })
	var rs []schemas.SensorReading
	for i := range 120 {
		rs = append(rs, rd("s1", time.Duration(i)*time.Second, 1))
	}
	rs = append(rs, rd("s1", 200*time.Second, 1))
	fvs, _, _ := e.feed(t, rs...)
	var got []string
	for _, fv := range fvs {
		got = append(got, fmt.Sprintf("%v+%d", fv.WindowStart.Sub(t0), fv.Count))
	}
	want := []string{"-30s+30", "0s+60", "30s+60", "1m0s+60", "1m30s+30"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("windows %v, want %v", got, want)
	}
}

func TestLateReadingsAreRoutedAndCounted(t *testing.T) {
	e := newEnv(t, nil)
	e.feed(t, rd("s1", 10*time.Second, 1), rd("s1", 75*time.Second, 1)) // closes [0,60)
	fvs, late, _ := e.feed(t, rd("s1", 30*time.Second, 5), rd("s1", 66*time.Second, 2))
	if len(fvs) != 0 || len(late) != 1 || late[0].Value != 5 {
		t.Fatalf("late %+v, windows %+v", late, fvs)
	}
	// Within lateness (66 s, watermark 65 s, window [60,120) open): not late.
	fvs, _, _ = e.feed(t, rd("s1", 190*time.Second, 1))
	if len(fvs) != 1 || fvs[0].Count != 2 || fvs[0].LateCount != 1 {
		t.Fatalf("%+v", fvs)
	}
}

func TestIdlePartitionEmitsItsLastWindows(t *testing.T) {
	e := newEnv(t, func(c *features.Config) { c.IdleTimeout = time.Minute })
	e.feed(t, rd("s1", 5*time.Second, 1), rd("s2", 7*time.Second, 2))
	e.clk.t = e.clk.t.Add(59 * time.Second)
	if res, _ := e.local.Tick(context.Background(), e.clk.t); len(res.Records) != 0 {
		t.Fatal("closed before the idle timeout")
	}
	e.clk.t = e.clk.t.Add(time.Second)
	res, _ := e.local.Tick(context.Background(), e.clk.t)
	fvs, _, _ := decodeRes(t, res)
	if len(fvs) != 2 || fvs[0].SensorID != "s1" || fvs[1].SensorID != "s2" {
		t.Fatalf("%+v", fvs)
	}
	// A reading for the closed window is late now.
	if _, late, _ := e.feed(t, rd("s1", 20*time.Second, 1)); len(late) != 1 {
		t.Fatalf("after the idle close: late %v", late)
	}
}

func TestCountWindows(t *testing.T) {
	e := newEnv(t, func(c *features.Config) { c.Count = 10 })
	var rs []schemas.SensorReading
	for i := range 25 {
		rs = append(rs, rd("s1", time.Duration(i)*time.Second, float64(i)))
	}
	fvs, _, _ := e.feed(t, rs...)
	if len(fvs) != 2 || fvs[0].Count != 10 || fvs[1].Mean != 14.5 || !fvs[1].WindowStart.Equal(t0.Add(10*time.Second)) ||
		!fvs[1].WindowEnd.Equal(t0.Add(19*time.Second+time.Microsecond)) {
		t.Fatalf("%+v", fvs)
	}
}

func TestSpectralTypesGetBands(t *testing.T) {
	e := newEnv(t, func(c *features.Config) { c.Bands = 4 })
	var rs []schemas.SensorReading
	for i := range 1200 {
		r := rd("v1", time.Duration(i)*50*time.Millisecond, math.Sin(2*math.Pi*1.7*float64(i)*0.05))
		r.SensorType = "vibration"
		rs = append(rs, r, rd("t1", time.Duration(i)*50*time.Millisecond, 20))
	}
	rs = append(rs, rd("t1", 2*time.Minute, 0))
	fvs, _, _ := e.feed(t, rs...)
	for _, fv := range fvs {
		switch fv.SensorType {
		case "vibration":
			if len(fv.BandEnergies) != 4 || fv.BandEnergies[0] < 0.45 {
				t.Errorf("vibration bands %v", fv.BandEnergies)
			}
		default:
			if fv.BandEnergies != nil {
				t.Errorf("temperature has bands %v", fv.BandEnergies)
			}
		}
	}
	if len(fvs) != 2 {
		t.Fatalf("%d windows", len(fvs))
	}
}

func TestRejectsValuesOutOfRange(t *testing.T) {
	e := newEnv(t, nil)
	_, _, res := e.feed(t, rd("s1", 0, 1e60), rd("s1", time.Second, 1))
	if len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || res.Rejected[0].Kind != pipeline.KindInvalid {
		t.Fatalf("%+v", res.Rejected)
	}
}

// simulated returns readings of a few simulated sensors, in event order.
func simulated(t testing.TB, span time.Duration) []schemas.SensorReading {
	t.Helper()
	sim, err := simulate.New(simulate.Config{Assets: 2, Types: []string{"temperature", "vibration", "pressure"},
		Span: span, Start: t0, Scenarios: []string{simulate.Spikes, simulate.Degradation}, Incidents: 1})
	if err != nil {
		t.Fatal(err)
	}
	var rs []schemas.SensorReading
	for {
		ev, ok, err := sim.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return rs
		}
		rs = append(rs, ev.Reading)
	}
}

func run(t testing.TB, e *env, rs []schemas.SensorReading, batch int) []schemas.FeatureVector {
	var all []schemas.FeatureVector
	for i := 0; i < len(rs); i += batch {
		fvs, late, _ := e.feed(t, rs[i:min(i+batch, len(rs))]...)
		if len(late) != 0 {
			t.Fatalf("%d late readings", len(late))
		}
		all = append(all, fvs...)
	}
	e.clk.t = e.clk.t.Add(time.Hour)
	res, _ := e.local.Tick(context.Background(), e.clk.t)
	fvs, _, _ := decodeRes(t, res)
	return append(all, fvs...)
}

func sortFVs(fvs []schemas.FeatureVector) {
	sort.Slice(fvs, func(i, j int) bool {
		if fvs[i].SensorID != fvs[j].SensorID {
			return fvs[i].SensorID < fvs[j].SensorID
		}
		return fvs[i].WindowStart.Before(fvs[j].WindowStart)
	})
}

// shuffleWithin returns rs reordered as if each reading were delayed by a
// random time up to d, and how many readings changed place.
func shuffleWithin(rs []schemas.SensorReading, d time.Duration, seed uint64) ([]schemas.SensorReading, int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	keys := make([]time.Time, len(rs))
	idx := make([]int, len(rs))
	for i, r := range rs {
		keys[i] = r.TS.Add(time.Duration(rng.Float64() * float64(d)))
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]].Before(keys[idx[b]]) })
	out := make([]schemas.SensorReading, len(rs))
	moved := 0
	for i, j := range idx {
		out[i] = rs[j]
		if i != j {
			moved++
		}
	}
	return out, moved
}

// Readings shuffled within the lateness bound give exactly the same
// FeatureVectors, bit for bit, as the same readings in order.
func TestShuffledWithinLatenessGivesSameVectors(t *testing.T) {
	rs := simulated(t, 12*time.Minute)
	hop := func(c *features.Config) { c.Hop = 20 * time.Second }
	inOrder := run(t, newEnv(t, hop), rs, 500)
	// Each reading arrives up to 8 s of event time late (lateness is 10 s).
	perm, moved := shuffleWithin(rs, 8*time.Second, 7)
	if moved < len(rs)/2 {
		t.Fatalf("only %d of %d readings moved", moved, len(rs))
	}
	got := run(t, newEnv(t, hop), perm, 333)
	sortFVs(inOrder)
	sortFVs(got)
	if len(inOrder) < 100 || !reflect.DeepEqual(inOrder, got) {
		for i := range min(len(inOrder), len(got)) {
			if !reflect.DeepEqual(inOrder[i], got[i]) {
				t.Fatalf("window %d differs:\n in order %+v\n shuffled %+v", i, inOrder[i], got[i])
			}
		}
		t.Fatalf("%d windows in order, %d shuffled", len(inOrder), len(got))
	}
}

// After a restart from the committed offset and checkpoint, the stage
// emits only whole windows: the same vectors as an uninterrupted run.
//
// A replay may also start earlier than the stage needs: when it shares a
// consumer with another stage (pipeline.Fanout), the runner commits the
// smaller of what either retains. That gives the same vectors too.
func TestResumeFromCheckpointNeverEmitsPartialWindows(t *testing.T) {
	for _, earlier := range []int{0, 3000} { // readings before the committed offset the replay starts
		t.Run(fmt.Sprintf("replay from %d before", earlier), func(t *testing.T) { testResume(t, earlier) })
	}
}

func testResume(t *testing.T, earlier int) {
	// Out of order within lateness: a reading of a closed window can sit
	// after the committed offset, where a replay would find it.
	rs, _ := shuffleWithin(simulated(t, 10*time.Minute), 8*time.Second, 3)
	whole := run(t, newEnv(t, nil), rs, 400)
	byID := map[string]schemas.FeatureVector{}
	for _, fv := range whole {
		byID[fv.SensorID+fv.WindowStart.String()] = fv
	}
	tp := pipeline.TopicPartition{Topic: "clean"}
	for _, cut := range []int{1000, 7777, len(rs) / 2} {
		first := newEnv(t, nil)
		var got []schemas.FeatureVector
		for i := 0; i < cut; i += 400 {
			fvs, _, _ := first.feed(t, rs[i:min(i+400, cut)]...)
			got = append(got, fvs...)
		}
		// The runner would commit min(position, retained) with this checkpoint.
		committed := int64(cut)
		if off, ok := first.stage.Retained()[tp]; ok {
			committed = min(committed, off)
		}
		committed = max(0, committed-int64(earlier))
		checkpoint := first.stage.Checkpoint(tp)

		second := newEnv(t, nil)
		second.stage.Resume(tp, checkpoint)
		second.off = committed
		got = append(got, run(t, second, rs[committed:], 400)...)
		for _, fv := range got {
			if want := byID[fv.SensorID+fv.WindowStart.String()]; !reflect.DeepEqual(fv, want) {
				t.Fatalf("cut at %d (resumed from %d): %s %v emitted as\n%+v\nwant\n%+v", cut, committed, fv.SensorID, fv.WindowStart, fv, want)
			}
		}
		seen := map[string]bool{}
		for _, fv := range got {
			seen[fv.SensorID+fv.WindowStart.String()] = true
		}
		if len(seen) != len(byID) {
			t.Fatalf("cut at %d: %d distinct windows, want %d", cut, len(seen), len(byID))
		}
	}
}

func TestConfig(t *testing.T) {
	bad := []features.Config{
		{Size: time.Minute, Hop: 2 * time.Minute},
		{Size: time.Hour, Hop: time.Second},
		{Count: -1},
		{Lateness: -time.Second},
		{Bands: 1000},
		{Workers: -1},
	}
	for _, c := range bad {
		if _, err := features.New(c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	var c features.Config
	if err := features.ParseWindows("60s/15s", &c); err != nil || c.Size != time.Minute || c.Hop != 15*time.Second {
		t.Errorf("60s/15s: %+v %v", c, err)
	}
	if err := features.ParseWindows("count:600", &c); err != nil || c.Count != 600 {
		t.Errorf("count:600: %+v %v", c, err)
	}
	for _, s := range []string{"count:0", "soon", "60s/x"} {
		if err := features.ParseWindows(s, &c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// A close of many windows at once is computed on several goroutines; the
// vectors, their order and each sensor's late count are the same as on
// one.
func TestParallelCloseMatchesSerial(t *testing.T) {
	var rs []schemas.SensorReading
	for i := range 700 { // 700 sensors, 3 windows each, a third of them spectral
		id := fmt.Sprintf("s-%03d", i)
		for k := range 150 {
			r := rd(id, time.Duration(k)*time.Second+time.Duration(i)*time.Millisecond, float64(i%17)+math.Sin(float64(k*i)))
			if i%3 == 0 {
				r.SensorType = "vibration"
			}
			rs = append(rs, r)
		}
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].TS.Before(rs[b].TS) })
	// Late readings for some sensors, after the first window closed.
	var late []schemas.SensorReading
	for i := 0; i < 700; i += 50 {
		late = append(late, rd(fmt.Sprintf("s-%03d", i), time.Second, 1))
	}
	outputs := func(workers int) ([]schemas.FeatureVector, int) {
		e := newEnv(t, func(c *features.Config) { c.Workers = workers })
		var all []schemas.FeatureVector
		nLate := 0
		for i := 0; i < len(rs); i += 20_000 {
			fvs, l, _ := e.feed(t, rs[i:min(i+20_000, len(rs))]...)
			all = append(all, fvs...)
			if i == 80_000 {
				fvs, l2, _ := e.feed(t, late...)
				all = append(all, fvs...)
				nLate += len(l2)
			}
			nLate += len(l)
		}
		e.clk.t = e.clk.t.Add(time.Hour)
		res, _ := e.local.Tick(context.Background(), e.clk.t)
		fvs, _, _ := decodeRes(t, res)
		return append(all, fvs...), nLate
	}
	serial, serialLate := outputs(1)
	parallel, parallelLate := outputs(4)
	if len(serial) != 2100 || serialLate != len(late) {
		t.Fatalf("serial run: %d windows, %d late; want 2100, %d", len(serial), serialLate, len(late))
	}
	lateCounts := 0
	for _, fv := range serial {
		lateCounts += int(fv.LateCount)
	}
	if lateCounts != len(late) {
		t.Fatalf("late counts add up to %d, want %d", lateCounts, len(late))
	}
	if parallelLate != serialLate || !reflect.DeepEqual(serial, parallel) {
		for i := range min(len(serial), len(parallel)) {
			if !reflect.DeepEqual(serial[i], parallel[i]) {
				t.Fatalf("window %d differs:\n serial   %+v\n parallel %+v", i, serial[i], parallel[i])
			}
		}
		t.Fatalf("serial: %d windows, %d late; parallel: %d, %d", len(serial), serialLate, len(parallel), parallelLate)
	}
}

// Count windows are not aligned, so a replay re-forms the windows still
// open at the restart from the partition's oldest open one on; but a
// replay that starts earlier still, as when the stage shares a consumer
// with another (pipeline.Fanout), must not fold readings of windows
// emitted before the restart into new ones: it gives the same vectors as
// a replay from where the stage itself needed it.
func TestCountWindowsSkipReadingsEmittedBeforeRestart(t *testing.T) {
	count := func(c *features.Config) { c.Count = 50 }
	rs := simulated(t, 10*time.Minute)
	tp := pipeline.TopicPartition{Topic: "clean"}
	for _, cut := range []int{7777, len(rs) / 2, len(rs) - 3000} {
		first := newEnv(t, count)
		for i := 0; i < cut; i += 400 {
			first.feed(t, rs[i:min(i+400, cut)]...)
		}
		committed := int64(cut)
		if off, ok := first.stage.Retained()[tp]; ok {
			committed = min(committed, off)
		}
		checkpoint := first.stage.Checkpoint(tp)
		replay := func(from int64) []schemas.FeatureVector {
			e := newEnv(t, count)
			e.stage.Resume(tp, checkpoint)
			e.off = from
			return run(t, e, rs[from:], 400)
		}
		if committed < 1500 {
			t.Fatalf("cut at %d: committed %d, too early to replay from before it", cut, committed)
		}
		own := replay(committed)
		earlier := replay(committed - 1500)
		if len(own) == 0 || !reflect.DeepEqual(own, earlier) {
			t.Fatalf("cut at %d: replay from %d gave %d vectors, from 1500 before it %d, not the same",
				cut, committed, len(own), len(earlier))
		}
	}
}

func TestWindowSpecsRoundTrip(t *testing.T) {
	for _, spec := range []string{"1m0s", "10s/2s", "count:600", "1.5s"} {
		c := features.Config{Count: 9, Hop: time.Hour} // ParseWindows replaces every window setting
		if err := features.ParseWindows(spec, &c); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := c.WithDefaults().Windows(); got != spec {
			t.Errorf("%s read back as %s", spec, got)
		}
	}
	if got := (features.Config{}).WithDefaults().Windows(); got != "1m0s" {
		t.Errorf("default windows %s", got)
	}
	for _, bad := range []string{"soon", "count:0", "10s/x", ""} {
		if err := features.ParseWindows(bad, &features.Config{}); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestSparseWindowsAreCounted: readings slower than the windows leave them
// nearly empty; each such window is counted, so an operator can see it.
func TestSparseWindowsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	e := newEnv(t, func(c *features.Config) { c.Registerer, c.Logger = reg, slog.New(slog.NewJSONHandler(&logs, nil)) })
	// One reading every 5 minutes into 1-minute windows, then 10 a window.
	var rs []schemas.SensorReading
	for i := range 6 {
		rs = append(rs, rd("slow", time.Duration(i)*5*time.Minute, float64(i)))
	}
	for i := range 30 {
		rs = append(rs, rd("fast", 30*time.Minute+time.Duration(i)*6*time.Second, float64(i)))
	}
	fvs := run(t, e, rs, 5)
	sparse := 0
	for _, fv := range fvs {
		if fv.Count < features.SparseReadings {
			sparse++
		}
	}
	if got := pipelinetest.Metric(t, reg, "smaint_features_sparse_windows_total"); sparse != 6 || got != float64(sparse) {
		t.Fatalf("%d sparse windows of %d, metric %v", sparse, len(fvs), got)
	}
	// Said once, with windows that would do: a reading a minute or slower
	// is too slow for windows, so a point per reading.
	if n := strings.Count(logs.String(), "too few readings"); n != 1 || !strings.Contains(logs.String(), `"suggested_windows":"count:1"`) {
		t.Fatalf("%d warnings: %s", n, logs.String())
	}
}

func TestWindowsFor(t *testing.T) {
	tests := []struct {
		interval  time.Duration
		want, set string // WindowsFor; SetWindowsFor's, hopping a tenth of the length
	}{
		{time.Millisecond, "1s", "1s/100ms"},
		{50 * time.Millisecond, "2s", "2s/200ms"}, // 20 Hz
		{time.Second, "30s", "30s/3s"},
		{2 * time.Second, "1m0s", "1m0s/6s"},
		{5 * time.Second, "5m0s", "5m0s/30s"},
		{20 * time.Second, "10m0s", "10m0s/1m0s"},
		{time.Minute, "count:1", "count:1"},
		{5 * time.Minute, "count:1", "count:1"},
	}
	for _, tc := range tests {
		if got := features.WindowsFor(tc.interval); got != tc.want {
			t.Errorf("WindowsFor(%v) = %s, want %s", tc.interval, got, tc.want)
		}
		var c features.Config
		c.Auto = true
		c.SetWindowsFor(tc.interval)
		if c.Auto || c.Windows() != tc.set || c.WithDefaults().Validate() != nil {
			t.Errorf("SetWindowsFor(%v): windows %s (want %s), auto %v, %v", tc.interval, c.Windows(), tc.set, c.Auto, c.WithDefaults().Validate())
		}
	}
}

// "auto" windows are for backtest, which has the whole series; the stage
// refuses them with an error that says what to give instead.
func TestAutoWindowsAreRefusedByTheStage(t *testing.T) {
	var c features.Config
	if err := features.ParseWindows("auto", &c); err != nil || !c.Auto || c.Windows() != "auto" {
		t.Fatalf("ParseWindows(auto): %v, %+v", err, c)
	}
	_, err := features.New(c)
	if !errors.Is(err, pipeline.ErrConfig) || !strings.Contains(err.Error(), "--windows 60s") {
		t.Fatalf("New with auto windows: %v", err)
	}
}

// A sensor's first window is cut short by where its readings begin: one
// sparse window is counted, not warned about (and neither is the last);
// with hopping windows, as many as cover an instant. Readings too slow
// for the windows are warned about either way.
func TestAShortFirstWindowIsNotWarnedAbout(t *testing.T) {
	tests := []struct {
		windows string
		every   time.Duration
		sparse  float64 // windows of under 4 readings (0: not checked)
		warn    bool
	}{
		{"60s", time.Second, 1, false},        // [0, 60) holds 2
		{"30s/3s", time.Second, 2, false},     // [30, 60) holds 2, [297, 327) 3
		{"30s/1s", time.Second, 6, false},     // 3 at each end: 1, 2 and 3 readings
		{"30s/3s", 10 * time.Second, 0, true}, // every window holds 3
	}
	for _, tc := range tests {
		reg := prometheus.NewRegistry()
		var logs bytes.Buffer
		e := newEnv(t, func(c *features.Config) {
			if err := features.ParseWindows(tc.windows, c); err != nil {
				t.Fatal(err)
			}
			c.Registerer, c.Logger = reg, slog.New(slog.NewJSONHandler(&logs, nil))
		})
		var rs []schemas.SensorReading
		for at := 58 * time.Second; at < 300*time.Second; at += tc.every { // from 58 s: the first window holds 2
			rs = append(rs, rd("t", at, float64(at)))
		}
		run(t, e, rs, 50)
		got := pipelinetest.Metric(t, reg, "smaint_features_sparse_windows_total")
		if warned := strings.Contains(logs.String(), "too few readings"); tc.sparse != 0 && got != tc.sparse || warned != tc.warn {
			t.Errorf("%s, a reading every %v: %v sparse windows counted, warned %v (want %v); logs: %s", tc.windows, tc.every, got, warned, tc.warn, logs.String())
		}
	}
}
