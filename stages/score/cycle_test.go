package score

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// dailyPoints is days of 5-minute readings (one a window) of a daily
// cycle of amplitude 5 with noise 0.1, shifted up by shift for the hour
// from window at.
func dailyPoints(days, at int, shift float64) []float64 {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]float64, days*288)
	for i := range out {
		out[i] = 20 + 5*math.Sin(2*math.Pi*float64(i)/288) + 0.1*rng.NormFloat64()
		if i >= at && i < at+12 {
			out[i] += shift
		}
	}
	return out
}

// A shift of 15 times the noise for an hour, on a daily cycle whose swing
// over the baseline's five hours is far larger, is found once the
// detector compares readings with the same phase of the cycle (from the
// third day), and missed without; and nothing else on those days scores
// anomalous with the cycle.
func TestRobustComparesWithTheSamePhaseOfTheCycle(t *testing.T) {
	const at = 3*288 + 100 // day 4, on the cycle's falling side
	levels := dailyPoints(5, at, 1.5)
	for _, season := range []float64{24, -1} {
		cfg := RobustConfig{}
		if season < 0 {
			cfg.Season = -1
		}
		r := NewRobust(cfg, half)
		vs := hopping(r, "s", levels, 0, 1, 5*time.Minute, 5*time.Minute)
		found, false_, cyc := 0, 0, 0
		for i, v := range vs {
			if v.Cycle {
				cyc++
			}
			switch {
			case i < 2*288+10: // before the cycle can be used
			case i >= at && i < at+12:
				if v.Score >= 0.5 {
					found++
				}
			case v.Score >= 0.5:
				false_++
			}
		}
		t.Logf("season %vh: %d of 12 shifted windows anomalous, %d others", season, found, false_)
		if season > 0 && (found < 6 || false_ > 0) {
			t.Errorf("with the cycle: %d of 12 shifted windows anomalous (want 6 or more), %d others (want none)", found, false_)
		}
		// Used from two whole days in (give or take a slot, 3 windows), then always.
		first := slices.IndexFunc(vs, func(v Verdict) bool { return v.Cycle })
		if season > 0 && (first < 2*288-6 || first > 2*288+6 || cyc != len(vs)-first) {
			t.Errorf("with the cycle: %d of %d windows said they were judged against it, from window %d (want every window from about %d)", cyc, len(vs), first, 2*288)
		}
		if season < 0 && cyc > 0 {
			t.Errorf("without a season, %d windows said they were judged against a cycle", cyc)
		}
		if season < 0 && found > 0 {
			t.Errorf("without the cycle the shift is hidden by its swing, yet %d windows scored anomalous: the test does not test the cycle", found)
		}
	}
}
