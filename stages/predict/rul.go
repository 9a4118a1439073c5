package predict

import (
	"fmt"
	"math"
)

// Run is the history of one unit (an asset, an engine), its rows in time
// order: Times[i] and Values[i][c], channel c of row i.
type Run struct {
	Unit   string
	Times  []float64
	Values [][]float64
}

// RULConfig configures remaining-useful-life training.
type RULConfig struct {
	Window int     // rows the trailing features look back over (default 30)
	Cap    float64 // remaining life is capped here in training targets (default 125): early in a run nothing shows how far off failure is
	Boost  BoostConfig
}

// WithDefaults returns c with every unset field at its default.
func (c RULConfig) WithDefaults() RULConfig {
	if c.Window == 0 {
		c.Window = 30
	}
	if c.Cap == 0 {
		c.Cap = 125
	}
	c.Boost = c.Boost.WithDefaults()
	c.Boost.Loss = Squared
	return c
}

// RUL predicts a unit's remaining useful life, in the unit of its Times,
// from its history so far. It is read-only once trained and safe for
// concurrent use; it marshals to JSON as it is.
type RUL struct {
	Channels []string `json:"channels"` // the input channels, in Run.Values order
	Used     []int    `json:"used"`     // the channels that vary in training
	Window   int      `json:"window"`
	Cap      float64  `json:"cap"`
	Features []string `json:"features"`
	Model    *Booster `json:"model"`
	// Lower and Upper are the 10% and 90% quantiles of the remaining
	// life, each widened by Widen: an 80% interval around Model's
	// prediction (see TrainRUL).
	Lower *Booster `json:"lower,omitempty"`
	Upper *Booster `json:"upper,omitempty"`
	Widen float64  `json:"widen,omitempty"`
}

// TrainRUL trains on runs that each end at their unit's failure: every
// row is an example, its target the time left to the run's last row
// (capped at Cap).
func TrainRUL(runs []Run, channels []string, cfg RULConfig) (*RUL, error) {
	cfg = cfg.WithDefaults()
	if cfg.Window < 2 || !(cfg.Cap > 0) {
		return nil, fmt.Errorf("%w: window %d, cap %v", ErrConfig, cfg.Window, cfg.Cap)
	}
	m := &RUL{Channels: channels, Window: cfg.Window, Cap: cfg.Cap}
	for c := range channels {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range runs {
			for _, v := range r.Values {
				lo, hi = min(lo, v[c]), max(hi, v[c])
			}
		}
		if hi-lo > 1e-9*max(1, math.Abs(hi)) {
			m.Used = append(m.Used, c)
		}
	}
	if len(m.Used) == 0 {
		return nil, fmt.Errorf("%w: no channel varies in the training runs", ErrConfig)
	}
	m.Features = m.featureNames()
	X, y := m.examples(runs, cfg.Cap)
	var err error
	if m.Model, err = Boost(X, y, cfg.Boost); err != nil {
		return nil, err
	}
	if err := m.trainInterval(runs, cfg); err != nil {
		return nil, err
	}
	return m, nil
}

// examples are every row of runs as features and capped remaining life.
func (m *RUL) examples(runs []Run, cap float64) (X [][]float64, y []float64) {
	for _, r := range runs {
		if len(r.Times) == 0 {
			continue
		}
		end := r.Times[len(r.Times)-1]
		for i := range r.Times {
			X = append(X, m.features(r, i))
			y = append(y, min(cap, end-r.Times[i]))
		}
	}
	return X, y
}

// trainInterval fits the interval by conformalized quantile regression
// (Romano, Patterson and Candès, 2019): the 10% and 90% quantile models
// are trained on four fifths of the runs, and widened by how far the
// other fifth's remaining lives fall outside them (the 80% quantile of
// max(lower-y, y-upper) over its rows whose life is under the cap: the
// capped start of a run, where the quantiles agree on the cap, would
// make the interval look surer than it is where it matters). Quantile models alone fit their
// training runs too closely: on C-MAPSS their intervals held 46% of the
// test engines' lives.
func (m *RUL) trainInterval(runs []Run, cfg RULConfig) error {
	var fit, calib []Run
	for i, r := range runs {
		if i%5 == 4 {
			calib = append(calib, r)
		} else {
			fit = append(fit, r)
		}
	}
	if len(calib) == 0 {
		return nil // too few runs to calibrate an interval
	}
	X, y := m.examples(fit, cfg.Cap)
	for _, q := range []struct {
		at  float64
		dst **Booster
	}{{0.1, &m.Lower}, {0.9, &m.Upper}} {
		qc := cfg.Boost
		qc.Loss, qc.Quantile = Quantile, q.at
		var err error
		if *q.dst, err = Boost(X, y, qc); err != nil {
			return err
		}
	}
	cx, cy := m.examples(calib, cfg.Cap)
	var scores []float64
	for i, x := range cx {
		if cy[i] < cfg.Cap { // where remaining life shows, not the capped start of a run
			scores = append(scores, max(m.Lower.Predict(x)-cy[i], cy[i]-m.Upper.Predict(x)))
		}
	}
	if len(scores) == 0 {
		return nil
	}
	m.Widen = quantileOf(scores, min(1, 0.8*(1+1/float64(len(scores)))))
	return nil
}

