package score

import (
	"fmt"
	"math"
	"slices"

	"github.com/smaint/smaint/schemas"
)

// AdaptiveConfig tunes the adaptive detector. Zero fields take defaults.
// History, WarmUp and MaxFrozen count window lengths, as RobustConfig's do.
type AdaptiveConfig struct {
	History     int     // baseline windows kept per sensor (default 30)
	WarmUp      int     // windows seen before a sensor is scored (default 5)
	Z0          float64 // deviation, in baseline spreads, that scores 0.5 (default 4.5)
	ShapeBonus  float64 // how far shape features may lift the deviation beyond level and spread (default 1)
	SpreadFloor float64 // smallest spread of spread and shape features, as a share of their median (default 0.2)
	Steepness   float64 // slope of the logistic from deviation to score (default 1.5)
	MaxFrozen   int     // anomalous windows kept out of the baseline before it adapts anyway (default 20)
	MaxSensors  int     // sensors with state; beyond it the least recently seen are dropped (default 200,000)
}

// WithDefaults returns c with every unset field at its default.
func (c AdaptiveConfig) WithDefaults() AdaptiveConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.History, 30)
	def(&c.WarmUp, 5)
	def(&c.MaxFrozen, 20)
	def(&c.MaxSensors, 200_000)
	if c.Z0 == 0 {
		c.Z0 = 4.5
	}
	if c.ShapeBonus == 0 {
		c.ShapeBonus = 1
	}
	if c.SpreadFloor == 0 {
		c.SpreadFloor = 0.2
	}
	if c.Steepness == 0 {
		c.Steepness = 1.5
	}
	return c
}

// Adaptive is a per-sensor detector with a robust baseline: for each
// feature, the median of the sensor's last History windows, and a spread.
// A feature's deviation z is its distance from the median in spreads:
//
//   - level features (mean, rms) are measured in the sensor's typical
//     within-window standard deviation, so a level that moves by a few
//     readings' noise (a calibration drift, say) is not an anomaly, however
//     steady the window means are;
//   - spread features (std, slope) in 1.4826 ×
//     their median absolute deviation, at least SpreadFloor of their median
//     (for the slope: at least one typical spread per window length), so
//     that the std a single spike adds is not an anomaly;
//   - shape features (min, max, peak-to-peak, crest factor, skewness,
//     kurtosis, band energies) likewise, but they only corroborate: their
//     deviation counts up to ShapeBonus beyond the largest level or spread
//     deviation. An isolated spike moves shape features (an impulse puts
//     energy in every band), and is not an anomaly on its own; bearing
//     wear moves spread and shape together.
//
// The score is a logistic of the largest deviation, 0.5 at Z0 (shares:
// see sharesOf), and Deviations carry every feature's signed z. Windows
// scored at or above the threshold are kept out of the baseline, so a
// lasting incident keeps scoring high, for at most MaxFrozen windows in a
// row, after which the baseline accepts the new normal.
type Adaptive struct {
	cfg       AdaptiveConfig
	threshold func(sensorType string) float64
	sensors   map[string]*baseline
	clock     int64
	overlap   int // the most any sensor's windows overlap
	zs        []float64
	shape     []bool
	vals      []float64
}

// baseline is one sensor's recent windows, as rows of feature values.
type baseline struct {
	rows     [][]float64 // ring of up to History rows
	next     int
	seen     int // windows scored or used for warm-up
	frozen   int // consecutive anomalous windows kept out
	lastSeen int64
	hops
}

// NewAdaptive returns an Adaptive detector; threshold gives the score
// threshold of a sensor type (it decides which windows stay out of the
// baseline).
func NewAdaptive(cfg AdaptiveConfig, threshold func(sensorType string) float64) *Adaptive {
	return &Adaptive{cfg: cfg.WithDefaults(), threshold: threshold, sensors: map[string]*baseline{}}
}

// Name implements Detector.
func (a *Adaptive) Name() string { return "adaptive" }

// Version implements Detector: the parameters that shape scores.
func (a *Adaptive) Version() string {
	return fmt.Sprintf("adaptive-h%d-w%d-z%g", a.cfg.History, a.cfg.WarmUp, a.cfg.Z0)
}

type group uint8

const (
	level group = iota
	spread
	shape
)

// groupOf classifies feature i (FeatureNames order).
func groupOf(i int) group {
	switch i {
	case 0, 4: // mean, rms: an offset moves rms as much as the mean
		return level
	case 1, 9: // std, slope
		return spread
	}
	// min, max, skewness, kurtosis, crest, peak-to-peak, and band energies:
	// one impulse spreads its energy over every band.
	return shape
}

