package score

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/smaint/smaint/schemas"
)

// TrainPerType trains an Isolation Forest per sensor type on the feature
// windows fvs, named "iforest-<type>", in order of type, each sensor's
// windows relative to its own centre (TrainSensorForest). A type trains
// on its windows of 3 or more readings (degenerate ones teach nothing)
// that have its usual feature count (band energies come only with full
// windows). Train on history that is mostly normal.
func TrainPerType(fvs []schemas.FeatureVector, cfg IForestConfig) ([]*IForest, error) {
	byType := map[string][]*schemas.FeatureVector{}
	bands := map[string]int{}
	for i := range fvs {
		fv := &fvs[i]
		if fv.Count < 3 {
			continue
		}
		byType[fv.SensorType] = append(byType[fv.SensorType], fv)
		bands[fv.SensorType] = max(bands[fv.SensorType], len(fv.BandEnergies))
	}
	if len(byType) == 0 {
		return nil, fmt.Errorf("%w: no feature window of 3 or more readings to train on", ErrTraining)
	}
	var out []*IForest
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		m, err := TrainSensorForest("iforest-"+typ, typ, FeatureNames(bands[typ]), byType[typ], cfg)
		if err != nil {
			return nil, fmt.Errorf("iforest-%s: %w", typ, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Published is one model stored by Publish.
type Published struct {
	Model     string  `json:"model"`
	Version   string  `json:"version"`
	Windows   int     `json:"windows"` // it was trained on
	Threshold float64 `json:"threshold"`
	URI       string  `json:"uri"`
	SHA256    string  `json:"sha256"`
}

// Publish stores each forest in store as version of its model, each with
// a manifest: about's CreatedAt, training range and Params, and the
// forest's own name, features and training metrics.
func Publish(ctx context.Context, store ModelStore, forests []*IForest, version string, about Manifest) ([]Published, error) {
	var out []Published
	for _, m := range forests {
		m.Version = version
		b, err := m.Marshal()
		if err != nil {
			return out, err
		}
		man := about
		man.Name, man.Version, man.Detector, man.Features = m.Model, version, "iforest", m.Features
		man.Metrics = map[string]float64{"windows": float64(m.Trained), "threshold": m.Threshold}
		art, err := EncodeArtifact(man, b)
		if err != nil {
			return out, err
		}
		uri, sha, err := store.Put(ctx, m.Model, version, art)
		if err != nil {
			return out, fmt.Errorf("store %s: %w", m.Model, err)
		}
		out = append(out, Published{m.Model, version, m.Trained, m.Threshold, uri, sha})
	}
	return out, nil
}
