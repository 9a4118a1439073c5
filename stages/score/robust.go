package score

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/cycle"
)

// RobustConfig tunes the robust detector. Zero fields take defaults.
//
// History, WarmUp and MaxFrozen count window lengths: with hopping
// windows (each instant in o of them) the detector counts o times as many
// windows, so they keep their meaning in event time.
type RobustConfig struct {
	History int // windows per sensor in the baseline (default 60)
	WarmUp  int // windows seen before a sensor is scored (default 10)
	// Z0 is the deviation, in robust standard deviations of the feature
	// between windows, that scores 0.5 (default 8.5).
	Z0 float64
	// Noise: a window's mean must also move by this many of the sensor's
	// typical within-window standard deviations to score 0.5 (default 2.5),
	// so that a level a few readings' noise away (a slow calibration
	// drift, a daily cycle) is not an anomaly however steady the means
	// between windows are.
	Noise float64
	// StepNoise replaces Noise for a change that came at once (default
	// 1.5): one where the window's mean moved by at least half its
	// deviation from the baseline since the window that ended as it began.
	// A level that crept away over many windows is drift's to report; a
	// step of the same size, which no calibration drift or cycle makes,
	// is an anomaly. The lower floor holds for the windows of the incident
	// that follow, as long as each is anomalous.
	StepNoise float64
	// SpreadChange: a window's standard deviation must also change by this
	// share of its typical value to score 0.5 (default 0.5).
	SpreadChange float64
	// Steepness is the exponent of the curve from deviation to score
	// (default 4): a deviation of Z0/2 scores 0.06, 2·Z0 scores 0.94.
	Steepness  float64
	MaxFrozen  int // anomalous windows kept out of the baseline before it adapts anyway (default 20)
	MaxSensors int // sensors with state; beyond it the least recently seen are dropped (default 200,000)
	// Season is the period of the cycle learnt for each sensor (default
	// 24h; negative: none), in Slots parts (default 96). Once a sensor's
	// cycle is worth using (cycle.Learner.Usable), a window's mean is
	// judged against the same phase of the cycle: mean and baseline both
	// less the cycle's offset at their windows' middles.
	Season time.Duration
	Slots  int
}

// WithDefaults returns c with every unset field at its default.
func (c RobustConfig) WithDefaults() RobustConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.History, 60)
	def(&c.WarmUp, 10)
	def(&c.MaxFrozen, 20)
	def(&c.MaxSensors, 200_000)
	def(&c.Slots, 96)
	if c.Season == 0 {
		c.Season = 24 * time.Hour
	}
	deff(&c.Z0, 8.5)
	deff(&c.Noise, 2.5)
	deff(&c.StepNoise, 1.5)
	deff(&c.SpreadChange, 0.5)
	deff(&c.Steepness, 4)
	return c
}

// Validate reports the first unusable setting.
func (c RobustConfig) Validate() error {
	switch {
	case c.History < 3 || c.History > 100_000:
		return fmt.Errorf("robust detector: history %d (want 3-100000)", c.History)
	case c.WarmUp < 0 || c.MaxFrozen < 0 || c.MaxSensors < 1:
		return fmt.Errorf("robust detector: negative warm-up, frozen or sensors")
	case !(c.Z0 > 0) || !(c.Noise > 0) || !(c.StepNoise > 0) || !(c.SpreadChange > 0) || !(c.Steepness > 0):
		return fmt.Errorf("robust detector: deviation, noise, spread change and steepness must be positive")
	case cycle.Validate(c.Season, c.Slots) != nil:
		return fmt.Errorf("robust detector: season: %v", cycle.Validate(c.Season, c.Slots))
	}
	return nil
}

