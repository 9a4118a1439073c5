package score

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
)

// window makes a FeatureVector of a signal with the given level, noise
// and amplitude; kurt and maxDev shape its tails.
type gen struct {
	rng *rand.Rand
	t   time.Time
}

func (g *gen) fv(sensorType string, level, std, kurt, maxDev float64) *schemas.FeatureVector {
	g.t = g.t.Add(time.Minute)
	jit := func(v, rel float64) float64 { return v * (1 + rel*g.rng.NormFloat64()) }
	mean := level + std/math.Sqrt(60)*g.rng.NormFloat64()
	s := jit(std, 0.05)
	return &schemas.FeatureVector{SensorID: "s", AssetID: "a", SensorType: sensorType, WindowStart: g.t, WindowEnd: g.t.Add(time.Minute),
		Count: 60, Mean: mean, Std: s, Min: mean - jit(maxDev, 0.1)*s, Max: mean + jit(maxDev, 0.1)*s,
		RMS: math.Sqrt(mean*mean + s*s), Skewness: 0.1 * g.rng.NormFloat64(), Kurtosis: kurt + 0.1*g.rng.NormFloat64(),
		CrestFactor: (math.Abs(mean) + jit(maxDev, 0.1)*s) / math.Sqrt(mean*mean+s*s), PeakToPeak: 2 * jit(maxDev, 0.1) * s,
		Slope: 0.0005 * g.rng.NormFloat64()}
}

func newGen() *gen { return &gen{rng: rand.New(rand.NewPCG(4, 2)), t: time.Unix(1e9, 0)} }

func half(string) float64 { return 0.5 }

func TestAdaptiveWarmsUpThenScoresNormalLow(t *testing.T) {
	a := NewAdaptive(AdaptiveConfig{}, half)
	g := newGen()
	for i := range 5 {
		if a.Score(g.fv("temperature", 65, 0.3, 0, 2.5)).OK {
			t.Fatalf("scored window %d during the warm-up", i)
		}
	}
	high := 0
	for range 200 {
		v := a.Score(g.fv("temperature", 65, 0.3, 0, 2.5))
		s := v.Score
		if !v.OK {
			t.Fatal("not scoring after the warm-up")
		}
		if s >= 0.5 {
			high++
		}
	}
	if high > 2 {
		t.Fatalf("%d of 200 normal windows scored anomalous", high)
	}
}

func TestAdaptiveSeparatesIncidentsFromDriftAndSpikes(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		next    func(g *gen, i int) *schemas.FeatureVector // i counts windows after the baseline
		anomaly bool
		driver  string // the feature with the largest share, for anomalies
	}{
		{"level shift of 6 spreads", "pressure", func(g *gen, i int) *schemas.FeatureVector { return g.fv("pressure", 4.2+6*0.03, 0.03, 0, 2.5) }, true, "mean"},
		{"bearing wear: spread x2.5, heavy tails", "vibration", func(g *gen, i int) *schemas.FeatureVector { return g.fv("vibration", 0, 3.7, 4, 6) }, true, "std+kurtosis"},
		{"drift of 2 spreads over 10 windows", "temperature", func(g *gen, i int) *schemas.FeatureVector {
			return g.fv("temperature", 65+0.6*math.Min(1, float64(i)/10), 0.3, 0, 2.5)
		}, false, ""},
		{"a spike: tails only", "vibration", func(g *gen, i int) *schemas.FeatureVector {
			fv := g.fv("vibration", 0, 1.5, 0, 2.5)
			fv.Max, fv.PeakToPeak, fv.CrestFactor, fv.Kurtosis, fv.Std = 15, 18, 10, 40, 1.55
			return fv
		}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdaptive(AdaptiveConfig{}, half)
			g := newGen()
			base := map[string][3]float64{"pressure": {4.2, 0.03, 2.5}, "vibration": {0, 1.5, 2.5}, "temperature": {65, 0.3, 2.5}}[tc.typ]
			for range 30 {
				a.Score(g.fv(tc.typ, base[0], base[1], 0, base[2]))
			}
			flagged := 0
			var last map[string]float64
			for i := range 12 {
				v := a.Score(tc.next(g, i))
				if v.Score >= 0.5 {
					flagged++
					last = v.Shares
					if tc.driver == "mean" && v.Deviations["mean"] < 4 {
						t.Errorf("mean deviation %v, want the shift's +6 spreads", v.Deviations["mean"])
					}
				}
			}
			if tc.anomaly && flagged < 10 || !tc.anomaly && flagged > 0 {
				t.Fatalf("%d of 12 windows flagged", flagged)
			}
			if tc.anomaly {
				sum := 0.0
				for _, v := range last {
					sum += v
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("shares sum to %v", sum)
				}
				switch tc.driver {
				case "mean":
					if last["mean"] < 0.3 {
						t.Errorf("mean's share %v: %v", last["mean"], last)
					}
				case "std+kurtosis":
					if last["std"] < 0.5 {
						t.Errorf("std should carry the score: %v", last)
					}
				}
			}
		})
	}
}

func TestAdaptiveBaselineAdaptsAfterMaxFrozen(t *testing.T) {
	a := NewAdaptive(AdaptiveConfig{MaxFrozen: 5, History: 10}, half)
	g := newGen()
	for range 20 {
		a.Score(g.fv("pressure", 4.2, 0.03, 0, 2.5))
	}
	var scores []float64
	for range 40 {
		v := a.Score(g.fv("pressure", 4.5, 0.03, 0, 2.5)) // a new normal, 10 spreads up
		scores = append(scores, v.Score)
	}
	if scores[0] < 0.9 || scores[len(scores)-1] > 0.5 {
		t.Fatalf("first %v last %v: want high, then adapted", scores[0], scores[len(scores)-1])
	}
}

func TestAdaptiveStateIsBounded(t *testing.T) {
	a := NewAdaptive(AdaptiveConfig{MaxSensors: 100}, half)
	g := newGen()
	for i := range 1000 {
		fv := g.fv("t", 1, 1, 0, 2)
		fv.SensorID = string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		a.Score(fv)
	}
	if n := a.Sensors(); n > 100 {
		t.Fatalf("%d sensors held, bound 100", n)
	}
}
