package predict

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestBoostLearnsACurveAndARule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 2000
	X, yr, yc := make([][]float64, n), make([]float64, n), make([]float64, n)
	for i := range X {
		a, b, noise := rng.Float64(), rng.Float64(), rng.Float64()
		X[i] = []float64{a, b, noise}
		yr[i] = 10*a*a + 0.1*rng.NormFloat64()
		if (a > 0.5) != (b > 0.5) {
			yc[i] = 1
		}
	}
	reg, err := Boost(X[:1500], yr[:1500], BoostConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var se, vs, mean float64
	for i := 1500; i < n; i++ {
		mean += yr[i] / 500
	}
	for i := 1500; i < n; i++ {
		se += math.Pow(reg.Predict(X[i])-yr[i], 2)
		vs += math.Pow(yr[i]-mean, 2)
	}
	if r2 := 1 - se/vs; r2 < 0.98 {
		t.Errorf("regression: R² %.3f on held-out rows", r2)
	}
	for _, x := range X[1500:1510] {
		bias, c := reg.Contributions(x)
		sum := bias
		for _, v := range c {
			sum += v
		}
		if math.Abs(sum-reg.Raw(x)) > 1e-9 {
			t.Fatalf("contributions add up to %v, Raw is %v", sum, reg.Raw(x))
		}
		if math.Abs(c[2]) > 0.1*math.Abs(c[0])+0.1 {
			t.Errorf("the noise feature drove %v: %v", x, c)
		}
	}
	if reg.Gain[2] > 0.01*reg.Gain[0] {
		t.Errorf("the noise feature drove it: gains %v", reg.Gain)
	}
	cls, err := Boost(X[:1500], yc[:1500], BoostConfig{Loss: Logistic, Depth: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i := 1500; i < n; i++ {
		if (cls.Predict(X[i]) >= 0.5) == (yc[i] == 1) {
			right++
		}
	}
	if acc := float64(right) / 500; acc < 0.95 {
		t.Errorf("classification: accuracy %.3f on an XOR rule", acc)
	}
	// A quantile model: about 90% of held-out targets fall under its 0.9
	// quantile, which the noise puts 0.13 above the curve.
	q90, err := Boost(X[:1500], yr[:1500], BoostConfig{Loss: Quantile, Quantile: 0.9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	under := 0
	for i := 1500; i < n; i++ {
		if yr[i] <= q90.Predict(X[i]) {
			under++
		}
	}
	if share := float64(under) / 500; share < 0.8 || share > 0.97 {
		t.Errorf("%.2f of held-out targets under the 0.9 quantile", share)
	}
	// Deterministic for a seed, and what is stored predicts the same.
	again, _ := Boost(X[:1500], yr[:1500], BoostConfig{Seed: 1})
	if !reflect.DeepEqual(again, reg) {
		t.Error("two trainings with one seed differ")
	}
	b, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	var back Booster
	if err := json.Unmarshal(b, &back); err != nil || back.Predict(X[1600]) != reg.Predict(X[1600]) {
		t.Errorf("round trip: %v, %v != %v", err, back.Predict(X[1600]), reg.Predict(X[1600]))
	}
}

func TestBoostRefusesBadInput(t *testing.T) {
	X := make([][]float64, 50)
	y := make([]float64, 50)
	for i := range X {
		X[i] = []float64{float64(i)}
	}
	for _, tc := range []struct {
		X   [][]float64
		y   []float64
		cfg BoostConfig
	}{
		{X, y, BoostConfig{Loss: "hinge"}},
		{X, y, BoostConfig{Loss: Quantile, Quantile: 1}},
		{X, y, BoostConfig{Depth: 20}},
		{X, y, BoostConfig{Rate: 2}},
		{X, y, BoostConfig{Bins: 5000}},
		{X[:5], y[:5], BoostConfig{}},
		{X, y[:10], BoostConfig{}},
		{append([][]float64{{1, 2}}, X[1:]...), y, BoostConfig{}},
		{append([][]float64{{math.NaN()}}, X[1:]...), y, BoostConfig{}},
		{append([][]float64{{math.Inf(1)}}, X[1:]...), y, BoostConfig{}},
	} {
		if _, err := Boost(tc.X, tc.y, tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v, %d rows: %v", tc.cfg, len(tc.X), err)
		}
	}
}

// An unknown input (NaN) gets, from each tree, what the rows at its first
// split on it got: for a quantile model too, whose leaves are residual
// quantiles, the answer stays within what known inputs get.
func TestBoostAnswersAnUnknownInputWithinRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	var X [][]float64
	var y []float64
	for range 2000 {
		x := rng.Float64() * 10
		X = append(X, []float64{x})
		y = append(y, 3*x+rng.NormFloat64())
	}
	for _, cfg := range []BoostConfig{{Loss: Quantile, Quantile: 0.1, Seed: 1}, {Loss: Quantile, Quantile: 0.9, Seed: 1}, {Seed: 1}} {
		b, err := Boost(X, y, cfg)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for x := 0.0; x <= 10; x += 0.1 {
			p := b.Predict([]float64{x})
			lo, hi = min(lo, p), max(hi, p)
		}
		if p := b.Predict([]float64{math.NaN()}); !(p >= lo && p <= hi) {
			t.Errorf("%s %v: NaN gives %v, known inputs %v to %v", cfg.Loss, cfg.Quantile, p, lo, hi)
		}
	}
}
