package forecast

import "math"

// Settled is the forecast of a series that moved and has stopped: its
// last value held, with the slow model's noise and spreads. It is what
// pick gives when the slow model lags a change that is over, a step
// rather than a ramp, where Holt would carry on the change's trend.
//
// Settled is a value; its methods are safe for concurrent use.
type Settled struct{ Level }

func (Settled) name() string { return "settled-level" }

// settled reports whether ys has stopped moving the way trend points: its
// last step is less than one standard deviation of a step's noise
// (noise·√2) that way, or goes the other way. A ramp keeps stepping its
// trend's way; a step, once taken, does not.
func settled(ys []float64, trend, noise float64) bool {
	n := len(ys)
	if n < 2 || trend == 0 {
		return false
	}
	d := ys[n-1] - ys[n-2]
	return math.Signbit(d) != math.Signbit(trend) || math.Abs(d) < noise*math.Sqrt2
}
