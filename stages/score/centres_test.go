package score

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
)

// temperatures is n one-minute windows of each of 20 sensors whose
// levels run from 60 to 69.5 in steps of 0.5, with a within-window
// spread of 0.3.
func temperatures(n int, seed uint64) []schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := time.Unix(1.7e9, 0)
	var out []schemas.FeatureVector
	for i := range n {
		for s := range 20 {
			out = append(out, temperatureWindow(rng, fmt.Sprintf("pump-%02d-temperature", s), t0.Add(time.Duration(i)*time.Minute), 60+0.5*float64(s)))
		}
	}
	return out
}

func temperatureWindow(rng *rand.Rand, sensor string, at time.Time, level float64) schemas.FeatureVector {
	mean, std := level+0.04*rng.NormFloat64(), 0.3*(1+0.05*rng.NormFloat64())
	return schemas.FeatureVector{SensorID: sensor, SensorType: "temperature", WindowStart: at, WindowEnd: at.Add(time.Minute),
		Count: 60, Mean: mean, Std: std, Min: mean - 2.4*std, Max: mean + 2.4*std, RMS: mean, Skewness: 0.1 * rng.NormFloat64(),
		Kurtosis: 0.1 * rng.NormFloat64(), CrestFactor: (mean + 2.4*std) / mean, PeakToPeak: 4.8 * std, Slope: 1e-4 * rng.NormFloat64()}
}

// A sensor's level change that stays inside the range its type's sensors
// span is still an anomaly: the forest judges each sensor's windows
// against its own centre. Pooled raw features, as before, miss it.
func TestSensorForestJudgesEachSensorAgainstItsOwnLevel(t *testing.T) {
	forests, err := TrainPerType(temperatures(60, 1), IForestConfig{Seed: 2})
	if err != nil || len(forests) != 1 {
		t.Fatalf("trained %d forests: %v", len(forests), err)
	}
	f := forests[0]
	if len(f.Centres) != 20 || !f.Knows("pump-04-temperature") || f.Knows("pump-99-temperature") {
		t.Fatalf("centres for %d sensors", len(f.Centres))
	}
	d := f.Detector()
	rng := rand.New(rand.NewPCG(4, 4))
	at := time.Unix(1.7e9, 0).Add(2 * time.Hour)
	// pump-04 runs at 62; 64.1 (7 of its spreads up) is where pump-08 runs.
	hot := temperatureWindow(rng, "pump-04-temperature", at, 64.1)
	if v := d.Score(&hot); !v.OK || v.Score < f.Threshold {
		t.Errorf("pump-04 at 64.1 scored %.3f (threshold %.3f), ok %v", v.Score, f.Threshold, v.OK)
	}
	flagged := 0
	for _, fv := range temperatures(5, 9) {
		if v := d.Score(&fv); !v.OK || v.Score >= f.Threshold {
			flagged++
		}
	}
	if flagged > 5 { // contamination 1% of 100: expect about 1
		t.Errorf("%d of 100 ordinary windows flagged or unscored", flagged)
	}
	stranger := temperatureWindow(rng, "pump-99-temperature", at, 62)
	if v := d.Score(&stranger); v.OK {
		t.Errorf("a sensor the forest was not trained on was scored: %+v", v)
	}

	// The same windows, pooled raw: pump-04 at 64.1 looks like pump-08.
	var rows [][]float64
	for _, fv := range temperatures(60, 1) {
		rows = append(rows, FeatureValues(nil, &fv))
	}
	pooled, err := TrainIForest("iforest-temperature", "temperature", FeatureNames(0), rows, IForestConfig{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s := pooled.raw(FeatureValues(nil, &hot)); s >= pooled.Threshold {
		t.Errorf("pooled raw features flagged it too (%.3f, threshold %.3f): the test shows nothing", s, pooled.Threshold)
	}
}

// A window cut short (6 readings where the forest learnt from 60: its
// sensor went quiet, or the stream ended) has a smaller range than any
// the forest saw, and the forest would flag it; the forest judges only
// windows of at least half the sensor's usual readings. A forest stored
// before the readings were kept judges every window of the sensors it
// knows.
func TestSensorForestJudgesOnlyWindowsLikeItsOwn(t *testing.T) {
	forests, err := TrainPerType(temperatures(60, 1), IForestConfig{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	f := forests[0]
	if got := f.Readings["pump-04-temperature"]; got != 60 {
		t.Fatalf("usual readings %d, want 60", got)
	}
	// Windows cut short are not trained on either.
	withShort := temperatures(60, 1)
	for i := range 10 {
		w := withShort[i]
		w.Count = 6
		withShort = append(withShort, w)
	}
	again, err := TrainPerType(withShort, IForestConfig{Seed: 2})
	if err != nil || again[0].Trained != f.Trained {
		t.Fatalf("trained on %d windows with 10 short ones added, %d without (%v)", again[0].Trained, f.Trained, err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	short := temperatureWindow(rng, "pump-04-temperature", time.Unix(1.7e9, 0).Add(2*time.Hour), 62)
	short.Count, short.Min, short.Max, short.PeakToPeak = 6, short.Mean-1.3*short.Std, short.Mean+1.3*short.Std, 2.6*short.Std
	if v := f.Detector().Score(&short); v.OK {
		t.Errorf("the forest scored a window it does not judge: %+v", v)
	}
	blind := *f
	blind.Readings = nil // as a forest stored before the readings were kept
	if v := blind.Detector().Score(&short); !v.OK || v.Score < f.Threshold {
		t.Fatalf("a forest that judges it scored the short window %.3f (threshold %.3f): the test shows nothing", v.Score, f.Threshold)
	}
	for _, tc := range []struct {
		sensor string
		count  int64
		want   bool
	}{
		{"pump-04-temperature", 6, false},
		{"pump-04-temperature", 29, false},
		{"pump-04-temperature", 30, true},
		{"pump-04-temperature", 60, true},
		{"pump-04-temperature", 600, true},
		{"pump-99-temperature", 60, false},
	} {
		fv := short
		fv.SensorID, fv.Count = tc.sensor, tc.count
		if got := f.Judges(&fv); got != tc.want {
			t.Errorf("%s, %d readings: judged %v, want %v", tc.sensor, tc.count, got, tc.want)
		}
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalIForest(b)
	if err != nil || g.Readings["pump-04-temperature"] != 60 {
		t.Fatalf("the artifact kept readings %v (%v)", g.Readings, err)
	}
	g.Readings = nil // as stored before
	if !g.Judges(&short) {
		t.Error("a forest without readings left a window of a sensor it knows unjudged")
	}
}