// Robust is a per-sensor detector that judges a window against how the
// sensor's windows vary from one to the next. For the window mean and
// standard deviation it keeps the last History values of the sensor's
// normal windows, and measures the new value's distance from their median
// in robust standard deviations (1.4826 × the median absolute deviation):
// a robust z-score of the feature between windows.
//
// That makes scores calibrated: a z-score is in the sensor's own units of
// variation, so a threshold means the same on every sensor, and a steady
// periodic or trending signal, whose windows move by about as much as
// they always do, scores low (a linear trend sits about 1.35 from the
// median of its history; a sine, less than 1) instead of saturating.
//
// Two floors keep small absolute changes from counting because a sensor
// is unusually steady between windows: the mean must also move by Noise
// typical within-window standard deviations (StepNoise for a step: a
// move that came within one window length, and the incident's anomalous
// windows after it), and the standard deviation must change by
// SpreadChange of its typical value. The standard deviation is judged
// without the window's one reading farthest from its mean (spreadOf), so
// that a one-reading glitch does not count. The score is
// z^a / (z^a + Z0^a), with a the Steepness: 0.5 at Z0, rising smoothly
// towards 1.
//
// A window with fewer than 4 readings (features.SparseReadings) is
// judged on its mean alone, without the noise floor: on a sensor sampled
// more slowly than the windows are long, each window holds one reading,
// and the detector scores each reading against the sensor's recent ones
// (a point detector).
//
// Where a sensor has a daily cycle (RobustConfig.Season), the detector
// learns it from the sensor's normal windows (package cycle) and, once it
// is worth using, compares a window's mean with the same phase of the
// cycle: the mean and the baseline's means less the cycle's offsets. A
// cycle whose swing over the baseline's span dwarfs the noise then no
// longer widens the robust spread (which would hide a change of the size
// of the noise) nor makes its own turns look like changes.
//
// Windows scored at or above the threshold are kept out of the baseline,
// so a lasting incident keeps scoring high, for at most MaxFrozen windows
// in a row. The next one makes the change the new normal: the windows
// since it began become the sensor's whole baseline.
type Robust struct {
	cfg       RobustConfig
	threshold func(sensorType string) float64
	sensors   map[string]*robustSensor
	clock     int64
	col, des  []float64
	overlap   int // the most any sensor's windows overlap
	cyc       cycle.Learner
	changed   []byte // the state entry of the sensor whose cycle the last Score changed
}

// robustSensor is one sensor's baseline: rings of its normal windows'
// means, standard deviations and reading counts, and the anomalous
// windows since the last normal one.
type robustSensor struct {
	mean, std []float64
	count     []int64
	start     []int64 // the windows' starts, in Unix microseconds
	next      int
	cycleState
	seen     int
	frozen   []window
	lastSeen int64
	recent   []window // the last windows whatever their verdict, oldest first
	stepped  bool     // the anomalous windows since the last normal one began with a step
	hops
}

// window is what the robust detector keeps of a window.
type window struct {
	mean, std float64
	count     int64
	start     int64
}

// sparseReadings is features.SparseReadings: the fewest readings a
// window's standard deviation is judged from.
const sparseReadings = 4

// NewRobust returns a Robust detector; threshold gives the score
// threshold of a sensor type (it decides which windows stay out of the
// baseline). cfg must be valid after defaults.
func NewRobust(cfg RobustConfig, threshold func(sensorType string) float64) *Robust {
	cfg = cfg.WithDefaults()
	return &Robust{cfg: cfg, threshold: threshold, sensors: map[string]*robustSensor{}, cyc: cycle.New(cfg.Season, cfg.Slots)}
}

// Name implements Detector.
func (r *Robust) Name() string { return "robust" }

// Version implements Detector: the parameters that shape scores.
func (r *Robust) Version() string {
	c := r.cfg
	v := fmt.Sprintf("robust-h%d-w%d-z%g-n%g-t%g-s%g", c.History, c.WarmUp, c.Z0, c.Noise, c.StepNoise, c.SpreadChange)
	if r.cyc.On() {
		v += fmt.Sprintf("-c%gh%d", c.Season.Hours(), c.Slots)
	}
	return v
}

