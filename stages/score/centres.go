package score

import (
	"fmt"
	"maps"
	"slices"

	"github.com/smaint/smaint/schemas"
)

// MinCentreWindows is the fewest windows of a sensor that give it a
// centre in TrainSensorForest; a sensor with fewer is left out of
// training, and scored by the fallback detector.
const MinCentreWindows = 5

// TrainSensorForest grows an Isolation Forest for one sensor type on
// windows fvs, with each sensor's features taken relative to its own
// centre: the median of each feature over that sensor's windows. Pooled
// raw features would judge a sensor against every sensor of its type, so
// a level change that stays inside the range the type's sensors span
// (one pump's temperature rising to where another's always runs) would
// look normal. The forest keeps the centres, and scores only the sensors
// it has one for (IForest.Knows). Windows whose feature count is not
// names' are left out, and so are windows of fewer than half their
// sensor's median readings, and sensors with fewer than MinCentreWindows
// windows.
func TrainSensorForest(model, sensorType string, names []string, fvs []*schemas.FeatureVector, cfg IForestConfig) (*IForest, error) {
	bySensor, counts := map[string][][]float64{}, map[string][]float64{}
	for _, fv := range fvs {
		if x := FeatureValues(nil, fv); len(x) == len(names) {
			bySensor[fv.SensorID] = append(bySensor[fv.SensorID], x)
			counts[fv.SensorID] = append(counts[fv.SensorID], float64(fv.Count))
		}
	}
	centres, readings := map[string][]float64{}, map[string]int64{}
	var rows [][]float64
	col := []float64{}
	for _, sensor := range slices.Sorted(maps.Keys(bySensor)) {
		// Windows cut short are left out, as the forest will not judge
		// them (Judges).
		usual := int64(medianOf(counts[sensor]))
		xs := bySensor[sensor][:0]
		for i, x := range bySensor[sensor] {
			if 2*int64(counts[sensor][i]) >= usual {
				xs = append(xs, x)
			}
		}
		if len(xs) < MinCentreWindows {
			continue
		}
		c := make([]float64, len(names))
		for f := range names {
			col = col[:0]
			for _, x := range xs {
				col = append(col, x[f])
			}
			slices.Sort(col)
			c[f] = middle(col)
		}
		centres[sensor], readings[sensor] = c, usual
		for _, x := range xs {
			for f := range x {
				x[f] -= c[f]
			}
			rows = append(rows, x)
		}
	}
	if len(centres) == 0 {
		return nil, fmt.Errorf("%w: no sensor of type %s has %d windows to centre on", ErrTraining, sensorType, MinCentreWindows)
	}
	f, err := TrainIForest(model, sensorType, names, rows, cfg)
	if err != nil {
		return nil, err
	}
	f.Centres, f.Readings = centres, readings
	return f, nil
}

// Knows reports whether f scores sensor: every sensor for a forest
// trained on raw features (no centres), else those it has a centre for.
func (f *IForest) Knows(sensor string) bool {
	return f.Centres == nil || f.Centres[sensor] != nil
}

// Judges reports whether f scores fv: it knows the sensor, and the window
// has at least half the readings of the sensor's usual training window.
// A window cut short (its sensor went quiet, or the stream ended and the
// window was closed early) has a smaller range and spread than any the
// forest learnt, which would isolate it as an outlier: the score stage
// leaves such windows to its baseline detector, which allows for sparse
// windows.
func (f *IForest) Judges(fv *schemas.FeatureVector) bool {
	if !f.Knows(fv.SensorID) {
		return false
	}
	usual := f.Readings[fv.SensorID]
	return usual == 0 || 2*fv.Count >= usual
}

// features is fv's feature values as f's trees take them: less the
// sensor's centre where f has centres. ok is false when f does not know
// the sensor or the feature count is not f's.
func (f *IForest) features(fv *schemas.FeatureVector) (x []float64, ok bool) {
	x = FeatureValues(nil, fv)
	if len(x) != len(f.Features) {
		return nil, false
	}
	if f.Centres == nil {
		return x, true
	}
	c := f.Centres[fv.SensorID]
	if len(c) != len(x) {
		return nil, false
	}
	for i := range x {
		x[i] -= c[i]
	}
	return x, true
}
