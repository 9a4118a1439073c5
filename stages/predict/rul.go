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
	var X [][]float64
	var y []float64
	for _, r := range runs {
		if len(r.Times) == 0 {
			continue
		}
		end := r.Times[len(r.Times)-1]
		for i := range r.Times {
			X = append(X, m.features(r, i))
			y = append(y, min(cfg.Cap, end-r.Times[i]))
		}
	}
	b, err := Boost(X, y, cfg.Boost)
	if err != nil {
		return nil, err
	}
	m.Model = b
	return m, nil
}

// Predict returns the unit's remaining life at the last row of r.
func (m *RUL) Predict(r Run) float64 {
	return max(0, m.Model.Predict(m.features(r, len(r.Times)-1)))
}

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
	out := make([]float64, 0, 1+4*len(m.Used))
	out = append(out, r.Times[i])
	from := max(0, i-m.Window+1)
	first := min(m.Window, i+1)
	for _, c := range m.Used {
		mean5 := meanOf(r.Values[max(0, i-4):i+1], c)
		mean := meanOf(r.Values[from:i+1], c)
		start := meanOf(r.Values[:first], c)
		out = append(out, mean5, mean, slopeOf(r.Times[from:i+1], r.Values[from:i+1], c), mean-start)
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
