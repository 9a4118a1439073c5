package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestHoltFollowsLevelsAndLines(t *testing.T) {
	line := make([]float64, 60)
	for i := range line {
		line[i] = 10 + 0.5*float64(i)
	}
	flat := make([]float64, 60)
	for i := range flat {
		flat[i] = 3
	}
	tests := []struct {
		name   string
		model  Holt
		ys     []float64
		steps  int
		want   float64 // the forecast steps ahead
		within float64
	}{
		{"a constant stays", Holt{0.5, 0.05, 0.9}, flat, 10, 3, 1e-12},
		{"an undamped line continues", Holt{0.5, 0.2, 1}, line, 10, 10 + 0.5*69, 1e-3},
		// Damped, on a line of slope s, the model settles where the
		// one-step error e is constant: the trend b = s/(Phi + Alpha(1-Phi)/Beta),
		// e = (1-Phi)b/Beta, the level (1-Alpha)e under the last value, and
		// 10 steps ahead adds (Phi+...+Phi^10)·b.
		{"a damped line bends", Holt{0.5, 0.2, 0.9}, line, 10, dampedLine(0.5, 0.2, 0.9, 0.5, 10+0.5*59, 10), 1e-3},
	}
	for _, tc := range tests {
		st, _ := tc.model.fit(tc.ys, 0, new([]float64))
		f, sd := make([]float64, tc.steps), make([]float64, tc.steps)
		tc.model.path(st, f, sd)
		if got := f[tc.steps-1]; math.Abs(got-tc.want) > tc.within {
			t.Errorf("%s: forecast %v, want %v", tc.name, got, tc.want)
		}
		if sd[0] != 1 || sd[tc.steps-1] <= sd[0] {
			t.Errorf("%s: spreads %v: one step is sigma, and they widen", tc.name, sd)
		}
	}
}

// The interval's spread follows ETS(A,Ad,N)'s variance: with Beta 0 the
// model is simple exponential smoothing, whose h-step variance is
// σ²(1 + (h-1)·Alpha²).
func TestHoltSpreadIsTheModelsVariance(t *testing.T) {
	m := Holt{Alpha: 0.4, Beta: 0, Phi: 1}
	f, sd := make([]float64, 8), make([]float64, 8)
	m.path(state{level: 1}, f, sd)
	for h := 1; h <= 8; h++ {
		if want := math.Sqrt(1 + float64(h-1)*0.16); math.Abs(sd[h-1]-want) > 1e-12 {
			t.Errorf("h=%d: spread %v, want %v", h, sd[h-1], want)
		}
	}
}

func TestCrossing(t *testing.T) {
	tests := []struct {
		now   float64
		path  []float64
		limit float64
		want  float64
	}{
		{5, []float64{6, 7}, 4, 0},        // already beyond
		{1, []float64{2, 3, 4}, 2.5, 1.5}, // half way between steps 1 and 2
		{1, []float64{2, 3}, 9, -1},       // not within the path
		{1, []float64{3}, 2, 0.5},
	}
	for _, tc := range tests {
		at := func(h int) float64 {
			if h < 0 {
				return tc.now
			}
			return tc.path[h]
		}
		if got := crossing(len(tc.path), at, tc.limit); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("crossing(%v, %v, %v) = %v, want %v", tc.now, tc.path, tc.limit, got, tc.want)
		}
	}
}

func dampedLine(alpha, beta, phi, slope, last float64, h int) float64 {
	b := slope / (phi + alpha*(1-phi)/beta)
	e := (1 - phi) * b / beta
	return last - (1-alpha)*e + phi*(1-math.Pow(phi, float64(h)))/(1-phi)*b
}

