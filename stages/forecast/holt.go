package forecast

import (
	"fmt"
	"math"
)

// Holt is damped-trend exponential smoothing, ETS(A,Ad,N) in Hyndman and
// Athanasopoulos' terms: a level and a trend that decays by Phi a step,
// updated by the one-step error e as
//
//	level' = level + Phi·trend + Alpha·e
//	trend' = Phi·trend + Beta·e
//
// The forecast h steps ahead is level + (Phi + Phi² + ... + Phi^h)·trend,
// and its error variance σ²·(1 + Σ_{j<h} (Alpha + Beta·(Phi + ... + Phi^j))²),
// σ² being the one-step error variance. A damped trend bends towards a
// level: far ahead the forecast moves at most Phi/(1-Phi) steps' worth of
// the current trend, so a short rise is not projected without end.
//
// Holt is a value; its methods are safe for concurrent use.
type Holt struct {
	Alpha, Beta, Phi float64
}

// Validate reports parameters outside the model's usable range.
func (m Holt) Validate() error {
	if !(m.Alpha > 0 && m.Alpha <= 1) || !(m.Beta >= 0 && m.Beta <= m.Alpha) || !(m.Phi > 0 && m.Phi <= 1) {
		return fmt.Errorf("holt: alpha %v in (0,1], beta %v in [0,alpha], phi %v in (0,1] needed", m.Alpha, m.Beta, m.Phi)
	}
	return nil
}

// fit implements model, from a level at ys[0] and no trend.
func (m Holt) fit(ys []float64, k int, scratch *[]float64) (st state, bias float64) {
	st = state{level: ys[0]}
	t := newTally(scratch)
	for i := 1; i < len(ys); i++ {
		e := ys[i] - (st.level + m.Phi*st.trend)
		st.level += m.Phi*st.trend + m.Alpha*e
		st.trend = m.Phi*st.trend + m.Beta*e
		t.add(i, len(ys), k, e)
	}
	bias = t.done(&st, scratch)
	return st, bias
}

// path implements model.
func (m Holt) path(st state, f, spread []float64) {
	damp, sum, v := 0.0, 0.0, 1.0 // Phi+...+Phi^h; Σ c_j²; variance factor
	p := 1.0
	for h := range f {
		p *= m.Phi
		damp += p
		f[h] = st.level + damp*st.trend
		spread[h] = math.Sqrt(v)
		c := m.Alpha + m.Beta*damp // c_h, for the next step's variance
		sum += c * c
		v = 1 + sum
	}
}

// crossing is the first time, in steps (fractional, by linear
// interpolation between steps), at which the series at(-1) now, then
// at(0), ..., at(n-1) one step apart, reaches limit from below: 0 when
// at(-1) already has, -1 when none does.
func crossing(n int, at func(h int) float64, limit float64) float64 {
	prev := at(-1)
	if prev >= limit {
		return 0
	}
	for i := range n {
		if v := at(i); v >= limit {
			return float64(i) + (limit-prev)/(v-prev)
		}
		prev = at(i)
	}
	return -1
}

func (Holt) name() string { return "holt-damped" }
