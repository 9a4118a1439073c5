package predict

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Loss is what a booster minimises.
type Loss string

const (
	// Squared is squared error: regression (remaining useful life).
	Squared Loss = "squared"
	// Logistic is the log loss of a probability: a binary class.
	Logistic Loss = "logistic"
	// Quantile is the pinball loss of BoostConfig.Quantile: each tree is
	// grown on the residuals, as for Squared, and each leaf then set to
	// that quantile of its rows' residuals (LightGBM's leaf renewal), so
	// the model is a conditional quantile, the end of an interval. (Grown
	// on the pinball loss's own gradient, which takes two values, a tree
	// finds no split when every residual has one sign: remaining life
	// capped at its 90% quantile is such a case.)
	Quantile Loss = "quantile"
)

// BoostConfig configures gradient boosting of regression trees.
type BoostConfig struct {
	Loss      Loss
	Trees     int     // default 300
	Depth     int     // levels of splits per tree (default 4)
	Rate      float64 // learning rate, shrinking each tree (default 0.05)
	MinLeaf   int     // rows a leaf needs at least (default 10)
	Lambda    float64 // L2 penalty on leaf values (default 1)
	Subsample float64 // share of rows each tree is grown on (default 0.8)
	Bins      int     // quantile bins per feature (default 1024, at most 4096): thresholds fall on their edges
	Quantile  float64 // for Loss Quantile: which, in (0, 1)
	Seed      uint64
}

// WithDefaults returns c with every unset field at its default.
func (c BoostConfig) WithDefaults() BoostConfig {
	if c.Loss == "" {
		c.Loss = Squared
	}
	if c.Trees == 0 {
		c.Trees = 300
	}
	if c.Depth == 0 {
		c.Depth = 4
	}
	if c.Rate == 0 {
		c.Rate = 0.05
	}
	if c.MinLeaf == 0 {
		c.MinLeaf = 10
	}
	if c.Lambda == 0 {
		c.Lambda = 1
	}
	if c.Subsample == 0 {
		c.Subsample = 0.8
	}
	if c.Bins == 0 {
		c.Bins = 1024
	}
	return c
}

// ErrConfig marks an unusable setting or training set.
var ErrConfig = errors.New("predict: invalid configuration")

// Validate reports the first unusable setting.
func (c BoostConfig) Validate() error {
	switch {
	case c.Loss != Squared && c.Loss != Logistic && c.Loss != Quantile:
		return fmt.Errorf("%w: loss %q (want squared, logistic or quantile)", ErrConfig, c.Loss)
	case c.Loss == Quantile && !(c.Quantile > 0 && c.Quantile < 1):
		return fmt.Errorf("%w: quantile %v outside (0, 1)", ErrConfig, c.Quantile)
	case c.Trees < 1 || c.Depth < 1 || c.Depth > 12 || c.MinLeaf < 1:
		return fmt.Errorf("%w: %d trees of depth %d (1 to 12), leaves of at least %d rows", ErrConfig, c.Trees, c.Depth, c.MinLeaf)
	case !(c.Rate > 0 && c.Rate <= 1) || !(c.Subsample > 0 && c.Subsample <= 1) || c.Lambda < 0:
		return fmt.Errorf("%w: rate %v, subsample %v (both in (0,1]), lambda %v", ErrConfig, c.Rate, c.Subsample, c.Lambda)
	case c.Bins < 2 || c.Bins > 4096:
		return fmt.Errorf("%w: %d bins (2 to 4096)", ErrConfig, c.Bins)
	}
	return nil
}

// Booster is a trained ensemble of regression trees: its Predict is the
// sum of Base and every tree's leaf (for Logistic, the log-odds of the
// positive class). A Booster is read-only once trained, and safe for
// concurrent use; it marshals to JSON as it is.
type Booster struct {
	Loss  Loss    `json:"loss"`
	Base  float64 `json:"base"`
	Trees []Tree  `json:"trees"`
	// Gain is the total split gain by feature: how much each drove the
	// model.
	Gain []float64 `json:"gain"`
}

