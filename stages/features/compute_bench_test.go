package features

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkCompute measures one window's statistics from its exact sums:
// the work done for every window when it closes (10,000 of them at once
// every window length, with 10,000 sensors).
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{10, 60, 600} {
		b.Run(map[int]string{10: "n=10", 60: "n=60", 600: "n=600"}[n], func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var a accum
			for i := range n {
				a.add(int64(i)*1_000_000, 80+rng.NormFloat64())
			}
			var ar bigArena // the stage keeps one across windows
			b.ReportAllocs()
			for b.Loop() {
				_ = a.computeIn(&ar)
			}
		})
	}
}
