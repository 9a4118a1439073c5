package score_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// windows returns n FeatureVectors of sensor s, one a minute, with a
// level shift from window shift on (if shift > 0).
func windows(s, typ string, n, shift int) []schemas.FeatureVector {
	return windowsEvery(s, typ, n, shift, time.Minute)
}

// windowsEvery is windows for minute-long windows that start every hop.
func windowsEvery(s, typ string, n, shift int, hop time.Duration) []schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(1, uint64(len(s))))
	var out []schemas.FeatureVector
	for i := range n {
		level := 4.2
		if shift > 0 && i >= shift {
			level += 0.3
		}
		mean := level + 0.004*rng.NormFloat64()
		std := 0.03 * (1 + 0.05*rng.NormFloat64())
		out = append(out, schemas.FeatureVector{SensorID: s, AssetID: "a", SensorType: typ,
			WindowStart: t0.Add(time.Duration(i) * hop), WindowEnd: t0.Add(time.Duration(i)*hop + time.Minute),
			Count: 120, Mean: mean, Std: std, Min: mean - 2.5*std, Max: mean + 2.5*std, RMS: mean,
			Kurtosis: 0.1 * rng.NormFloat64(), CrestFactor: 1.02, PeakToPeak: 5 * std})
	}
	return out
}

func newLocal(t *testing.T, cfg score.Config) (*score.Stage, *pipeline.Local[schemas.FeatureVector]) {
	t.Helper()
	s, err := score.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "score", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

func process(t *testing.T, l *pipeline.Local[schemas.FeatureVector], fvs []schemas.FeatureVector, firstOffset int64) []schemas.AnomalyScore {
	t.Helper()
	return pipelinetest.Process[schemas.FeatureVector, schemas.AnomalyScore](t, l, "features", firstOffset, fvs, "sensor.scores")
}

func TestStageScoresWindowsAfterWarmUp(t *testing.T) {
	tests := []struct {
		detector string // "" is the default
		name     string
		warmUp   int
	}{
		{"", "robust", 10},
		{"adaptive", "adaptive", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, l := newLocal(t, score.Config{Detector: tc.detector, Thresholds: map[string]float64{"pressure": 0.6}})
			out := process(t, l, windows("p1", "pressure", 40, 30), 0)
			if len(out) != 40 {
				t.Fatalf("%d scores for 40 windows", len(out))
			}
			for i, s := range out {
				if s.SensorID != "p1" || !s.WindowStart.Equal(t0.Add(time.Duration(i)*time.Minute)) || s.Threshold != 0.6 || s.Detector != tc.name {
					t.Fatalf("score %d: %+v", i, s)
				}
				switch {
				case i < tc.warmUp:
					if s.Score != 0 || s.IsAnomaly || s.ModelVersion[len(s.ModelVersion)-8:] != "/warm-up" {
						t.Errorf("warm-up window %d: %+v", i, s)
					}
				case i < 30:
					if s.IsAnomaly {
						t.Errorf("normal window %d flagged: %+v", i, s)
					}
				default:
					if !s.IsAnomaly || s.Contributions["mean"] < 0.3 {
						t.Errorf("shifted window %d: %+v", i, s)
					}
				}
			}
		})
	}
}

func TestStageRejectsAnUnknownDetector(t *testing.T) {
	if _, err := score.New(score.Config{Detector: "magic"}); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("New with detector magic: %v, want ErrConfig", err)
	}
}

