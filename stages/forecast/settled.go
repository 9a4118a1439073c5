package forecast

import "math"

// Settled is the forecast of a series that moved and has stopped: its
// last value, held. pick uses it where the slow model lags a change that
// is over, a step rather than a ramp, which Holt would carry on as a
// trend. Its one-step errors are the series' own steps, so its sigma is
// their robust standard deviation; its spreads grow as smoothing's with
// Alpha, the slow model's (a held value has a settled series' noise
// twice in its error, and a wandering series' drift as well).
//
// Settled is a value; its methods are safe for concurrent use.
type Settled struct {
	Alpha float64
}

func (Settled) name() string { return "settled-level" }

// fit implements model: the last value, no trend, and the history's
// steps as its one-step errors.
func (m Settled) fit(ys []float64, k int, scratch *[]float64) (st state, bias float64) {
	t := newTally(scratch)
	for i := 1; i < len(ys); i++ {
		t.add(i, len(ys), k, ys[i]-ys[i-1])
	}
	st.level = ys[len(ys)-1]
	bias = t.done(&st, scratch)
	return st, bias
}

// path implements model.
func (m Settled) path(st state, f, spread []float64) {
	for h := range f {
		f[h] = st.level
		spread[h] = math.Sqrt(1 + float64(h)*m.Alpha*m.Alpha)
	}
}

// settled reports whether ys has stopped moving the way trend points:
// over its last two steps it moved less than the noise of a step
// (noise·√2, the standard deviation of a difference of two values) that
// way, or went the other way. A ramp keeps moving its trend's way; a step,
// once taken, does not. Two steps rather than one, so that the noise of
// one window does not take a ramp for a step (the step is then seen a
// window later).
func settled(ys []float64, trend, noise float64) bool {
	n := len(ys)
	if n < 3 || trend == 0 {
		return false
	}
	d := ys[n-1] - ys[n-3]
	return math.Signbit(d) != math.Signbit(trend) || math.Abs(d) < noise*math.Sqrt2
}
