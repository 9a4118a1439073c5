package forecast

import (
	"math"
	"slices"
)

// state is a fitted model: the level and trend after the last value, and
// the standard deviation of its one-step errors.
type state struct {
	level, trend, sigma float64
	trendSE             float64 // the trend's standard error, where the model has one
}

// model is Level, Holt or Settled. fit runs it over a history ys, oldest first
// (at least one value), and returns its state after the last value, with
// sigma the robust standard deviation (robustSigma) of its one-step errors
// from the third (the start-up's own left out) to before the last k, and
// the mean of those last k: far from zero when the model keeps missing to
// one side. A robust sigma is the error of the model's usual weather: a
// change it took a few windows to catch up with does not widen every
// later interval. scratch is space fit may reuse. path fills the
// forecasts 1, 2, ... steps ahead and their spreads in units of sigma.
// name is what Forecast records call it.
type model interface {
	fit(ys []float64, k int, scratch *[]float64) (st state, bias float64)
	path(st state, f, spread []float64)
	name() string
}

// tally collects a fit's one-step errors: those from the third value to
// before the last k for its sigma, the mean of the last k for its bias.
type tally struct {
	errs   []float64
	sum    float64
	recent int
}

func newTally(scratch *[]float64) tally { return tally{errs: (*scratch)[:0]} }

// add notes error e of value i of n.
func (t *tally) add(i, n, k int, e float64) {
	switch {
	case i >= n-k:
		t.sum += e
		t.recent++
	case i >= 2:
		t.errs = append(t.errs, e)
	}
}

// done sets st's sigma, gives scratch its space back, and returns the
// bias.
func (t *tally) done(st *state, scratch *[]float64) float64 {
	st.sigma = robustSigma(t.errs)
	*scratch = t.errs
	if t.recent == 0 {
		return 0
	}
	return t.sum / float64(t.recent)
}

// robustSigma is 1.4826 times the median of the sizes in errs (which it
// reorders), the standard deviation for normal errors; 0 for fewer than
// two.
func robustSigma(errs []float64) float64 {
	n := len(errs)
	if n < 2 {
		return 0
	}
	for i, e := range errs {
		errs[i] = math.Abs(e)
	}
	slices.Sort(errs)
	return 1.4826 * (errs[(n-1)/2] + errs[n/2]) / 2
}

// pick fits slow to ys and returns it, unless slow has been missing to
// one side: when the mean of its last k one-step errors is bias or more
// noise standard deviations from zero, it lags a change faster than it
// follows, and fast is fitted and returned instead, or Settled when the
// change is over. A steady or slowly cycling sensor is forecast by the
// slow model, which averages its noise away, a ramp by the fast one from
// the windows where the slow one falls behind it, and a step that has
// been taken by its last value.
//
// The noise is the robust standard deviation of the history's steps
// before the last k, over √2: the scatter of one window around the next,
// whatever the model and whatever changes the history went through (a
// median does not see a few windows of a step or a ramp). Judged against
// its own errors instead, the slow model would hand a ramp back once the
// ramp had spoilt them.
//
// A step makes the slow model lag as a ramp does, and for as long; but a
// step is over once taken, and Holt would carry its trend on. So while
// the last two steps do not go on the way the fast model's trend points
// (settled), the forecast is Settled (with slow's Alpha): the last value
// held. scratch is space pick may reuse.
func pick(ys []float64, slow Level, fast Holt, k int, bias float64, scratch *[]float64) (state, model) {
	d := (*scratch)[:0]
	for i := 1; i < len(ys)-k; i++ {
		d = append(d, ys[i]-ys[i-1])
	}
	sigma := robustSigma(d) / math.Sqrt2
	*scratch = d
	st, b := slow.fit(ys, k, scratch)
	if sigma == 0 || math.Abs(b) < bias*sigma {
		return st, slow
	}
	st, _ = fast.fit(ys, k, scratch)
	if settled(ys, st.trend, sigma) {
		held := Settled{Alpha: slow.Alpha}
		st, _ = held.fit(ys, k, scratch)
		return st, held
	}
	return st, fast
}
