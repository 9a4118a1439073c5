package backtest_test

import (
	"math"
	"testing"
	"time"

	"github.com/smaint/smaint/bench/backtest"
)

// TestNABScore checks the windowed score on series of 20 times, one a
// second, with anomalies labelled at 5-9 and 14-15, against values worked
// out by hand from the method: a window caught at its start gains TP, its
// end gains 2/(1+e^(5·(-1/width)))-1 of that, a missed one costs FN, and a
// detection before any window costs FP.
func TestNABScore(t *testing.T) {
	t0 := time.Unix(1.7e9, 0)
	labels := make([]backtest.Label, 20)
	for i := range labels {
		labels[i] = backtest.Label{TS: t0.Add(time.Duration(i) * time.Second), Anomalous: (i >= 5 && i <= 9) || i == 14 || i == 15}
	}
	flag := func(idx ...int) backtest.Flagged {
		f := backtest.Flagged{}
		for _, i := range idx {
			f[t0.Add(time.Duration(i)*time.Second).UnixNano()] = true
		}
		return f
	}
	sig := func(x float64) float64 { return 2/(1+math.Exp(5*x)) - 1 }
	maxTP := sig(-1)
	tests := []struct {
		name    string
		flagged backtest.Flagged
		raw     [3]float64 // standard, reward_low_fp, reward_low_fn
	}{
		{"nothing flagged", flag(), [3]float64{-2, -2, -4}},
		{"both windows at their start", flag(5, 14), [3]float64{2, 2, 2}},
		// One onset at 5 (a span 5-7 is one detection), and window 2 at its end.
		{"one span, one late", flag(5, 6, 7, 15), [3]float64{1 + sig(-1.0/2)/maxTP, 1 + sig(-1.0/2)/maxTP, 1 + sig(-1.0/2)/maxTP}},
		// A false detection before any window costs a whole FP; window 2 missed.
		{"false before, one missed", flag(2, 5), [3]float64{1 - 0.11 - 1, 1 - 0.22 - 1, 1 - 0.11 - 2}},
		// A false detection 2 s after window 1 (width 5): position 2/4.
		{"false after", flag(5, 11, 14), [3]float64{2 + 0.11*sig(0.5), 2 + 0.22*sig(0.5), 2 + 0.11*sig(0.5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d backtest.Detection
			d.Add(labels, tc.flagged)
			d.Finish()
			if len(d.NAB) != 3 {
				t.Fatalf("%d profiles", len(d.NAB))
			}
			for k, s := range d.NAB {
				null, perfect := -2*backtest.NABProfiles[k].FN, 2.0
				want := 100 * (tc.raw[k] - null) / (perfect - null)
				if math.Abs(s.Raw-tc.raw[k]) > 1e-9 || math.Abs(s.Score-want) > 1e-9 || s.Null != null || s.Perfect != perfect {
					t.Errorf("%s: raw %.6f score %.3f (null %v, perfect %v), want raw %.6f score %.3f", s.Profile, s.Raw, s.Score, s.Null, s.Perfect, tc.raw[k], want)
				}
			}
		})
	}
}
