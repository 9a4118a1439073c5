// Package score scores FeatureVectors for anomalies with versioned
// detectors: a robust per-sensor detector (the default), the earlier
// adaptive one, and Isolation Forest models trained from history and
// loaded from a model store. Each AnomalyScore says which detector and model version produced
// it and which features drove it.
package score

import (
	"fmt"

	"github.com/smaint/smaint/schemas"
)

// Detector turns a FeatureVector into an anomaly score. Implementations
// may keep per-sensor state; a Detector is used from one goroutine.
type Detector interface {
	// Name is the detector's kind, e.g. "adaptive" or "iforest".
	Name() string
	// Version identifies the model or parameters, for AnomalyScore.
	Version() string
	// Score judges fv. Verdict.OK is false while the detector cannot
	// judge yet, e.g. during a warm-up.
	Score(fv *schemas.FeatureVector) Verdict
}

// Verdict is a detector's judgement of one window.
type Verdict struct {
	Score      float64            // in [0, 1]
	Shares     map[string]float64 // each feature's share of the score; they sum to 1 when any feature deviates
	Deviations map[string]float64 // signed deviation from the baseline in spreads, where the detector has one
	OK         bool
	// Cycle is set when the window was judged against the same phase of
	// its sensor's learnt cycle (the robust detector's RobustConfig.Season).
	Cycle bool
}

// Feature names, in the order FeatureValues returns them. Band energies
// follow as band_0, band_1, ...
var baseFeatures = []string{"mean", "std", "min", "max", "rms", "skewness", "kurtosis", "crest_factor", "peak_to_peak", "slope"}

// FeatureNames returns the names of fv's features.
func FeatureNames(bands int) []string {
	names := append([]string(nil), baseFeatures...)
	for i := range bands {
		names = append(names, fmt.Sprintf("band_%d", i))
	}
	return names
}

// FeatureValues appends fv's features to dst, in FeatureNames order.
func FeatureValues(dst []float64, fv *schemas.FeatureVector) []float64 {
	dst = append(dst, fv.Mean, fv.Std, fv.Min, fv.Max, fv.RMS, fv.Skewness, fv.Kurtosis, fv.CrestFactor, fv.PeakToPeak, fv.Slope)
	return append(dst, fv.BandEnergies...)
}