// Tree is one regression tree in array form: node 0 is the root.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Node splits on Feature at Threshold (values <= go Left) or, when a
// leaf (Left == 0), holds Value. A split node's Value is what it would
// hold as a leaf: Contributions follows how the value changes down a
// row's path.
type Node struct {
	Feature   int     `json:"f,omitempty"`
	Threshold float64 `json:"t,omitempty"`
	Left      int     `json:"l,omitempty"`
	Right     int     `json:"r,omitempty"`
	Value     float64 `json:"v,omitempty"`
}

// check reports why b cannot score rows of n features, a model read
// from a store rather than trained here: a tree without nodes, a split
// on a feature past n, a child that is not after its parent (a path that
// leaves the tree or never ends), or a gain for other than n features.
func (b *Booster) check(n int) error {
	if b == nil {
		return errors.New("no model")
	}
	if len(b.Gain) != n {
		return fmt.Errorf("gains for %d features, not %d", len(b.Gain), n)
	}
	for i, t := range b.Trees {
		if len(t.Nodes) == 0 {
			return fmt.Errorf("tree %d has no nodes", i)
		}
		for j, nd := range t.Nodes {
			if nd.Left == 0 {
				continue
			}
			switch {
			case nd.Feature < 0 || nd.Feature >= n:
				return fmt.Errorf("tree %d node %d splits on feature %d of %d", i, j, nd.Feature, n)
			case nd.Left <= j || nd.Right <= j || nd.Left >= len(t.Nodes) || nd.Right >= len(t.Nodes):
				return fmt.Errorf("tree %d node %d has children %d and %d of %d nodes", i, j, nd.Left, nd.Right, len(t.Nodes))
			}
		}
	}
	return nil
}

// Raw is the model's raw output for row x: the regression value, or the
// log-odds for Logistic. A NaN in x (an unknown value, such as a category
// level training never saw) ends the row's path through a tree at the
// first split on it, which then gives its own value: the step fitted to
// every training row that reached it, on either side (for Quantile, their
// residuals' quantile).
func (b *Booster) Raw(x []float64) float64 {
	s := b.Base
	for i := range b.Trees {
		nodes := b.Trees[i].Nodes
		n := 0
		for nodes[n].Left != 0 {
			v := x[nodes[n].Feature]
			if v != v { // NaN: the branch is unknown, so the node's own value
				break
			}
			if v <= nodes[n].Threshold {
				n = nodes[n].Left
			} else {
				n = nodes[n].Right
			}
		}
		s += nodes[n].Value
	}
	return s
}

// Contributions splits Raw(x) among the features (Saabas' method): along
// x's path through each tree, the change in node value at every split is
// credited to the split's feature. Raw(x) is bias plus the sum of the
// contributions, in Raw's units (log-odds for Logistic). A path stops at
// a NaN as in Raw.
func (b *Booster) Contributions(x []float64) (bias float64, contrib []float64) {
	contrib = make([]float64, len(b.Gain))
	bias = b.Base
	for i := range b.Trees {
		nodes := b.Trees[i].Nodes
		bias += nodes[0].Value
		n := 0
		for nodes[n].Left != 0 {
			v := x[nodes[n].Feature]
			if v != v {
				break
			}
			next := nodes[n].Right
			if v <= nodes[n].Threshold {
				next = nodes[n].Left
			}
			contrib[nodes[n].Feature] += nodes[next].Value - nodes[n].Value
			n = next
		}
	}
	return bias, contrib
}