// The slow model projects a trend only where the history shows one, and
// pick hands a sensor to the fast model once the slow one keeps missing,
// unless the change it misses is a step that is over.
func TestLevelAndPick(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noisy, drifting, ramp := make([]float64, 60), make([]float64, 60), make([]float64, 60)
	for i := range noisy {
		e := rng.NormFloat64()
		noisy[i] = 10 + e
		drifting[i] = 10 + 0.2*float64(i) + e
		ramp[i] = 10 + 0.1*e + 0.5*float64(max(0, i-54))
	}
	// Steps of 3 taken at value 56 (four values before the end), over a
	// wiggle of ±0.1: its steps of ±0.2 make the noise of a step
	// 1.4826·0.2 (noise·√2, 0.2965). Two values apart the wiggle cancels.
	wiggle := func(f func(i int) float64) []float64 {
		ys := make([]float64, 60)
		for i := range ys {
			ys[i] = f(i) + 0.1*float64(1-2*(i%2))
		}
		return ys
	}
	after := func(i, at int) float64 { return float64(min(1, max(0, i-at+1))) } // 1 from value at on
	step := wiggle(func(i int) float64 { return 10 + 3*after(i, 56) })
	stepDown := wiggle(func(i int) float64 { return 10 - 3*after(i, 56) })
	turning := wiggle(func(i int) float64 { return 10 + 3*after(i, 56) - after(i, 59) })
	stepping := wiggle(func(i int) float64 { return 10 + 2*after(i, 58) + after(i, 59) })
	// After the step, the last two values creep on by 0.25 (under a
	// step's noise) or 0.35 (over it).
	creep := func(by float64) []float64 {
		return wiggle(func(i int) float64 { return 10 + 3*after(i, 56) + by/2*(after(i, 58)+after(i, 59)) })
	}
	slow, fast := Level{Alpha: 0.3, T: 4}, Holt{Alpha: 0.5, Beta: 0.3, Phi: 0.95}
	tests := []struct {
		name  string
		ys    []float64
		trend bool   // the slow model projects a trend
		want  string // the model picked
	}{
		{"noise", noisy, false, "smoothed-level"},
		{"a steady drift", drifting, true, "smoothed-level"},
		{"a ramp in the last windows", ramp, false, "holt-damped"},
		{"a step that is over", step, false, "settled-level"},
		{"a step down that is over", stepDown, false, "settled-level"},
		{"a step turning back", turning, false, "settled-level"},
		{"a step still being taken", stepping, false, "holt-damped"},
		{"a step creeping on under a step's noise", creep(0.25), false, "settled-level"},
		{"a step creeping on over a step's noise", creep(0.35), false, "holt-damped"},
	}
	for _, tc := range tests {
		st, _ := slow.fit(tc.ys, 5, new([]float64))
		if (st.trend != 0) != tc.trend {
			t.Errorf("%s: slow trend %v (se %v)", tc.name, st.trend, st.trendSE)
		}
		st, m := pick(tc.ys, slow, fast, 5, 3, new([]float64))
		if m.name() != tc.want {
			t.Errorf("%s: picked %s, want %s", tc.name, m.name(), tc.want)
			continue
		}
		if last := tc.ys[len(tc.ys)-1]; tc.want == "settled-level" {
			f, spread := make([]float64, 10), make([]float64, 10)
			m.path(st, f, spread)
			if f[0] != last || f[9] != last || st.trend != 0 || spread[9] <= spread[0] {
				t.Errorf("%s: path %v from %v (trend %v, spreads %v), want the last value held", tc.name, f, last, st.trend, spread)
			}
			if want := 1.4826 * 0.2; math.Abs(st.sigma-want) > 1e-9 {
				t.Errorf("%s: sigma %v, want the noise of a step, %v", tc.name, st.sigma, want)
			}
		}
	}
}

// A noisy ramp that the slow model lags is the fast model's in (nearly)
// every window: one window's noise does not pass it for a step that is
// over. A ramp of 3 noise standard deviations a step, over 200 series:
// one step back by the noise happens about one window in seven, two steps
// that do not go on about one in 1,600.
func TestPickHoldsANoisyRampWithTheFastModel(t *testing.T) {
	slow, fast := Level{Alpha: 0.3, T: 4}, Holt{Alpha: 0.5, Beta: 0.3, Phi: 0.95}
	handed, held := 0, 0
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ys := make([]float64, 60)
		for i := range ys {
			ys[i] = 10 + rng.NormFloat64() + 3*float64(max(0, i-50))
		}
		for n := 53; n <= len(ys); n++ {
			switch _, m := pick(ys[:n], slow, fast, 5, 3, new([]float64)); m.(type) {
			case Holt:
				handed++
			case Settled:
				handed++
				held++
			}
		}
	}
	if handed < 1000 || held*100 > handed {
		t.Errorf("of %d windows handed over by the slow model, %d were taken as settled, want under 1%%", handed, held)
	}
}
