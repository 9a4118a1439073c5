package features

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestExactSumIsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 5000)
	for i := range xs {
		// Wide exponent range and cancellation: the hard case for sums.
		xs[i] = (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(40)-20))
	}
	xs = append(xs, 1e100, -1e100, 1e-100, 5e-324, -3e-310) // and subnormals
	exact := new(big.Float).SetPrec(8000)
	for _, x := range xs {
		exact.Add(exact, new(big.Float).SetPrec(8000).SetFloat64(x))
	}
	want, _ := exact.Float64()
	for trial := range 5 {
		rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		var s xsum
		for _, x := range xs {
			s.add(x)
		}
		got, _ := s.big().Float64()
		if got != want {
			t.Fatalf("trial %d: %v, want %v", trial, got, want)
		}
		if s.big().Cmp(exact) != 0 {
			t.Fatalf("trial %d: the partials do not hold the exact sum", trial)
		}
	}
}

func TestAddProductIsExact(t *testing.T) {
	var s xsum
	a, b := 101325.123456789, 101325.987654321
	s.addProduct(a, b)
	want := new(big.Float).SetPrec(200).Mul(new(big.Float).SetFloat64(a), new(big.Float).SetFloat64(b))
	if s.big().Cmp(want) != 0 {
		t.Fatalf("%v != %v", s.big(), want)
	}
}

func BenchmarkXsumAdd(b *testing.B) {
	var s xsum
	x := 65.25
	for b.Loop() {
		s.add(x)
		x += 0.001
	}
}
