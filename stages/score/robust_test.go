package score

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
)

// series feeds the robust detector one window per value of level, with
// within-window standard deviation std and count readings, and returns
// the verdicts.
func series(r *Robust, sensor string, levels []float64, std float64, count int64) []Verdict {
	return hopping(r, sensor, levels, std, count, time.Minute, time.Minute)
}

// hopping is series for windows of length size that start every hop.
func hopping(r Detector, sensor string, levels []float64, std float64, count int64, size, hop time.Duration) []Verdict {
	t0 := time.Unix(1.7e9, 0)
	out := make([]Verdict, len(levels))
	for i, lv := range levels {
		start := t0.Add(time.Duration(i) * hop)
		out[i] = r.Score(&schemas.FeatureVector{SensorID: sensor, SensorType: "generic",
			WindowStart: start, WindowEnd: start.Add(size), Count: count, Mean: lv, Std: std})
	}
	return out
}

// stepLevels is n window means of noise (0.05) that step up by 5 at
// window at.
func stepLevels(seed uint64, n, at int) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	levels := make([]float64, n)
	for i := range levels {
		levels[i] = rng.NormFloat64() * 0.05
		if i >= at {
			levels[i] += 5
		}
	}
	return levels
}

func maxScore(vs []Verdict) (m float64) {
	for _, v := range vs {
		if v.OK {
			m = max(m, v.Score)
		}
	}
	return m
}

// Steady signals with no anomaly score low however they are shaped: the
// deviation is measured against how the windows vary, not against the
// spread inside a window (which a noise-free signal does not have).
func TestRobustDoesNotSaturateOnSteadySignals(t *testing.T) {
	const n = 7 * 288 // a week of 5-minute windows
	sine := make([]float64, n)
	trend := make([]float64, n)
	saw := make([]float64, n)
	for i := range n {
		day := 2 * math.Pi * float64(i) / 288
		sine[i] = 20 + 5*math.Sin(day)
		trend[i] = 100 + 0.01*float64(i)
		saw[i] = float64(i%288) / 288
	}
	tests := []struct {
		name   string
		levels []float64
		std    float64
		count  int64
		want   float64 // highest score allowed
	}{
		{"daily sine, one reading a window", sine, 0, 1, 0.25},
		{"daily sine, noise-free windows", sine, 0, 30, 0.25},
		{"linear trend", trend, 0, 1, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRobust(RobustConfig{}, half)
			vs := series(r, "s", tc.levels, tc.std, tc.count)
			if m := maxScore(vs); m > tc.want {
				t.Fatalf("highest score %.3f, want at most %.2f", m, tc.want)
			}
			high := 0
			for _, v := range vs {
				if v.OK && v.Score >= 0.5 {
					high++
				}
			}
			if high > 0 {
				t.Fatalf("%d of %d windows anomalous", high, len(vs))
			}
		})
	}
	// A daily sawtooth resets once a day: a jump, which scores, but only
	// until MaxFrozen windows have made it the new normal.
	r := NewRobust(RobustConfig{}, half)
	high := 0
	for _, v := range series(r, "saw", saw, 0.01, 30) {
		if v.OK && v.Score >= 0.5 {
			high++
		}
	}
	if limit := 7 * (r.cfg.MaxFrozen + 1); high > limit {
		t.Fatalf("sawtooth: %d anomalous windows in 7 days, want at most %d", high, limit)
	}
}

// Calibration: the score of a window depends on how unusual it is for its
// sensor, not on the sensor's units, level or noise.
func TestRobustScoresAreTheSameInEveryUnit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := make([]float64, 300)
	for i := range base {
		base[i] = rng.NormFloat64()
	}
	base[200] += 12 // one window far out
	scaled := func(k, off float64) []float64 {
		out := make([]float64, len(base))
		for i, x := range base {
			out[i] = off + k*x
		}
		return out
	}
	ref := series(NewRobust(RobustConfig{}, half), "a", base, 1, 60)
	for _, c := range []struct{ k, off float64 }{{1000, 0}, {0.001, 5}, {3, -40}} {
		got := series(NewRobust(RobustConfig{}, half), "b", scaled(c.k, c.off), c.k, 60)
		for i := range ref {
			if math.Abs(got[i].Score-ref[i].Score) > 1e-9 || got[i].OK != ref[i].OK {
				t.Fatalf("×%g%+g: window %d scores %.6f, %.6f in the original units", c.k, c.off, i, got[i].Score, ref[i].Score)
			}
		}
	}
	if ref[200].Score < 0.5 {
		t.Fatalf("the outlying window scored %.3f", ref[200].Score)
	}
	high := 0
	for i, v := range ref {
		if i != 200 && v.Score >= 0.5 {
			high++
		}
	}
	if high > 3 {
		t.Fatalf("%d of 299 ordinary windows scored anomalous", high)
	}
}

