package predict

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Table is labelled rows as read from a CSV file: a header and string
// cells, numbers or categories.
type Table struct {
	Header []string
	Rows   [][]string
}

// Column is the index of name in t's header, or -1.
func (t Table) Column(name string) int { return slices.Index(t.Header, name) }

// Numeric reports whether every row's cell in column c is a number.
func (t Table) Numeric(c int) bool {
	for _, r := range t.Rows {
		if _, err := strconv.ParseFloat(strings.TrimSpace(r[c]), 64); err != nil {
			return false
		}
	}
	return true
}

// Stray returns the first row (counted from 1) whose cell in column c is
// not a number, when more than half the column's cells are numbers: a
// column of numbers with a typo or a gap, rather than one of words. It
// returns 0 when there is none, or when the column is mostly words.
func (t Table) Stray(c int) int {
	first, numbers := 0, 0
	for i, r := range t.Rows {
		if _, err := strconv.ParseFloat(strings.TrimSpace(r[c]), 64); err == nil {
			numbers++
		} else if first == 0 {
			first = i + 1
		}
	}
	if 2*numbers <= len(t.Rows) {
		return 0
	}
	return first
}

// Classifier gives, for a row of inputs, the probability of each label
// (the failure class, and each failure mode). Inputs that held anything
// but numbers in training are categories, coded by their sorted levels
// (unknown levels code as NaN, which the trees stop at: see Booster.Raw); numeric inputs also enter as every pair's
// product and difference, which a tree's axis-aligned splits cannot form
// (power is torque times speed; heat dissipation a difference of two
// temperatures). It is read-only once trained, safe for concurrent use,
// and marshals to JSON as it is.
type Classifier struct {
	Inputs     []string            `json:"inputs"`
	Categories map[string][]string `json:"categories,omitempty"`
	Features   []string            `json:"features"`
	Labels     []string            `json:"labels"`
	Models     []*Booster          `json:"models"`
	Threshold  float64             `json:"threshold"` // a label is predicted at this probability or over
}

// TrainClassifier trains one model per label column on rows of t, from
// the input columns.
func TrainClassifier(t Table, inputs, labels []string, cfg BoostConfig) (*Classifier, error) {
	cfg = cfg.WithDefaults()
	cfg.Loss = Logistic
	c := &Classifier{Inputs: inputs, Labels: labels, Categories: map[string][]string{}, Threshold: 0.5}
	idx, err := columns(t, inputs)
	if err != nil {
		return nil, err
	}
	lidx, err := columns(t, labels)
	if err != nil {
		return nil, err
	}
	for k, col := range idx {
		if t.Numeric(col) {
			continue
		}
		if n := t.Stray(col); n > 0 {
			return nil, fmt.Errorf("%w: row %d: %s is %q, not a number as the column's other values are (fix the row, or leave it out)", ErrConfig, n, inputs[k], t.Rows[n-1][col])
		}
		levels := make([]string, len(t.Rows))
		for i, r := range t.Rows {
			levels[i] = strings.TrimSpace(r[col])
		}
		slices.Sort(levels)
		c.Categories[inputs[k]] = slices.Compact(levels)
	}
	c.Features = c.featureNames()
	X := make([][]float64, len(t.Rows))
	for i, r := range t.Rows {
		if X[i], err = c.row(r, idx); err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	for k, col := range lidx {
		y := make([]float64, len(t.Rows))
		for i, r := range t.Rows {
			v, err := strconv.ParseFloat(strings.TrimSpace(r[col]), 64)
			if err != nil {
				return nil, fmt.Errorf("%w: row %d: label %s is %q, not a number", ErrConfig, i+1, labels[k], r[col])
			}
			if v != 0 {
				y[i] = 1
			}
		}
		b, err := Boost(X, y, cfg)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", labels[k], err)
		}
		c.Models = append(c.Models, b)
	}
	return c, nil
}

func columns(t Table, names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		if out[i] = t.Column(n); out[i] < 0 {
			return nil, fmt.Errorf("%w: no column %q (have %s)", ErrConfig, n, strings.Join(t.Header, ", "))
		}
	}
	return out, nil
}

func (c *Classifier) numeric() []string {
	var out []string
	for _, in := range c.Inputs {
		if _, cat := c.Categories[in]; !cat {
			out = append(out, in)
		}
	}
	return out
}

func (c *Classifier) featureNames() []string {
	names := slices.Clone(c.Inputs)
	num := c.numeric()
	for i := range num {
		for j := i + 1; j < len(num); j++ {
			names = append(names, num[i]+" * "+num[j], num[i]+" - "+num[j])
		}
	}
	return names
}

