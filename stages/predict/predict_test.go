package predict

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// runs are units that wear out: a channel that climbs ever faster towards
// failure at the end of each run, a noisy one that says nothing, and a
// constant one.
func runs(n int, seed uint64, truncate bool) ([]Run, []float64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	var out []Run
	var left []float64
	for u := range n {
		life := 120 + rng.IntN(120)
		end := life
		if truncate {
			end = life - 10 - rng.IntN(100)
		}
		r := Run{Unit: strconv.Itoa(u)}
		for t := 1; t <= end; t++ {
			wear := math.Exp(float64(t-life) / 40)
			r.Times = append(r.Times, float64(t))
			r.Values = append(r.Values, []float64{5 + 3*wear + 0.05*rng.NormFloat64(), rng.NormFloat64(), 7})
		}
		out = append(out, r)
		left = append(left, float64(life-end))
	}
	return out, left
}

func TestRULLearnsHowFarOffFailureIs(t *testing.T) {
	train, _ := runs(40, 1, false)
	m, err := TrainRUL(train, []string{"wear", "noise", "constant"}, RULConfig{Boost: BoostConfig{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Used) != 2 {
		t.Errorf("used channels %v: the constant one should be left out", m.Used)
	}
	test, truth := runs(30, 2, true)
	pred := make([]float64, len(test))
	naive := make([]float64, len(test))
	for i, r := range test {
		pred[i] = m.Predict(r)
		naive[i] = 62.5 // half the cap: knowing nothing
	}
	got, base := ScoreRUL(pred, truth), ScoreRUL(naive, truth)
	if got.RMSE > 12 || got.RMSE > base.RMSE/3 {
		t.Errorf("RMSE %.1f (knowing nothing: %.1f)", got.RMSE, base.RMSE)
	}
	lower, upper := make([]float64, len(test)), make([]float64, len(test))
	for i, r := range test {
		lower[i], upper[i] = m.Interval(r)
	}
	got.Cover(lower, upper, truth)
	if got.Coverage < 0.6 {
		t.Errorf("80%% intervals held %.2f of the true lives", got.Coverage)
	}
	if got.Units != 30 || !(got.PHM08 > 0) || got.MAE > got.RMSE {
		t.Errorf("%+v", got)
	}
	if _, err := TrainRUL(train, []string{"wear", "noise", "constant"}, RULConfig{Window: 1}); !errors.Is(err, ErrConfig) {
		t.Errorf("window 1: %v", err)
	}
}

func TestScoreRULWeighsLatePredictionsMore(t *testing.T) {
	early := ScoreRUL([]float64{40}, []float64{50})
	late := ScoreRUL([]float64{60}, []float64{50})
	if early.RMSE != 10 || late.RMSE != 10 || !(late.PHM08 > early.PHM08) {
		t.Errorf("early %+v, late %+v", early, late)
	}
	if want := math.Exp(1) - 1; math.Abs(late.PHM08-want) > 1e-12 {
		t.Errorf("late by 10: PHM08 %v, want e-1", late.PHM08)
	}
}

// A failure that needs a product of two inputs, or a category and a
// level, is learnt; a row with a category never seen is still scored.
func TestClassifierLearnsInteractionsAndCategories(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	tab := Table{Header: []string{"kind", "a", "b", "failed", "mode"}}
	for range 4000 {
		kind := []string{"L", "M", "H"}[rng.IntN(3)]
		a, b := 1+rng.Float64()*9, 1+rng.Float64()*9
		failed, mode := "0", "0"
		if a*b > 70 || (kind == "H" && a < 1.5) {
			failed = "1"
		}
		if kind == "H" && a < 1.5 {
			mode = "1"
		}
		tab.Rows = append(tab.Rows, []string{kind, fmt.Sprint(a), fmt.Sprint(b), failed, mode})
	}
	train, test := Split(tab, 0.3, 1)
	if len(train.Rows) != 2800 || len(test.Rows) != 1200 {
		t.Fatalf("split %d/%d", len(train.Rows), len(test.Rows))
	}
	c, err := TrainClassifier(train, []string{"kind", "a", "b"}, []string{"failed", "mode"}, BoostConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	scores, err := c.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		if s.F1 < 0.9 {
			t.Errorf("%+v", s)
		}
	}
	if p, err := c.Predict(tab.Header, []string{"Z", "2", "2", "", ""}); err != nil || p[0] > 0.5 {
		t.Errorf("unknown category: %v, %v", p, err)
	}
	if _, err := c.Predict(tab.Header, []string{"L", "two", "2", "", ""}); !errors.Is(err, ErrConfig) {
		t.Errorf("a word for a number: %v", err)
	}
	if _, err := TrainClassifier(train, []string{"kind", "c"}, []string{"failed"}, BoostConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing column: %v", err)
	}
	bad := Table{Header: tab.Header, Rows: append([][]string{{"L", "1", "1", "yes", "0"}}, train.Rows...)}
	if _, err := TrainClassifier(bad, []string{"kind", "a"}, []string{"failed"}, BoostConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("a label that is not a number: %v", err)
	}
}

// A category level training never saw is not taken for any level it did:
// the trees give, at their splits on it, what every training row there
// averaged. Here the first sorted level fails nine times in ten and the
// other once, so an unseen level lies between them.
func TestClassifierAveragesAnUnseenCategory(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	tab := Table{Header: []string{"kind", "a", "failed"}}
	for range 2000 {
		kind, a := []string{"H", "L"}[rng.IntN(2)], rng.Float64()
		failed := "0"
		if (kind == "H") == (rng.Float64() < 0.9) {
			failed = "1"
		}
		tab.Rows = append(tab.Rows, []string{kind, fmt.Sprint(a), failed})
	}
	c, err := TrainClassifier(tab, []string{"kind", "a"}, []string{"failed"}, BoostConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]float64{}
	for _, kind := range []string{"H", "L", "unseen"} {
		got, err := c.Predict(tab.Header, []string{kind, "0.5", ""})
		if err != nil {
			t.Fatal(err)
		}
		p[kind] = got[0]
	}
	if !(p["L"]+0.2 < p["unseen"] && p["unseen"] < p["H"]-0.2) {
		t.Fatalf("probabilities %v: want the unseen level well between L and H", p)
	}
	// The drivers still add up to the model's output.
	x, _ := c.Vector(map[string]float64{"a": 0.5}, map[string]string{"kind": "unseen"})
	bias, contrib := c.Models[0].Contributions(x)
	sum := bias
	for _, v := range contrib {
		sum += v
	}
	if raw := c.Models[0].Raw(x); math.Abs(sum-raw) > 1e-9 {
		t.Fatalf("contributions add up to %g, Raw is %g", sum, raw)
	}
}

// A column of numbers with a word in it is an error naming the row; a
// column of words is a category.
func TestTableStray(t *testing.T) {
	tab := Table{Header: []string{"num", "words", "half"}, Rows: [][]string{
		{"1", "L", "1"}, {"2", "M", "x"}, {"oops", "H", "2"}, {"4", "L", "y"},
	}}
	for c, want := range []int{3, 0, 0} {
		if got := tab.Stray(c); got != want {
			t.Errorf("Stray(%s) = %d, want %d", tab.Header[c], got, want)
		}
	}
	tab.Header = append(tab.Header, "failure")
	for i := range tab.Rows {
		tab.Rows[i] = append(tab.Rows[i], "0")
	}
	if _, err := TrainClassifier(tab, []string{"num", "words"}, []string{"failure"}, BoostConfig{}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `row 3: num is "oops"`) {
		t.Errorf("TrainClassifier = %v, want row 3's error", err)
	}
}
