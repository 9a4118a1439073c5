package drift

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// Published critical values of the Kolmogorov distribution (Smirnov
// 1948; e.g. Numerical Recipes, Massey 1951): Q(1.2238) = 0.10,
// Q(1.3581) = 0.05, Q(1.6276) = 0.01, Q(1.9495) = 0.001.
func TestQKSPublishedValues(t *testing.T) {
	for _, c := range []struct{ lambda, q float64 }{{1.2238, 0.10}, {1.3581, 0.05}, {1.6276, 0.01}, {1.9495, 0.001}} {
		if got := QKS(c.lambda); math.Abs(got-c.q) > 2e-4 {
			t.Errorf("Q(%v) = %v, want %v", c.lambda, got, c.q)
		}
	}
	if QKS(0) != 1 || QKS(10) > 1e-80 {
		t.Errorf("tails: Q(0)=%v Q(10)=%v", QKS(0), QKS(10))
	}
}

// exactKS returns P(D ≥ d) for two samples of n each with no ties, by
// counting lattice paths (Hodges 1958): the chance that a random
// arrangement of the 2n values keeps |i−j| < d·n all the way.
func exactKS(n int, d float64) float64 {
	limit := d*float64(n) - 1e-9
	paths := make([][]*big.Int, n+1)
	for i := range paths {
		paths[i] = make([]*big.Int, n+1)
		for j := range paths[i] {
			paths[i][j] = new(big.Int)
			if math.Abs(float64(i-j)) >= limit {
				continue
			}
			switch {
			case i == 0 && j == 0:
				paths[i][j].SetInt64(1)
			default:
				if i > 0 {
					paths[i][j].Add(paths[i][j], paths[i-1][j])
				}
				if j > 0 {
					paths[i][j].Add(paths[i][j], paths[i][j-1])
				}
			}
		}
	}
	total := new(big.Int).Binomial(int64(2*n), int64(n))
	inside, _ := new(big.Rat).SetFrac(paths[n][n], total).Float64()
	return 1 - inside
}

func TestKSTestAgainstExactAndNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 80
	for trial := range 6 {
		a, b := make([]float64, n), make([]float64, n)
		for i := range n {
			a[i] = rng.NormFloat64()
			b[i] = rng.NormFloat64() + 0.15*float64(trial)
		}
		slices.Sort(a)
		slices.Sort(b)
		d, p := KSTest(a, b)
		// D by a naive walk over every value.
		var naive float64
		for _, x := range append(append([]float64(nil), a...), b...) {
			fa := float64(countLE(a, x)) / n
			fb := float64(countLE(b, x)) / n
			naive = math.Max(naive, math.Abs(fa-fb))
		}
		if math.Abs(d-naive) > 1e-12 {
			t.Fatalf("D = %v, naive %v", d, naive)
		}
		if exact := exactKS(n, d); math.Abs(p-exact) > 0.01+0.1*exact {
			t.Errorf("trial %d: D=%.4f p=%.5f, exact %.5f", trial, d, p, exact)
		}
	}
}

func countLE(xs []float64, x float64) int {
	n := 0
	for _, v := range xs {
		if v <= x {
			n++
		}
	}
	return n
}

func TestPSI(t *testing.T) {
	ref := make([]float64, 100)
	for i := range ref {
		ref[i] = float64(i)
	}
	if got := PSI(ref, ref, 10, 1e-4); got != 0 {
		t.Errorf("PSI of a sample with itself = %v", got)
	}
	// All of cur in the first decile: (1−0.1)·ln(1/0.1) + 9·(1e-4−0.1)·ln(1e-4/0.1).
	cur := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	want := 0.9*math.Log(10) + 9*(1e-4-0.1)*math.Log(1e-4/0.1)
	if got := PSI(ref, cur, 10, 1e-4); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI = %v, want %v (8.2832)", got, want)
	}
	// Half the mass moved from the top decile into the bottom one.
	shifted := slices.Clone(ref)
	for i := 90; i < 100; i++ {
		shifted[i] = -1
	}
	slices.Sort(shifted)
	want = (0.2-0.1)*math.Log(2) + (1e-4-0.1)*math.Log(1e-4/0.1)
	if got := PSI(ref, shifted, 10, 1e-4); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI = %v, want %v", got, want)
	}
}

func TestLag1AndEffectiveSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	white := make([]float32, 2000)
	ar := make([]float32, 2000)
	var x float64
	for i := range white {
		white[i] = float32(rng.NormFloat64())
		x = 0.9*x + rng.NormFloat64()
		ar[i] = float32(x)
	}
	tests := []struct {
		name     string
		xs       []float32
		rho      float64 // expected, ±0.06
		n, nEff  int
		minRatio float64
	}{
		{"white noise", white, 0, 2000, 2000, 0.85},
		{"AR(1) 0.9", ar, 0.9, 2000, 105, 0.6}, // 2000·0.1/1.9
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rho := Lag1(tc.xs)
			if math.Abs(rho-tc.rho) > 0.06 {
				t.Fatalf("Lag1 = %.3f, want about %.2f", rho, tc.rho)
			}
			got := EffectiveSize(tc.n, rho)
			if got > float64(tc.n) || got < tc.minRatio*float64(tc.nEff) || got > float64(tc.nEff)/tc.minRatio {
				t.Fatalf("EffectiveSize = %.0f, want about %d", got, tc.nEff)
			}
		})
	}
	if got := EffectiveSize(300, 0.9999); got != 2 {
		t.Errorf("EffectiveSize of a near-constant series = %v, want the floor 2", got)
	}
	if got := Lag1([]float32{1, 1, 1, 1}); got != 0 {
		t.Errorf("Lag1 of a constant = %v", got)
	}
}
