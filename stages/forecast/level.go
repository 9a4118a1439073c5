package forecast

import (
	"fmt"
	"math"
)

// Level is simple exponential smoothing with a linear trend that is used
// only where a sensor's history shows one: the least-squares slope of the
// history, when it is at least T standard errors from zero (autocorrelated
// residuals make the standard error small, hence a T well above 2). The
// level is the smoothed value, moved up by the lag smoothing has behind a
// trend, slope·(1-Alpha)/Alpha. A noisy steady sensor is thus forecast by
// its smoothed level, and one that follows a slow cycle or drift by that
// drift; neither follows a change of pace quickly, which is what Holt,
// the fast model, is for.
//
// Level is a value; its methods are safe for concurrent use.
type Level struct {
	Alpha, T float64
}

func (Level) name() string { return "smoothed-level" }

// Validate reports parameters outside the model's usable range.
func (m Level) Validate() error {
	if !(m.Alpha > 0 && m.Alpha <= 1) || !(m.T > 0) {
		return fmt.Errorf("level: alpha %v in (0,1] and t %v over 0 needed", m.Alpha, m.T)
	}
	return nil
}

// fit implements model: the one-step errors are those of the smoothed
// level plus the trend found.
func (m Level) fit(ys []float64, k int, scratch *[]float64) (st state, bias float64) {
	n := float64(len(ys))
	// The history's least-squares slope, per step, and its standard error.
	var sx, sy, sxx, sxy float64
	for i, y := range ys {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	if den := n*sxx - sx*sx; len(ys) >= 4 && den > 0 {
		slope := (n*sxy - sx*sy) / den
		icpt := (sy - slope*sx) / n
		var ssr float64
		for i, y := range ys {
			r := y - icpt - slope*float64(i)
			ssr += r * r
		}
		se := math.Sqrt(ssr / (n - 2) / (sxx - sx*sx/n))
		if math.Abs(slope) >= m.T*se {
			st.trend, st.trendSE = slope, se
		}
	}
	level := ys[0]
	t := newTally(scratch)
	for i := 1; i < len(ys); i++ {
		e := ys[i] - (level + st.trend)
		level += st.trend + m.Alpha*e
		t.add(i, len(ys), k, e)
	}
	st.level = level
	bias = t.done(&st, scratch)
	return st, bias
}

// path implements model: the trend continues undamped, and the spread
// adds the slope's uncertainty to smoothing's σ²(1+(h-1)Alpha²).
func (m Level) path(st state, f, spread []float64) {
	for h := range f {
		steps := float64(h + 1)
		f[h] = st.level + steps*st.trend
		v := 1 + float64(h)*m.Alpha*m.Alpha
		if st.sigma > 0 {
			v += math.Pow(steps*st.trendSE/st.sigma, 2)
		}
		spread[h] = math.Sqrt(v)
	}
}
