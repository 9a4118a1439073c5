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
	Trees      []itree  `json:"trees"`
}

type itree struct {
	Nodes []inode `json:"nodes"`
}

// inode is a split (Feature ≥ 0: x[Feature] < Split goes Left) or a leaf
// (Feature = -1) that isolated Size training points.
type inode struct {
	Feature int     `json:"f"`
	Split   float64 `json:"s,omitempty"`
	Left    int     `json:"l,omitempty"`
	Right   int     `json:"r,omitempty"`
	Size    int     `json:"n,omitempty"`
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
	psi := min(cfg.SampleSize, len(rows))
	f := &IForest{Model: model, SensorType: sensorType, Features: names, SampleSize: psi, Trained: len(rows)}
	maxDepth := int(math.Ceil(math.Log2(float64(psi))))
	for range cfg.Trees {
		idx := rng.Perm(len(rows))[:psi]
		var t itree
		t.grow(rows, idx, 0, maxDepth, rng)
		f.Trees = append(f.Trees, t)
	}
	scores := make([]float64, len(rows))
	for i, r := range rows {
		scores[i] = f.raw(r)
	}
	slices.Sort(scores)
	f.Threshold = stat.Quantile(1-cfg.Contamination, stat.Empirical, scores, nil)
	return f, nil
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
		t.Nodes[me] = inode{Feature: f, Split: split, Left: l, Right: r}
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

// pathLength walks x down t and adds, at each split, weight/(depth+1) to
// attr[feature] when attr is not nil.
func (t *itree) pathLength(x []float64, attr []float64) float64 {
	i, depth := 0, 0
	for {
		n := t.Nodes[i]
		if n.Feature < 0 {
			return float64(depth) + avgPath(n.Size)
		}
		if attr != nil {
			attr[n.Feature] += 1 / float64(depth+1)
		}
		if x[n.Feature] < n.Split {
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
// isolates more). Vectors with another feature count are not scored.
func (d iforestDetector) Score(fv *schemas.FeatureVector) Verdict {
	x := FeatureValues(nil, fv)
	if len(x) != len(d.f.Features) {
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

// UnmarshalIForest reads and checks an artifact.
func UnmarshalIForest(b []byte) (*IForest, error) {
	var f IForest
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("score: model artifact: %w", err)
	}
	if len(f.Trees) == 0 || len(f.Features) == 0 || f.SampleSize < 1 {
		return nil, fmt.Errorf("score: model artifact %s: no trees or features", f.Model)
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