// windowsOf cuts readings, one a second from t0, into windows of length
// size that start every hop, as the features stage does.
func windowsOf(sensor string, xs []float64, size, hop time.Duration) []*schemas.FeatureVector {
	t0 := time.Unix(1.7e9, 0)
	var out []*schemas.FeatureVector
	per, step := int(size/time.Second), int(hop/time.Second)
	for i := 0; i+per <= len(xs); i += step {
		w := xs[i : i+per]
		var sum, ss float64
		for _, x := range w {
			sum += x
		}
		mean := sum / float64(per)
		for _, x := range w {
			ss += (x - mean) * (x - mean)
		}
		start := t0.Add(time.Duration(i) * time.Second)
		out = append(out, &schemas.FeatureVector{SensorID: sensor, SensorType: "generic", WindowStart: start, WindowEnd: start.Add(size),
			Count: int64(per), Mean: mean, Std: math.Sqrt(ss / float64(per-1)), Min: slices.Min(w), Max: slices.Max(w)})
	}
	return out
}

// What moves a window's level or spread far enough, and how, decides an
// anomaly: a step (most of the move within one window length) needs
// StepNoise typical noise spreads, a creep as far as a calibration drift
// goes needs Noise, a change of spread many readings show counts and a
// one-reading glitch does not. The same holds with hopping windows.
func TestRobustFindsStepsAndWearButNotCreepOrGlitches(t *testing.T) {
	const noise, at = 0.3, 2400 // within-window spread; the change starts 40 minutes in
	tests := []struct {
		name    string
		change  func(sec int, x float64) float64 // a reading at second sec ≥ at, of normal value x (mean 10)
		anomaly bool
		feature string
	}{
		{"step of 5 noise", func(_ int, x float64) float64 { return x + 5*noise }, true, "mean"},
		{"step of 2 noise", func(_ int, x float64) float64 { return x + 2*noise }, true, "mean"},
		{"step of 1 noise", func(_ int, x float64) float64 { return x + noise }, false, ""},
		{"creep of 2 noise over 10 minutes (a calibration drift)", nil, false, ""},
		{"std doubles (wear)", func(_ int, x float64) float64 { return 10 + 2*(x-10) }, true, "std"},
		{"std up 20%", func(_ int, x float64) float64 { return 10 + 1.2*(x-10) }, false, ""},
		{"std to nothing (stuck)", func(int, float64) float64 { return 10 }, true, "std"},
		{"one glitch of 15 noise", func(sec int, x float64) float64 {
			if sec == at+30 {
				return x - 15*noise
			}
			return x
		}, false, ""},
		{"a glitch of 15 noise every 15 s", func(sec int, x float64) float64 {
			if sec%15 == 0 {
				return x - 15*noise
			}
			return x
		}, true, "std"},
	}
	for _, hop := range []time.Duration{time.Minute, 20 * time.Second} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s, a window every %v", tc.name, hop), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, 4))
				xs := make([]float64, at+5*60)
				for sec := range xs {
					xs[sec] = 10 + noise*rng.NormFloat64()
					switch {
					case tc.change == nil && sec >= at-10*60: // the creep, then its level
						xs[sec] += 2 * noise * math.Min(1, float64(sec-(at-10*60))/(10*60))
					case tc.change != nil && sec >= at:
						xs[sec] = tc.change(sec, xs[sec])
					}
				}
				r := NewRobust(RobustConfig{}, half)
				for _, fv := range windowsOf("s", xs, time.Minute, hop) {
					v := r.Score(fv)
					after := !fv.WindowStart.Before(time.Unix(1.7e9+at, 0))
					switch got := v.Score >= 0.5; {
					case tc.anomaly && after && !got:
						t.Fatalf("window at %v, after the change: score %.3f (deviations %v), want anomalous", fv.WindowStart.Sub(time.Unix(1.7e9, 0)), v.Score, v.Deviations)
					case tc.anomaly && after && v.Shares[tc.feature] < 0.5:
						t.Fatalf("window at %v: shares %v, want %s to lead", fv.WindowStart.Sub(time.Unix(1.7e9, 0)), v.Shares, tc.feature)
					case !tc.anomaly && got:
						t.Fatalf("window at %v: score %.3f (deviations %v), want normal", fv.WindowStart.Sub(time.Unix(1.7e9, 0)), v.Score, v.Deviations)
					}
				}
			})
		}
	}
}