// Score implements Detector.
func (r *Robust) Score(fv *schemas.FeatureVector) Verdict {
	r.clock++
	b := r.sensors[fv.SensorID]
	if b == nil {
		r.evict()
		b = &robustSensor{}
		r.sensors[fv.SensorID] = b
	}
	b.lastSeen = r.clock
	r.overlap = max(r.overlap, b.observe(fv))
	r.advanceCycle(b, fv)
	history := r.cfg.History * b.overlap
	prev, hasPrev := b.before(fv)
	b.remember(fv)
	if b.seen < r.cfg.WarmUp*b.overlap || len(b.mean) < 3 {
		b.push(fv, history)
		b.seen++
		r.mark(b, fv, false)
		return Verdict{}
	}
	b.seen++

	stdMed, stdScale := math.NaN(), math.NaN() // the standard deviation's baseline, from windows with enough readings
	if fv.Count >= sparseReadings {
		stdMed, stdScale = r.robustStats(b.std, b.count)
	}
	zMean, dMean, cyc, stepped := r.level(b, fv, stdMed, prev, hasPrev)
	zStd, dStd, spread := r.spread(fv, stdMed, stdScale)
	z := max(zMean, zStd)
	a := r.cfg.Steepness
	s := 1.0
	if !math.IsInf(z, 1) {
		s = math.Pow(z, a) / (math.Pow(z, a) + math.Pow(r.cfg.Z0, a))
	}
	devs := map[string]float64{"mean": dMean}
	shares := map[string]float64{}
	if spread {
		devs["std"] = dStd
	}
	switch total := zMean*zMean + zStd*zStd; {
	case math.IsInf(zMean, 1):
		shares["mean"] = 1
	case math.IsInf(zStd, 1):
		shares["std"] = 1
	case total > 0:
		if w := zMean * zMean / total; w >= 0.005 {
			shares["mean"] = w
		}
		if w := zStd * zStd / total; w >= 0.005 {
			shares["std"] = w
		}
	}

	anomalous := r.verdict(b, fv, s >= r.threshold(fv.SensorType))
	r.mark(b, fv, anomalous)
	b.stepped = anomalous && stepped
	switch {
	case !anomalous:
		b.frozen = b.frozen[:0]
		b.push(fv, history)
	case len(b.frozen) < r.cfg.MaxFrozen*b.overlap:
		b.frozen = append(b.frozen, windowOf(fv))
	default: // anomalous for MaxFrozen windows in a row: the new normal
		b.restart(append(b.frozen, windowOf(fv)), history)
		b.frozen = b.frozen[:0]
		b.stepped = false
	}
	return Verdict{Score: s, Shares: shares, Deviations: devs, OK: true, Cycle: cyc}
}

// level returns the mean's effective deviation (the smaller of its
// between-window z and its noise-floor z, both scaled so that Z0 scores
// 0.5) and its signed between-window z. noise is the typical
// within-window standard deviation, NaN when the window or the baseline
// has too few readings to say. cyc is set when the comparison was with the
// same phase of the sensor's cycle. prev, if ok, is the window that ended
// as fv began; stepped is set when the change is a step, or the
// incident's step goes on (the floor, where there is one, is StepNoise's).
func (r *Robust) level(b *robustSensor, fv *schemas.FeatureVector, noise float64, prev window, ok bool) (z, signed float64, cyc, stepped bool) {
	means, mean, prevMean := b.mean, fv.Mean, prev.mean
	if cyc = r.cyc.Usable(b.cycle); cyc { // against the same phase of the cycle
		half := fv.WindowEnd.Sub(fv.WindowStart) / 2
		r.des = r.des[:0]
		for i, m := range b.mean {
			r.des = append(r.des, m-r.cyc.At(b.cycle, time.UnixMicro(b.start[i]).Add(half)))
		}
		means, mean = r.des, mean-r.cyc.At(b.cycle, fv.WindowStart.Add(half))
		prevMean -= r.cyc.At(b.cycle, time.UnixMicro(prev.start).Add(half))
	}
	med, scale := r.robustStats(means, nil)
	d := mean - med
	signed = d / scale
	z = math.Abs(signed)
	// A step: most of the deviation arose within one window length. A
	// window too sparse for the noise floor keeps the incident's word.
	stepped = b.stepped || ok && d != 0 && (mean-prevMean)*math.Copysign(1, d) >= 0.5*math.Abs(d)
	if noise > 0 {
		floor := r.cfg.Noise
		if stepped {
			floor = r.cfg.StepNoise
		}
		z = math.Min(z, math.Abs(d)/(floor*noise)*r.cfg.Z0)
	}
	return z, signed, cyc, stepped
}

// spread is level's counterpart for the standard deviation, whose
// baseline median and robust spread are med and scale; ok is false when
// there is no baseline (med is NaN).
func (r *Robust) spread(fv *schemas.FeatureVector, med, scale float64) (z, signed float64, ok bool) {
	if math.IsNaN(med) {
		return 0, 0, false
	}
	d := spreadOf(fv) - med
	signed = d / scale
	z = math.Abs(signed)
	if med > 0 {
		z = math.Min(z, math.Abs(d)/(r.cfg.SpreadChange*med)*r.cfg.Z0)
	}
	return z, signed, true
}

