package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// IForestConfig sets how an Isolation Forest is trained.
type IForestConfig struct {
	Trees         int     // default 100
	SampleSize    int     // points per tree (default 256)
	Contamination float64 // expected share of anomalies in the training data; sets the threshold (default 0.01)
	Seed          uint64  // default 1
}

// WithDefaults returns c with every unset field at its default.
func (c IForestConfig) WithDefaults() IForestConfig {
	if c.Trees == 0 {
		c.Trees = 100
	}
	if c.SampleSize == 0 {
		c.SampleSize = 256
	}
	if c.Contamination == 0 {
		c.Contamination = 0.01
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c IForestConfig) Validate() error {
	switch {
	case c.Trees < 1 || c.SampleSize < 2:
		return fmt.Errorf("%w: iforest: %d trees of %d samples (want 1 or more, of 2 or more)", pipeline.ErrConfig, c.Trees, c.SampleSize)
	case !(c.Contamination > 0 && c.Contamination < 0.5):
		return fmt.Errorf("%w: iforest: contamination %v (want 0-0.5)", pipeline.ErrConfig, c.Contamination)
	}
	return nil
}

// IForest is an Isolation Forest (Liu, Ting and Zhou, 2008) over the
// features of one sensor type. Its JSON form is the model artifact the
// model store holds. A trained IForest is immutable and safe for
// concurrent use.
type IForest struct {
	Model      string   `json:"model"`   // e.g. iforest-vibration
	Version    string   `json:"version"` // set by whoever stores it
	SensorType string   `json:"sensor_type"`
	Features   []string `json:"features"`
	SampleSize int      `json:"sample_size"`
	Threshold  float64  `json:"threshold"` // score at the training data's 1-contamination quantile
	Trained    int      `json:"trained_on"`
	Trees      []itree  `json:"forest"` // "trees" before centres and ranges: an older smaint refuses these
	// Centres holds, per sensor, the feature values its windows are taken
	// relative to (TrainSensorForest); nil for a forest of raw features.
	Centres map[string][]float64 `json:"centres,omitempty"`
	// Readings holds, per sensor, the median reading count of the windows
	// it was trained on (TrainSensorForest; absent in forests stored
	// before it was kept): the forest judges a window of fewer than half
	// as many readings as none it has seen (see Judges).
	Readings map[string]int64 `json:"readings,omitempty"`
}

type itree struct {
	Nodes []inode `json:"nodes"`
}

// inode is a split (Feature ≥ 0: x[Feature] < Split goes Left) or a leaf
// (Feature = -1) that isolated Size training points. A split also keeps
// the range [Lo, Hi] of its training points' values of Feature: a point
// outside it is isolated at that node (see pathLength). Forests stored
// before the range was kept have Lo = Hi = 0, and no such point.
type inode struct {
	Feature int     `json:"f"`
	Split   float64 `json:"s,omitempty"`
	Left    int     `json:"l,omitempty"`
	Right   int     `json:"r,omitempty"`
	Size    int     `json:"n,omitempty"`
	Lo      float64 `json:"lo,omitempty"`
	Hi      float64 `json:"hi,omitempty"`
}

// ErrTraining means the data cannot train a model.
var ErrTraining = errors.New("score: cannot train")

// TrainIForest grows a forest on rows of feature values named names.
func TrainIForest(model, sensorType string, names []string, rows [][]float64, cfg IForestConfig) (*IForest, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(rows) < 16 {
		return nil, fmt.Errorf("%w: %d rows, need at least 16", ErrTraining, len(rows))
	}
	for _, r := range rows {
		if len(r) != len(names) {
			return nil, fmt.Errorf("%w: a row of %d values for %d features", ErrTraining, len(r), len(names))
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1f))
	// Each tree sees at most half the rows, so that every row can be
	// scored by the trees that did not see it (out of bag).
	psi := min(cfg.SampleSize, len(rows)/2)
	f := &IForest{Model: model, SensorType: sensorType, Features: names, SampleSize: psi, Trained: len(rows)}
	maxDepth := int(math.Ceil(math.Log2(float64(psi))))
	seen := make([][]bool, cfg.Trees)
	for ti := range cfg.Trees {
		idx := rng.Perm(len(rows))[:psi]
		seen[ti] = make([]bool, len(rows))
		for _, r := range idx {
			seen[ti][r] = true
		}
		var t itree
		t.grow(rows, idx, 0, maxDepth, rng)
		f.Trees = append(f.Trees, t)
	}
	f.Threshold = f.outOfBagThreshold(rows, seen, cfg.Contamination)
	return f, nil
}

// outOfBagThreshold is the 1-contamination quantile of the training rows'
// scores, each row scored by the trees that did not see it (by every
// tree, if all did): a point new to a tree can fall outside the ranges it
// split on, which its own training points never do, so scores of the rows
// a tree was grown on would set the threshold too low for new windows.
func (f *IForest) outOfBagThreshold(rows [][]float64, seen [][]bool, contamination float64) float64 {
	scores := make([]float64, len(rows))
	for i, r := range rows {
		var sum float64
		n := 0
		for ti := range f.Trees {
			if !seen[ti][i] {
				sum += f.Trees[ti].pathLength(r, nil)
				n++
			}
		}
		if n == 0 {
			scores[i] = f.raw(r)
			continue
		}
		scores[i] = math.Pow(2, -sum/float64(n)/avgPath(f.SampleSize))
	}
	slices.Sort(scores)
	return stat.Quantile(1-contamination, stat.Empirical, scores, nil)
}

// grow adds the subtree over rows[idx] and returns its node index.
func (t *itree) grow(rows [][]float64, idx []int, depth, maxDepth int, rng *rand.Rand) int {
	me := len(t.Nodes)
	t.Nodes = append(t.Nodes, inode{Feature: -1, Size: len(idx)})
	if len(idx) <= 1 || depth >= maxDepth {
		return me
	}
	// Pick a feature that varies among these points, then a split
	// uniformly between its min and max.
	nf := len(rows[0])
	col := make([]float64, len(idx))
	for _, f := range rng.Perm(nf) {
		for i, r := range idx {
			col[i] = rows[r][f]
		}
		lo, hi := floats.Min(col), floats.Max(col)
		if !(hi > lo) {
			continue
		}
		split := lo + rng.Float64()*(hi-lo)
		var left, right []int
		for _, r := range idx {
			if rows[r][f] < split {
				left = append(left, r)
			} else {
				right = append(right, r)
			}
		}
		if len(left) == 0 || len(right) == 0 {
			continue
		}
		l := t.grow(rows, left, depth+1, maxDepth, rng)
		r := t.grow(rows, right, depth+1, maxDepth, rng)
		t.Nodes[me] = inode{Feature: f, Split: split, Left: l, Right: r, Lo: lo, Hi: hi}
		return me
	}
	return me
}

// avgPath is c(n): the average path length of an unsuccessful search in a
// binary search tree of n points, which normalises path lengths.
func avgPath(n int) float64 {
	if n <= 1 {
		return 0
	}
	if n == 2 {
		return 1
	}
	h := math.Log(float64(n-1)) + 0.5772156649015329
	return 2*h - 2*float64(n-1)/float64(n)
}

// pathLength walks x down t and returns its expected path length, adding
// at each split weight/(depth+1) to attr[feature] when attr is not nil.
// A point outside the range [Lo, Hi] of the training values a split was
// drawn from would, had it been among them, have been set apart there by
// a split drawn between it and them: with probability d/(Hi-Lo+d), d its
// distance from the range. Its path ends at that depth with that
// probability and goes on with the rest. Without that, a point beyond
// every training value follows the most extreme ones down, and scores no
// higher than they do however far out it lies.
func (t *itree) pathLength(x []float64, attr []float64) float64 {
	i, depth := 0, 0
	reach, length := 1.0, 0.0 // the chance the path is not yet ended, and the length so far
	for {
		n := t.Nodes[i]
		if n.Feature < 0 {
			return length + reach*(float64(depth)+avgPath(n.Size))
		}
		if attr != nil {
			attr[n.Feature] += reach / float64(depth+1)
		}
		v := x[n.Feature]
		if d := max(n.Lo-v, v-n.Hi); n.Hi > n.Lo && d > 0 {
			p := 1 / (1 + (n.Hi-n.Lo)/d) // d/(Hi-Lo+d), 1 for an infinite d
			length += reach * p * float64(depth+1)
			reach *= 1 - p
		}
		if v < n.Split {
			i = n.Left
		} else {
			i = n.Right
		}
		depth++
	}
}

// raw is the Isolation Forest score 2^(-E[h(x)]/c(ψ)): near 1 for points
// that isolate quickly, below 0.5 for ordinary ones.
func (f *IForest) raw(x []float64) float64 {
	var sum float64
	for i := range f.Trees {
		sum += f.Trees[i].pathLength(x, nil)
	}
	return math.Pow(2, -sum/float64(len(f.Trees))/avgPath(f.SampleSize))
}

func (f *IForest) versionString() string { return f.Model + "@" + f.Version }

// Detector returns f as a Detector.
func (f *IForest) Detector() Detector { return iforestDetector{f} }

type iforestDetector struct{ f *IForest }

func (d iforestDetector) Name() string    { return "iforest" }
func (d iforestDetector) Version() string { return d.f.versionString() }

// Score implements Detector. Shares weight each feature by the splits on
// it along the paths, the shallower the more (a split near the root
// isolates more). Vectors with another feature count, and those the
// forest does not judge (Judges: a sensor it does not know, a window cut
// short), are not scored.
func (d iforestDetector) Score(fv *schemas.FeatureVector) Verdict {
	if !d.f.Judges(fv) {
		return Verdict{}
	}
	x, ok := d.f.features(fv)
	if !ok {
		return Verdict{}
	}
	attr := make([]float64, len(x))
	var sum float64
	for i := range d.f.Trees {
		sum += d.f.Trees[i].pathLength(x, attr)
	}
	s := math.Pow(2, -sum/float64(len(d.f.Trees))/avgPath(d.f.SampleSize))
	var total float64
	for _, a := range attr {
		total += a
	}
	shares := map[string]float64{}
	for i, a := range attr {
		if a > 0 {
			shares[d.f.Features[i]] = a / total
		}
	}
	return Verdict{Score: s, Shares: shares, OK: true}
}

// Marshal returns the artifact bytes of f.
func (f *IForest) Marshal() ([]byte, error) { return json.Marshal(f) }

// UnmarshalIForest reads and checks an artifact, of this format or the
// one before (trees under "trees", with no centres or ranges, scored as
// they were). The trees moved to "forest" when centres and ranges came,
// so that an older smaint, which would score raw features with a forest
// grown on centred ones, finds none and refuses the artifact.
func UnmarshalIForest(b []byte) (*IForest, error) {
	var read struct {
		IForest
		Legacy []itree `json:"trees"`
	}
	if err := json.Unmarshal(b, &read); err != nil {
		return nil, fmt.Errorf("score: model artifact: %w", err)
	}
	f := read.IForest
	if len(f.Trees) == 0 {
		f.Trees = read.Legacy
	}
	if len(f.Trees) == 0 || len(f.Features) == 0 || f.SampleSize < 1 {
		return nil, fmt.Errorf("score: model artifact %s: no trees or features", f.Model)
	}
	for sensor, c := range f.Centres {
		if len(c) != len(f.Features) {
			return nil, fmt.Errorf("score: model artifact %s: the centre of %s has %d values for %d features", f.Model, sensor, len(c), len(f.Features))
		}
	}
	for ti, t := range f.Trees {
		for ni, n := range t.Nodes {
			if n.Feature >= len(f.Features) || (n.Feature >= 0 && (n.Left <= ni || n.Right <= ni || n.Left >= len(t.Nodes) || n.Right >= len(t.Nodes))) {
				return nil, fmt.Errorf("score: model artifact %s: tree %d node %d is malformed", f.Model, ti, ni)
			}
		}
	}
	return &f, nil
}