// Predict is Raw for Squared, and the probability of the positive class
// for Logistic.
func (b *Booster) Predict(x []float64) float64 {
	if b.Loss == Logistic {
		return sigmoid(b.Raw(x))
	}
	return b.Raw(x)
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Boost trains a Booster on rows X (each of the same length) and targets
// y (0 or 1 for Logistic). It is deterministic for a Seed.
func Boost(X [][]float64, y []float64, cfg BoostConfig) (*Booster, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(X) < 2*cfg.MinLeaf || len(X) != len(y) {
		return nil, fmt.Errorf("%w: %d rows and %d targets; at least %d rows needed", ErrConfig, len(X), len(y), 2*cfg.MinLeaf)
	}
	nf := len(X[0])
	for i, x := range X {
		if len(x) != nf {
			return nil, fmt.Errorf("%w: row %d has %d features, row 0 has %d", ErrConfig, i, len(x), nf)
		}
		for f, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: row %d, feature %d is %v: training needs every value", ErrConfig, i, f, v)
			}
		}
	}
	edges, codes := binAll(X, cfg.Bins)
	b := &Booster{Loss: cfg.Loss, Gain: make([]float64, nf)}
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	b.Base = mean
	if cfg.Loss == Quantile {
		b.Base = quantileOf(slices.Clone(y), cfg.Quantile)
	}
	if cfg.Loss == Logistic {
		p := min(max(mean, 1e-6), 1-1e-6)
		b.Base = math.Log(p / (1 - p))
	}
	raw := make([]float64, len(y))
	for i := range raw {
		raw[i] = b.Base
	}
	g, h := make([]float64, len(y)), make([]float64, len(y))
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	rows := make([]int, len(y))
	gr := grower{cfg: cfg, codes: codes, edges: edges, g: g, h: h, gain: b.Gain,
		hg: make([]float64, cfg.Bins+1), hh: make([]float64, cfg.Bins+1), hc: make([]int, cfg.Bins+1)}
	for range cfg.Trees {
		for i := range y {
			switch cfg.Loss {
			case Logistic:
				p := sigmoid(raw[i])
				g[i], h[i] = p-y[i], max(p*(1-p), 1e-6)
			default:
				g[i], h[i] = raw[i]-y[i], 1
			}
		}
		rows = rows[:0]
		for i := range y {
			if cfg.Subsample >= 1 || rng.Float64() < cfg.Subsample {
				rows = append(rows, i)
			}
		}
		t := gr.grow(rows)
		if cfg.Loss == Quantile {
			t.renew(codes, rows, y, raw, cfg)
		}
		for i := range y {
			raw[i] += t.leaf(codes, i)
		}
		b.Trees = append(b.Trees, t.Tree)
	}
	return b, nil
}

// binAll quantises each feature into at most bins quantile bins: edges[f]
// are the upper edges of feature f's bins (the last is +Inf), codes[f][i]
// row i's bin.
func binAll(X [][]float64, bins int) ([][]float64, [][]uint16) {
	nf := len(X[0])
	edges, codes := make([][]float64, nf), make([][]uint16, nf)
	col := make([]float64, len(X))
	for f := range nf {
		for i, x := range X {
			col[i] = x[f]
		}
		sorted := slices.Clone(col)
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		var e []float64
		if len(sorted) <= bins {
			// Between distinct values, so a split separates them.
			for i := 0; i+1 < len(sorted); i++ {
				e = append(e, (sorted[i]+sorted[i+1])/2)
			}
		} else {
			for q := 1; q < bins; q++ {
				v := sorted[q*len(sorted)/bins]
				if len(e) == 0 || v > e[len(e)-1] {
					e = append(e, v)
				}
			}
		}
		e = append(e, math.Inf(1))
		edges[f] = e
		c := make([]uint16, len(X))
		for i, v := range col {
			k, _ := slices.BinarySearch(e, v)
			c[i] = uint16(k)
		}
		codes[f] = c
	}
	return edges, codes
}

// grower grows one tree on the gradients g and hessians h.
type grower struct {
	cfg   BoostConfig
	codes [][]uint16
	edges [][]float64
	g, h  []float64
	gain  []float64
	// Histogram space, one bin per edge.
	hg, hh []float64
	hc     []int
}

// grown is a tree with, per node, the bin split at (for applying it to
// the training rows by code).
type grown struct {
	Tree
	bin []int
}

// leaf is the tree's value for training row i.
func (t grown) leaf(codes [][]uint16, i int) float64 { return t.Nodes[t.leafOf(codes, i)].Value }