// Interval is the 80% interval of the unit's remaining life at the last
// row of r; 0, 0 for a model trained without one.
func (m *RUL) Interval(r Run) (lower, upper float64) {
	return m.intervalOf(m.features(r, len(r.Times)-1))
}

// intervalOf is Interval for features x.
func (m *RUL) intervalOf(x []float64) (lower, upper float64) {
	if m.Lower == nil || m.Upper == nil {
		return 0, 0
	}
	lower, upper = m.Lower.Predict(x)-m.Widen, m.Upper.Predict(x)+m.Widen
	return max(0, min(lower, upper)), max(0, lower, upper)
}

// Predict returns the unit's remaining life at the last row of r.
func (m *RUL) Predict(r Run) float64 {
	return m.predictOf(m.features(r, len(r.Times)-1))
}

// predictOf is Predict for features x.
func (m *RUL) predictOf(x []float64) float64 { return max(0, m.Model.Predict(x)) }

func (m *RUL) featureNames() []string {
	names := []string{"time"}
	for _, c := range m.Used {
		ch := m.Channels[c]
		names = append(names, ch+":last5", ch+":mean", ch+":slope", ch+":since_start")
	}
	return names
}

// features of row i of r: the time, and per channel the mean of the last
// 5 rows and of the last Window, the least-squares slope over the last
// Window, and how far the last Window's mean has moved from the run's
// first Window (each unit against its own start: units differ new).
func (m *RUL) features(r Run, i int) []float64 {
	return m.featuresAt(r.Times[max(0, i-m.Window+1):i+1], r.Values[max(0, i-m.Window+1):i+1], m.startOf(r.Values[:min(m.Window, i+1)]))
}

// startOf is, per channel, the mean of a run's first rows (its first
// Window, or all it has while it has fewer).
func (m *RUL) startOf(first [][]float64) []float64 {
	start := make([]float64, len(m.Channels))
	for _, c := range m.Used {
		start[c] = meanOf(first, c)
	}
	return start
}

// featuresAt are the features at the last of rows, the run's last Window
// rows (or fewer) at times ts, with start its startOf.
func (m *RUL) featuresAt(ts []float64, rows [][]float64, start []float64) []float64 {
	n := len(rows)
	out := make([]float64, 0, 1+4*len(m.Used))
	out = append(out, ts[n-1])
	for _, c := range m.Used {
		mean5 := meanOf(rows[max(0, n-5):], c)
		mean := meanOf(rows, c)
		out = append(out, mean5, mean, slopeOf(ts, rows, c), mean-start[c])
	}
	return out
}

func meanOf(rows [][]float64, c int) float64 {
	s := 0.0
	for _, v := range rows {
		s += v[c]
	}
	return s / float64(len(rows))
}

func slopeOf(ts []float64, rows [][]float64, c int) float64 {
	n := float64(len(ts))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, t := range ts {
		v := rows[i][c]
		sx, sy, sxx, sxy = sx+t, sy+v, sxx+t*t, sxy+t*v
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// RULScore is remaining-life prediction against the truth.
type RULScore struct {
	Units int     `json:"units"`
	RMSE  float64 `json:"rmse"`
	MAE   float64 `json:"mae"`
	// PHM08 is the PHM 2008 challenge's score: the sum over units of
	// e^(-d/13)-1 for early predictions (d < 0) and e^(d/10)-1 for late
	// ones, d = predicted - true: lower is better, and late costs more.
	PHM08 float64 `json:"phm08"`
	// Coverage is the share of true lives inside the predicted 80%
	// intervals; 0 when there are none.
	Coverage float64 `json:"coverage,omitempty"`
}

// Cover sets s.Coverage from each unit's interval.
func (s *RULScore) Cover(lower, upper, truth []float64) {
	in := 0
	for i, t := range truth {
		if t >= lower[i] && t <= upper[i] {
			in++
		}
	}
	if len(truth) > 0 {
		s.Coverage = float64(in) / float64(len(truth))
	}
}

// ScoreRUL compares predictions with true remaining lives.
func ScoreRUL(predicted, truth []float64) RULScore {
	s := RULScore{Units: len(truth)}
	for i, t := range truth {
		d := predicted[i] - t
		s.RMSE += d * d
		s.MAE += math.Abs(d)
		if d < 0 {
			s.PHM08 += math.Exp(-d/13) - 1
		} else {
			s.PHM08 += math.Exp(d/10) - 1
		}
	}
	if s.Units > 0 {
		s.RMSE = math.Sqrt(s.RMSE / float64(s.Units))
		s.MAE /= float64(s.Units)
	}
	return s
}