// A sensor sampled more slowly than its windows gets one reading a
// window: each is scored on its own against the sensor's recent readings.
func TestRobustScoresSparseWindowsAsPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	levels := make([]float64, 80)
	for i := range levels {
		levels[i] = 50 + rng.NormFloat64()
	}
	levels[70] = 58
	vs := series(NewRobust(RobustConfig{}, half), "slow", levels, 0, 1)
	if vs[70].Score < 0.5 {
		t.Fatalf("the outlying reading scored %.3f", vs[70].Score)
	}
	if _, ok := vs[70].Deviations["std"]; ok {
		t.Fatal("a one-reading window was judged on its standard deviation")
	}
	for i, v := range vs {
		if i != 70 && v.Score >= 0.5 {
			t.Fatalf("reading %d (%.2f) scored %.3f", i, levels[i], v.Score)
		}
	}
}

// A lasting change stays anomalous for MaxFrozen windows, then becomes
// the new normal.
func TestRobustAdaptsAfterMaxFrozen(t *testing.T) {
	levels := stepLevels(7, 200, 100)
	vs := series(NewRobust(RobustConfig{MaxFrozen: 10}, half), "s", levels, 0.5, 60)
	for i := 100; i < 110; i++ {
		if vs[i].Score < 0.5 {
			t.Fatalf("window %d, %d into the change, scored %.3f", i, i-100, vs[i].Score)
		}
	}
	for i := 170; i < 200; i++ {
		if vs[i].Score >= 0.5 {
			t.Fatalf("window %d, long after the change, still scores %.3f", i, vs[i].Score)
		}
	}
}

// With hopping windows the warm-up, the baseline and the time an
// incident is kept out of it are counted in window lengths, not hops: a
// 60 s window every 20 s is three windows an instant.
func TestRobustCountsHoppingWindowsInWindowLengths(t *testing.T) {
	levels := stepLevels(9, 300, 150)
	r := NewRobust(RobustConfig{WarmUp: 10, MaxFrozen: 10, History: 40}, half)
	vs := hopping(r, "s", levels, 0.5, 60, time.Minute, 20*time.Second)
	first := slices.IndexFunc(vs, func(v Verdict) bool { return v.OK })
	if first != 30 {
		t.Fatalf("first scored window %d, want 30 (a warm-up of 10 window lengths)", first)
	}
	for i := 150; i < 180; i++ { // MaxFrozen: 10 window lengths, 30 hops
		if vs[i].Score < 0.5 {
			t.Fatalf("hop %d, %d into the change, scored %.3f", i, i-150, vs[i].Score)
		}
	}
	for i := 250; i < 300; i++ {
		if vs[i].Score >= 0.5 {
			t.Fatalf("hop %d, long after the change, still scores %.3f", i, vs[i].Score)
		}
	}
	if got, want := r.history(), (40+10)*3; got != want {
		t.Fatalf("windows retained per sensor %d, want %d", got, want)
	}
	// Both detectors, tumbling and hopping: the warm-up and the windows
	// retained scale with the overlap.
	for _, hop := range []time.Duration{time.Minute, 20 * time.Second} {
		o := int(time.Minute / hop)
		for _, d := range []sensorDetector{
			NewRobust(RobustConfig{WarmUp: 10, MaxFrozen: 10, History: 40}, half),
			NewAdaptive(AdaptiveConfig{WarmUp: 10, MaxFrozen: 10, History: 40}, half),
		} {
			vs := hopping(d, "s", levels, 0.5, 60, time.Minute, hop)
			if first := slices.IndexFunc(vs, func(v Verdict) bool { return v.OK }); first != 10*o || d.history() != 50*o {
				t.Errorf("%s, a window every %v: first scored window %d (want %d), windows retained %d (want %d)", d.Name(), hop, first, 10*o, d.history(), 50*o)
			}
		}
	}
}

func TestRobustConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  RobustConfig
		ok   bool
	}{
		{"defaults", RobustConfig{}, true},
		{"history too short", RobustConfig{History: 2}, false},
		{"negative deviation", RobustConfig{Z0: -1}, false},
		{"negative noise", RobustConfig{Noise: -1}, false},
		{"negative step noise", RobustConfig{StepNoise: -1}, false},
		{"negative warm-up", RobustConfig{WarmUp: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.WithDefaults().Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A window too sparse for the noise floor (here 3 readings) in the middle
// of a step incident does not end it: the windows after it still meet the
// step's floor, though the sparse one already had the new level.
func TestRobustStepOutlastsASparseWindow(t *testing.T) {
	const noise, at = 0.3, 2400
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]float64, at+5*60)
	for sec := range xs {
		xs[sec] = 10 + noise*rng.NormFloat64()
		if sec >= at {
			xs[sec] += 2 * noise
		}
	}
	fvs := windowsOf("s", xs, time.Minute, time.Minute)
	sparse := windowsOf("s", xs[43*60:43*60+3], 3*time.Second, 3*time.Second)[0]
	sparse.WindowStart, sparse.WindowEnd = fvs[43].WindowStart, fvs[43].WindowEnd
	fvs[43] = sparse
	r := NewRobust(RobustConfig{}, half)
	for i, fv := range fvs {
		v := r.Score(fv)
		if i >= 40 && v.Score < 0.5 {
			t.Fatalf("window %d (%d readings), %d into the step: score %.3f (deviations %v)", i, fv.Count, i-40, v.Score, v.Deviations)
		}
	}
}

// When the windows stop hopping (60 s hopping by 6 s, then tumbling), a
// sensor's baseline keeps its History newest windows, none from before
// the change once that many have come since, and scores a window as a
// restart that replays the retained windows would.
func TestRobustBaselineAfterTheHopLengthens(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	at := time.Unix(1.7e9, 0)
	var fvs []*schemas.FeatureVector
	for i := range 3000 {
		fvs = append(fvs, &schemas.FeatureVector{SensorID: "x", AssetID: "a", SensorType: "temperature", WindowStart: at, WindowEnd: at.Add(time.Minute),
			Count: 60, Mean: 50 + rng.NormFloat64(), Std: 1})
		if i < 1000 {
			at = at.Add(6 * time.Second)
		} else {
			at = at.Add(time.Minute)
		}
	}
	last := *fvs[len(fvs)-1]
	last.WindowStart, last.WindowEnd, last.Mean = at, at.Add(time.Minute), 53.5
	fvs = append(fvs, &last)
	cfg := RobustConfig{}.WithDefaults()
	threshold := func(string) float64 { return 0.99 }
	running := NewRobust(cfg, threshold)
	var want Verdict
	for _, fv := range fvs {
		want = running.Score(fv)
	}
	b := running.sensors["x"]
	if len(b.mean) != cfg.History {
		t.Errorf("baseline of %d windows, want %d", len(b.mean), cfg.History)
	}
	for _, st := range b.start {
		if st < fvs[1000].WindowStart.UnixMicro() {
			t.Fatalf("a baseline window from before the hop changed, 2000 windows ago")
		}
	}
	replayed := NewRobust(cfg, threshold)
	var got Verdict
	for _, fv := range fvs[len(fvs)-1-running.history():] {
		got = replayed.Score(fv)
	}
	if got.Score != want.Score {
		t.Errorf("after a replay of the retained windows: score %v, running %v", got.Score, want.Score)
	}
}