// leafOf is the node training row i ends in.
func (t grown) leafOf(codes [][]uint16, i int) int {
	n := 0
	for t.Nodes[n].Left != 0 {
		if int(codes[t.Nodes[n].Feature][i]) <= t.bin[n] {
			n = t.Nodes[n].Left
		} else {
			n = t.Nodes[n].Right
		}
	}
	return n
}

// renew sets each leaf to the quantile of its rows' residuals, shrunk by
// the rate.
func (t grown) renew(codes [][]uint16, rows []int, y, raw []float64, cfg BoostConfig) {
	res := map[int][]float64{} // by node, the residuals of the rows through it
	for _, i := range rows {
		r, n := y[i]-raw[i], 0
		for {
			res[n] = append(res[n], r)
			if t.Nodes[n].Left == 0 {
				break
			}
			if int(codes[t.Nodes[n].Feature][i]) <= t.bin[n] {
				n = t.Nodes[n].Left
			} else {
				n = t.Nodes[n].Right
			}
		}
	}
	// Split nodes too: a row whose path stops at one (a NaN input, see
	// Booster.Raw) takes the quantile of every row that reached it.
	for n, r := range res {
		t.Nodes[n].Value = cfg.Rate * quantileOf(r, cfg.Quantile)
	}
}

// quantileOf is the q quantile of xs (which it sorts), by linear
// interpolation between order statistics.
func quantileOf(xs []float64, q float64) float64 {
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	lo := int(pos)
	if lo+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[lo] + (pos-float64(lo))*(xs[lo+1]-xs[lo])
}

func (gr *grower) grow(rows []int) grown {
	t := grown{}
	t.Nodes = append(t.Nodes, Node{})
	t.bin = append(t.bin, 0)
	gr.split(&t, 0, rows, 0)
	return t
}

// split makes node n a leaf of rows, or splits it on the best feature and
// bin and recurses.
func (gr *grower) split(t *grown, n int, rows []int, depth int) {
	var G, H float64
	for _, i := range rows {
		G += gr.g[i]
		H += gr.h[i]
	}
	lambda := gr.cfg.Lambda
	t.Nodes[n].Value = -G / (H + lambda) * gr.cfg.Rate
	if depth >= gr.cfg.Depth || len(rows) < 2*gr.cfg.MinLeaf {
		return
	}
	parent := G * G / (H + lambda)
	best, bestF, bestBin := 1e-9, -1, 0
	for f := range gr.codes {
		nb := len(gr.edges[f])
		hg, hh, hc := gr.hg[:nb], gr.hh[:nb], gr.hc[:nb]
		clear(hg)
		clear(hh)
		clear(hc)
		codes := gr.codes[f]
		for _, i := range rows {
			c := codes[i]
			hg[c] += gr.g[i]
			hh[c] += gr.h[i]
			hc[c]++
		}
		var gl, hl float64
		cl := 0
		for k := 0; k+1 < nb; k++ {
			gl, hl, cl = gl+hg[k], hl+hh[k], cl+hc[k]
			if cl < gr.cfg.MinLeaf {
				continue
			}
			if len(rows)-cl < gr.cfg.MinLeaf {
				break
			}
			gain := gl*gl/(hl+lambda) + (G-gl)*(G-gl)/(H-hl+lambda) - parent
			if gain > best {
				best, bestF, bestBin = gain, f, k
			}
		}
	}
	if bestF < 0 {
		return
	}
	gr.gain[bestF] += best
	var left, right []int
	codes := gr.codes[bestF]
	for _, i := range rows {
		if int(codes[i]) <= bestBin {
			left = append(left, i)
		} else {
			right = append(right, i)
		}
	}
	l, r := len(t.Nodes), len(t.Nodes)+1
	t.Nodes[n] = Node{Feature: bestF, Threshold: gr.edges[bestF][bestBin], Left: l, Right: r, Value: t.Nodes[n].Value}
	t.Nodes = append(t.Nodes, Node{}, Node{})
	t.bin = append(t.bin, 0, 0)
	t.bin[n] = bestBin
	gr.split(t, l, left, depth+1)
	gr.split(t, r, right, depth+1)
}