// row is the features of one row, its inputs at idx.
func (c *Classifier) row(r []string, idx []int) ([]float64, error) {
	out := make([]float64, len(idx), len(c.Features))
	for k, col := range idx {
		cell := strings.TrimSpace(r[col])
		if _, cat := c.Categories[c.Inputs[k]]; cat {
			out[k] = c.code(c.Inputs[k], cell)
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is %q, not a number", ErrConfig, c.Inputs[k], cell)
		}
		out[k] = v
	}
	return c.expand(out), nil
}

// code is the code of category level of input in: its index among the
// sorted levels, NaN when training never saw it.
func (c *Classifier) code(in, level string) float64 {
	if i, ok := slices.BinarySearch(c.Categories[in], level); ok {
		return float64(i)
	}
	return math.NaN()
}

// expand appends to x, one value per input, the products and
// differences of every pair of numeric inputs.
func (c *Classifier) expand(x []float64) []float64 {
	var num []float64
	for k, in := range c.Inputs {
		if _, cat := c.Categories[in]; !cat {
			num = append(num, x[k])
		}
	}
	for i := range num {
		for j := i + 1; j < len(num); j++ {
			x = append(x, num[i]*num[j], num[i]-num[j])
		}
	}
	return x
}

// Vector is the model's features for inputs given by name: the numeric
// ones from num, the categories from cat (a missing or unseen level codes
// as NaN, as in Predict). missing lists the numeric inputs num lacks; x is
// nil then.
func (c *Classifier) Vector(num map[string]float64, cat map[string]string) (x []float64, missing []string) {
	x = make([]float64, len(c.Inputs), len(c.Features))
	for k, in := range c.Inputs {
		if _, isCat := c.Categories[in]; isCat {
			x[k] = c.code(in, cat[in])
			continue
		}
		v, ok := num[in]
		if !ok {
			missing = append(missing, in)
		}
		x[k] = v
	}
	if len(missing) > 0 {
		return nil, missing
	}
	return c.expand(x), nil
}

// Probabilities returns each label's probability for features x (from
// Vector), in Labels' order.
func (c *Classifier) Probabilities(x []float64) []float64 {
	out := make([]float64, len(c.Models))
	for i, m := range c.Models {
		out[i] = m.Predict(x)
	}
	return out
}

// Predict returns the probability of each label for a row of t's shape
// (the columns named Inputs, wherever they are in header).
func (c *Classifier) Predict(header, r []string) ([]float64, error) {
	x, err := c.features(header, r)
	if err != nil {
		return nil, err
	}
	return c.Probabilities(x), nil
}

// features are the model's features of row r, its columns named by
// header.
func (c *Classifier) features(header, r []string) ([]float64, error) {
	idx, err := columns(Table{Header: header}, c.Inputs)
	if err != nil {
		return nil, err
	}
	return c.row(r, idx)
}

// ClassScore is one label's precision, recall and F1 at the threshold.
type ClassScore struct {
	Label     string  `json:"label"`
	Positives int     `json:"positives"`
	Predicted int     `json:"predicted"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Evaluate scores c on the labelled rows of t.
func (c *Classifier) Evaluate(t Table) ([]ClassScore, error) {
	lidx, err := columns(t, c.Labels)
	if err != nil {
		return nil, err
	}
	tp, fp, fn := make([]int, len(c.Labels)), make([]int, len(c.Labels)), make([]int, len(c.Labels))
	for i, r := range t.Rows {
		p, err := c.Predict(t.Header, r)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		for k, col := range lidx {
			truth := strings.TrimSpace(r[col]) != "0"
			pred := p[k] >= c.Threshold
			switch {
			case pred && truth:
				tp[k]++
			case pred:
				fp[k]++
			case truth:
				fn[k]++
			}
		}
	}
	out := make([]ClassScore, len(c.Labels))
	for k, l := range c.Labels {
		s := ClassScore{Label: l, Positives: tp[k] + fn[k], Predicted: tp[k] + fp[k]}
		if s.Predicted > 0 {
			s.Precision = float64(tp[k]) / float64(s.Predicted)
		}
		if s.Positives > 0 {
			s.Recall = float64(tp[k]) / float64(s.Positives)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		out[k] = s
	}
	return out, nil
}

// Split shuffles t's rows with seed and returns the first 1-holdout of
// them for training and the rest held out.
func Split(t Table, holdout float64, seed uint64) (train, test Table) {
	rows := slices.Clone(t.Rows)
	rng := rand.New(rand.NewPCG(seed, 0x5711))
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	n := len(rows) - int(float64(len(rows))*holdout+0.5)
	return Table{t.Header, rows[:n]}, Table{t.Header, rows[n:]}
}
