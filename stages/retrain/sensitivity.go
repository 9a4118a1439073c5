package retrain

import (
	"math"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// sensitivity returns the share of windows that m flags once each is
// moved by shift of its own standard deviations, up or down in turn: how
// often the candidate would see a level change of that size. Windows m
// does not score, or without a spread, are left out; n is how many
// counted.
func sensitivity(m *score.IForest, windows []*schemas.FeatureVector, shift float64) (share float64, n int) {
	d := m.Detector()
	flagged := 0
	for i, fv := range windows {
		if !(fv.Std > 0) {
			continue
		}
		by := shift * fv.Std
		if i%2 == 1 {
			by = -by
		}
		moved := shifted(fv, by)
		v := d.Score(&moved)
		if !v.OK {
			continue
		}
		n++
		if v.Score >= m.Threshold {
			flagged++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(flagged) / float64(n), n
}

// shifted is fv as if every reading had been higher by by: the level
// features move, the RMS and crest factor follow, the spread, shape and
// band energies (of the varying part) stay.
func shifted(fv *schemas.FeatureVector, by float64) schemas.FeatureVector {
	out := *fv
	out.Mean, out.Min, out.Max = fv.Mean+by, fv.Min+by, fv.Max+by
	// RMS² is the mean square: the spread's part stays, the level's moves.
	out.RMS = math.Sqrt(max(0, fv.RMS*fv.RMS-fv.Mean*fv.Mean+out.Mean*out.Mean))
	if out.RMS > 0 {
		out.CrestFactor = max(math.Abs(out.Min), math.Abs(out.Max)) / out.RMS
	}
	return out
}