// robustStats returns the median of xs and its robust standard deviation
// (1.4826 × MAD; where over half the values are equal, 1.2533 × the mean
// absolute deviation; never below 1e-9 of the median's magnitude). With
// counts, only values of windows with enough readings count, and the
// median is NaN when fewer than 3 do.
func (r *Robust) robustStats(xs []float64, counts []int64) (med, scale float64) {
	r.col = r.col[:0]
	for i, x := range xs {
		if counts == nil || counts[i] >= sparseReadings {
			r.col = append(r.col, x)
		}
	}
	if len(r.col) < 3 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(r.col)
	med = middle(r.col)
	var sum float64
	for i, x := range r.col {
		r.col[i] = math.Abs(x - med)
		sum += r.col[i]
	}
	slices.Sort(r.col)
	scale = 1.4826 * middle(r.col)
	if scale == 0 {
		scale = 1.2533 * sum / float64(len(r.col))
	}
	return med, math.Max(scale, 1e-9*math.Abs(med)+math.SmallestNonzeroFloat64)
}

func windowOf(fv *schemas.FeatureVector) window {
	return window{fv.Mean, spreadOf(fv), fv.Count, fv.WindowStart.UnixMicro()}
}

// spreadOf is the standard deviation of fv's readings but the one
// farthest from their mean (its minimum or maximum), so that a one-reading
// glitch does not make a window's spread anomalous; a change in spread
// that many readings show still does. Windows of sparseReadings or fewer
// readings, and vectors whose minimum and maximum do not fit their mean
// and standard deviation, keep their standard deviation.
func spreadOf(fv *schemas.FeatureVector) float64 {
	if fv.Count <= sparseReadings || !(fv.Min <= fv.Mean && fv.Mean <= fv.Max) {
		return fv.Std
	}
	n := float64(fv.Count)
	x := max(fv.Max-fv.Mean, fv.Mean-fv.Min)
	// Removing x from n readings takes (x-mean)²·n/(n-1) from the sum of
	// squared deviations.
	all := fv.Std * fv.Std * (n - 1)
	ss := all - x*x*n/(n-1)
	if ss < -1e-9*all {
		return fv.Std
	}
	return math.Sqrt(max(ss, 0) / (n - 2))
}

func (b *robustSensor) push(fv *schemas.FeatureVector, history int) {
	b.add(windowOf(fv), history)
}

func (b *robustSensor) add(w window, history int) {
	if len(b.mean) > history { // the overlap fell (a longer hop): keep the newest
		b.mean, b.std = newest(b.mean, b.next, history), newest(b.std, b.next, history)
		b.count, b.start = newest(b.count, b.next, history), newest(b.start, b.next, history)
		b.next = 0
	}
	if len(b.mean) < history {
		b.mean = append(b.mean, w.mean)
		b.std = append(b.std, w.std)
		b.count = append(b.count, w.count)
		b.start = append(b.start, w.start)
		return
	}
	b.mean[b.next], b.std[b.next], b.count[b.next], b.start[b.next] = w.mean, w.std, w.count, w.start
	b.next = (b.next + 1) % history
}

// remember keeps fv's window among the sensor's recent ones, as many as
// cover two window lengths.
func (b *robustSensor) remember(fv *schemas.FeatureVector) {
	if keep := 2*max(b.overlap, 1) + 2; len(b.recent) >= keep {
		b.recent = append(b.recent[:0], b.recent[len(b.recent)-keep+1:]...)
	}
	b.recent = append(b.recent, windowOf(fv))
}

// before returns the latest recent window that ended by the time fv's
// began (its length taken to be fv's), and false if none is recent.
func (b *robustSensor) before(fv *schemas.FeatureVector) (window, bool) {
	length := fv.WindowEnd.Sub(fv.WindowStart).Microseconds()
	start := fv.WindowStart.UnixMicro()
	for i := len(b.recent) - 1; i >= 0; i-- {
		if w := b.recent[i]; w.start+length <= start {
			return w, w.start+2*length > start
		}
	}
	return window{}, false
}

// restart makes ws, the windows since a lasting change began, the whole
// baseline.
func (b *robustSensor) restart(ws []window, history int) {
	b.mean, b.std, b.count, b.start, b.next = b.mean[:0], b.std[:0], b.count[:0], b.start[:0], 0
	for _, w := range ws {
		b.add(w, history)
	}
}

// evict drops the least recently seen sensors once there are too many.
func (r *Robust) evict() {
	evictOldest(r.sensors, r.cfg.MaxSensors, func(b *robustSensor) int64 { return b.lastSeen })
}

// forget drops a sensor's baseline.
func (r *Robust) forget(sensor string) { delete(r.sensors, sensor) }

func (r *Robust) history() int { return (r.cfg.History + r.cfg.MaxFrozen) * max(r.overlap, 1) }

// Sensors returns how many sensors the detector holds state for.
func (r *Robust) Sensors() int { return len(r.sensors) }