func TestStageUsesLoadedModelForItsType(t *testing.T) {
	st, l := newLocal(t, score.Config{})
	rows := [][]float64{}
	for _, fv := range windows("p9", "pressure", 200, 0) {
		rows = append(rows, score.FeatureValues(nil, &fv))
	}
	m, err := score.TrainIForest("iforest-pressure", "pressure", score.FeatureNames(0), rows, score.IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m.Version = "v7"
	st.SetModel(m)
	out := process(t, l, append(windows("p1", "pressure", 3, 0), windows("c1", "current", 1, 0)...), 0)
	if out[0].Detector != "iforest" || out[0].ModelVersion != "iforest-pressure@v7" || out[0].Threshold != m.Threshold {
		t.Errorf("pressure scored by %s %s (threshold %v)", out[0].Detector, out[0].ModelVersion, out[0].Threshold)
	}
	if out[3].Detector != "robust" {
		t.Errorf("current scored by %s", out[3].Detector)
	}
}

// A restart resumes from the checkpoint: replayed windows rebuild the
// baseline without being scored again, and later scores are unchanged.
// A restart scores as if there had been none: the stage retains the
// windows its baselines were built from (with hopping windows, as many
// more as cover an instant) and skips those it had scored.
func TestStageResumesWithoutRescoring(t *testing.T) {
	tests := []struct {
		hop               time.Duration
		n, shift, restart int
		retainedAtMost    int64 // the baseline and frozen span, in window lengths, before the restart
	}{
		{time.Minute, 45, 38, 35, 4},
		{20 * time.Second, 400, 350, 330, 330 - 3*(60+20)}, // three windows an instant
	}
	for _, tc := range tests {
		fvs := windowsEvery("p1", "pressure", tc.n, tc.shift, tc.hop)
		_, whole := newLocal(t, score.Config{})
		want := process(t, whole, fvs, 0)

		first, l1 := newLocal(t, score.Config{})
		process(t, l1, fvs[:tc.restart], 0)
		tp := pipeline.TopicPartition{Topic: "features"}
		retained := first.Retained()[tp]
		if retained > tc.retainedAtMost {
			t.Fatalf("hop %v: retained offset %d, want at most %d", tc.hop, retained, tc.retainedAtMost)
		}
		second, l2 := newLocal(t, score.Config{})
		second.Resume(tp, first.Checkpoint(tp))
		got := process(t, l2, fvs[retained:], retained)
		if len(got) != tc.n-tc.restart || !reflect.DeepEqual(got, want[tc.restart:]) {
			t.Fatalf("hop %v, after the restart: %d scores\n%+v\nwant\n%+v", tc.hop, len(got), got, want[tc.restart:])
		}
		if !slices.ContainsFunc(got, func(sc schemas.AnomalyScore) bool { return sc.IsAnomaly }) {
			t.Fatalf("hop %v: the level shift after the restart was not scored anomalous", tc.hop)
		}
	}
}

func TestStageRejectsAndValidates(t *testing.T) {
	_, l := newLocal(t, score.Config{})
	res, err := l.Process(context.Background(), []pipeline.Msg[schemas.FeatureVector]{{Value: schemas.FeatureVector{}}})
	if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Kind != pipeline.KindInvalid {
		t.Fatalf("%+v %v", res, err)
	}
	for _, c := range []score.Config{{DefaultThreshold: 1.5}, {Thresholds: map[string]float64{"x": 0}}} {
		if _, err := score.New(c); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestThresholdsRoundTrip(t *testing.T) {
	m, err := score.ParseThresholds(" vibration=0.6, ,pressure=0.45,")
	if err != nil || len(m) != 2 || m["vibration"] != 0.6 || m["pressure"] != 0.45 {
		t.Fatalf("%v, %v", m, err)
	}
	if got := score.FormatThresholds(m); got != "pressure=0.45,vibration=0.6" {
		t.Errorf("formatted %q", got)
	}
	if m, err := score.ParseThresholds(""); err != nil || len(m) != 0 {
		t.Errorf("empty: %v, %v", m, err)
	}
	for _, bad := range []string{"vibration", "=0.5", "vibration=lots"} {
		if _, err := score.ParseThresholds(bad); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A restart anywhere around the day a sensor's daily cycle comes into use
// scores as an uninterrupted run: the robust detector's cycle and recent
// verdicts come back from the state topic, its baseline from the retained
// windows. A shift just before the cycle is used was normal then (the
// swing hid it) and anomalous to the restored cycle: replay must take the
// verdict the window got, or the baseline comes out different. Without
// the state entries the restart would score differently too.
func TestStageResumesItsCycleExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var fvs []schemas.FeatureVector
	for i := range 3 * 288 { // 5-minute windows of one reading
		v := 20 + 5*math.Sin(2*math.Pi*float64(i)/288) + 0.1*rng.NormFloat64()
		if i >= 2*288-16 && i < 2*288-4 { // just before the cycle comes into use
			v += 1.5
		}
		start := t0.Add(time.Duration(i) * 5 * time.Minute)
		fvs = append(fvs, schemas.FeatureVector{SensorID: "t1", AssetID: "a", SensorType: "temperature",
			WindowStart: start, WindowEnd: start.Add(5 * time.Minute), Count: 1, Mean: v, RMS: v})
	}
	cfg := score.Config{}
	_, whole := newLocal(t, cfg)
	want := process(t, whole, fvs, 0)

	// Restarts at many points around the day the cycle comes into use,
	// each with the state entries written before it, in the runner's
	// order: Restore, then Resume.
	type run struct {
		s    *score.Stage
		from int64
		cp   string
		st   []schemas.StageState
	}
	upTo := func(cut int) run {
		s, l := newLocal(t, cfg)
		res, err := l.Process(context.Background(), msgsOf(fvs[:cut], 0))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := pipeline.Decode[schemas.StageState](context.Background(), res, "sensor.score.state")
		if err != nil {
			t.Fatal(err)
		}
		tp := pipeline.TopicPartition{Topic: "features"}
		return run{s, s.Retained()[tp], s.Checkpoint(tp), entries}
	}
	tp := pipeline.TopicPartition{Topic: "features"}
	restart := func(r run, restore bool) []schemas.AnomalyScore {
		s, l := newLocal(t, cfg)
		if restore {
			for _, e := range r.st {
				s.Restore(tp, e.Key, e.Value)
			}
		}
		s.Resume(tp, r.cp)
		return process(t, l, fvs[r.from:], r.from)
	}
	for cut := 2*288 - 20; cut < 2*288+130; cut += 3 {
		r := upTo(cut)
		if got := restart(r, true); !reflect.DeepEqual(got, want[cut:]) {

			t.Errorf("restart after window %d: %d scores, not the uninterrupted run's", cut, len(got))
		}
	}
	r := upTo(2*288 + 150)
	if len(r.st) < 2*96 {
		t.Fatalf("%d state entries, want one a slot", len(r.st))
	}
	if reflect.DeepEqual(restart(r, false), want[2*288+150:]) {
		t.Fatal("without its state the restart scored the same: the test does not test the state")
	}
	first, from, entries := r.s, r.from, r.st
	// An entry of another season's slots, or not an entry at all, is
	// dropped: the sensor learns its cycle again from its next window.
	for name, entry := range map[string][]byte{"other slots": entries[len(entries)-1].Value, "not json": []byte("{not json")} {
		s, l := newLocal(t, score.Config{Robust: score.RobustConfig{Slots: 48}})
		s.Restore(tp, "t1", entry)
		s.Resume(tp, first.Checkpoint(tp))
		res, err := l.Process(context.Background(), msgsOf(fvs[from:from+1], from))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pipeline.Decode[schemas.StageState](context.Background(), res, "sensor.score.state")
		if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Value), `"cycles":0`) {
			t.Errorf("%s: after the entry was dropped, state %q (%v), want a cycle learnt anew", name, got, err)
		}
	}
}

func msgsOf(fvs []schemas.FeatureVector, first int64) []pipeline.Msg[schemas.FeatureVector] {
	out := make([]pipeline.Msg[schemas.FeatureVector], len(fvs))
	for i, fv := range fvs {
		out[i] = pipeline.Msg[schemas.FeatureVector]{Topic: "features", Offset: first + int64(i), Key: []byte(fv.SensorID), Value: fv}
	}
	return out
}

// A version trained without a sensor (its windows left out, as retrain
// leaves out a sensor in an incident) leaves it to the robust detector,
// which has followed it all along: swapped in mid-incident, the incident
// keeps scoring anomalous instead of warming a new baseline up on it.
func TestStageKeepsTheBaselineWarmForSensorsAModelLeavesOut(t *testing.T) {
	st, l := newLocal(t, score.Config{})
	var train []*schemas.FeatureVector
	for _, fv := range windows("p2", "pressure", 40, 0) {
		train = append(train, &fv)
	}
	m, err := score.TrainSensorForest("iforest-pressure", "pressure", score.FeatureNames(0), train, score.IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m.Version = "v1"
	// The version before scores every sensor (raw features, no centres).
	var rows [][]float64
	for _, fv := range train {
		rows = append(rows, score.FeatureValues(nil, fv))
	}
	v0, err := score.TrainIForest("iforest-pressure", "pressure", score.FeatureNames(0), rows, score.IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v0.Version = "v0"
	st.SetModel(v0)
	p1 := windows("p1", "pressure", 40, 20) // an incident from window 20
	before := process(t, l, p1[:25], 0)
	if before[24].ModelVersion != "iforest-pressure@v0" {
		t.Fatalf("window 24, before the swap: %+v", before[24])
	}
	st.SetModel(m)
	after := process(t, l, p1[25:], 25)
	for i, sc := range after {
		if sc.Detector != "robust" || !sc.IsAnomaly && i < 15 {
			t.Fatalf("window %d after the swap, in the incident: %s %s, score %.3f, anomalous %v", 25+i, sc.Detector, sc.ModelVersion, sc.Score, sc.IsAnomaly)
		}
	}
	if got := process(t, l, windows("p2", "pressure", 1, 0), 0); got[0].ModelVersion != "iforest-pressure@v1" {
		t.Fatalf("a sensor the version knows scored by %s", got[0].ModelVersion)
	}
}

// The last window of a sensor that went quiet, closed with a few of its
// readings, goes to the baseline detector while a forest scores the
// sensor's full windows: in the demo, such windows at the end of the
// run opened false ANOMALY alerts on pressure sensors a forest scored.
func TestStageLeavesAWindowCutShortToTheBaseline(t *testing.T) {
	st, l := newLocal(t, score.Config{})
	ws := windows("p1", "pressure", 42, 0)
	var train []*schemas.FeatureVector
	for i := range ws[:40] {
		train = append(train, &ws[i])
	}
	m, err := score.TrainSensorForest("iforest-pressure", "pressure", score.FeatureNames(0), train, score.IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m.Version = "v1"
	process(t, l, ws[:40], 0) // the baseline warms up
	st.SetModel(m)
	short := ws[41]
	short.Count, short.Min, short.Max, short.PeakToPeak = 5, short.Mean-1.2*short.Std, short.Mean+1.2*short.Std, 2.4*short.Std
	got := process(t, l, []schemas.FeatureVector{ws[40], short}, 40)
	if got[0].ModelVersion != "iforest-pressure@v1" {
		t.Errorf("a full window scored by %s", got[0].ModelVersion)
	}
	if got[1].Detector != "robust" || got[1].IsAnomaly {
		t.Errorf("the window cut short: %s %s, score %.3f, anomalous %v", got[1].Detector, got[1].ModelVersion, got[1].Score, got[1].IsAnomaly)
	}
	blind := *m
	blind.Readings = nil // a forest that judges every window
	if v := blind.Detector().Score(&short); v.Score < m.Threshold {
		t.Errorf("the forest scores the short window %.3f, under its threshold %.3f: the test shows nothing", v.Score, m.Threshold)
	}
}