// Score implements Detector.
func (a *Adaptive) Score(fv *schemas.FeatureVector) Verdict {
	a.clock++
	b := a.sensors[fv.SensorID]
	if b == nil {
		a.evict()
		b = &baseline{}
		a.sensors[fv.SensorID] = b
	}
	b.lastSeen = a.clock
	a.vals = FeatureValues(a.vals[:0], fv)
	if len(b.rows) > 0 && len(b.rows[0]) != len(a.vals) {
		*b = baseline{lastSeen: a.clock} // the feature set changed (bands); start over
	}
	a.overlap = max(a.overlap, b.observe(fv))
	history := a.cfg.History * b.overlap
	if b.seen < a.cfg.WarmUp*b.overlap || len(b.rows) < 3 {
		b.push(a.vals, history)
		b.seen++
		return Verdict{}
	}
	b.seen++

	nf := len(a.vals)
	col := make([]float64, len(b.rows))
	median := func(i int) float64 {
		for r, row := range b.rows {
			col[r] = row[i]
		}
		return medianOf(col)
	}
	med := make([]float64, nf)
	for i := range nf {
		med[i] = median(i)
	}
	rawSpread := math.Max(med[1], 1e-9*math.Max(1, math.Abs(med[0]))) // typical within-window std
	windowSeconds := math.Max(fv.WindowEnd.Sub(fv.WindowStart).Seconds(), 1e-3)
	a.zs = a.zs[:0]
	a.shape = a.shape[:0]
	names := FeatureNames(nf - len(baseFeatures))
	devs := make(map[string]float64, nf)
	var zLevelSpread, zShape float64
	for i := range nf {
		g := groupOf(i)
		a.shape = append(a.shape, g == shape)
		var scale float64
		if g == level {
			scale = rawSpread
		} else {
			for r, row := range b.rows {
				col[r] = math.Abs(row[i] - med[i])
			}
			scale = math.Max(1.4826*medianOf(col), math.Max(a.cfg.SpreadFloor*math.Abs(med[i]), 1e-9))
			if i == 9 { // slope: never finer than one typical spread across the window
				scale = math.Max(scale, rawSpread/windowSeconds)
			}
		}
		signed := (a.vals[i] - med[i]) / scale
		devs[names[i]] = signed
		z := math.Abs(signed)
		a.zs = append(a.zs, z)
		if g == shape {
			zShape = math.Max(zShape, z)
		} else {
			zLevelSpread = math.Max(zLevelSpread, z)
		}
	}
	capShape := zLevelSpread + a.cfg.ShapeBonus
	z := math.Max(zLevelSpread, math.Min(zShape, capShape))
	s := 1 / (1 + math.Exp(-a.cfg.Steepness*(z-a.cfg.Z0)))

	shares := sharesOf(names, a.zs, capShape, a.shape)
	if s >= a.threshold(fv.SensorType) && b.frozen < a.cfg.MaxFrozen*b.overlap {
		b.frozen++
	} else {
		b.frozen = 0
		b.push(a.vals, history)
	}
	return Verdict{Score: s, Shares: shares, Deviations: devs, OK: true}
}

func (b *baseline) push(vals []float64, history int) {
	if len(b.rows) > history { // the overlap fell (a longer hop): keep the newest
		b.rows, b.next = newest(b.rows, b.next, history), 0
	}
	if len(b.rows) < history {
		b.rows = append(b.rows, slices.Clone(vals))
		return
	}
	copy(b.rows[b.next], vals)
	b.next = (b.next + 1) % history
}

// evict drops the least recently seen sensors once there are too many.
func (a *Adaptive) evict() {
	evictOldest(a.sensors, a.cfg.MaxSensors, func(b *baseline) int64 { return b.lastSeen })
}

// forget drops a sensor's baseline.
func (a *Adaptive) forget(sensor string) { delete(a.sensors, sensor) }

// changedCycle implements sensorDetector: Adaptive learns no cycle.
func (a *Adaptive) changedCycle() []byte { return nil }

// restoreCycle implements sensorDetector: Adaptive keeps no cycle.
func (a *Adaptive) restoreCycle(string, []byte) bool { return false }

// Sensors returns how many sensors the detector holds state for.
func (a *Adaptive) Sensors() int { return len(a.sensors) }

func (a *Adaptive) history() int { return (a.cfg.History + a.cfg.MaxFrozen) * max(a.overlap, 1) }

// sharesOf returns each feature's share of the deviation behind the
// score: level and spread features by z², and shape features, together,
// by the square of what they added beyond the largest level or spread
// deviation (at most ShapeBonus), split among them by z². Shares under
// half a percent are left out; the rest sum to 1. Sums run in feature
// order so equal inputs give bit-equal shares.
func sharesOf(names []string, zs []float64, capShape float64, isShape []bool) map[string]float64 {
	var zLS, zShape, shapeSum float64
	for i, z := range zs {
		if isShape[i] {
			zShape = math.Max(zShape, z)
			shapeSum += z * z
		} else {
			zLS = math.Max(zLS, z)
		}
	}
	bonus := math.Max(0, math.Min(zShape, capShape)-zLS)
	weights := make([]float64, len(zs))
	var total float64
	for i, z := range zs {
		if isShape[i] {
			if shapeSum > 0 {
				weights[i] = bonus * bonus * z * z / shapeSum
			}
		} else {
			weights[i] = z * z
		}
		total += weights[i]
	}
	shares := map[string]float64{}
	if total == 0 {
		return shares
	}
	var kept float64
	for _, w := range weights {
		if w/total >= 0.005 {
			kept += w
		}
	}
	for i, w := range weights {
		if w/total >= 0.005 {
			shares[names[i]] = w / kept
		}
	}
	return shares
}
