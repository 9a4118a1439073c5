package features

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchWindow is a closed 60 s window of a sensor read 18.75 times a
// second: the bench's 187,500 readings/s over 10,000 sensors.
func benchWindow(rng *rand.Rand, id string, spectral bool) *window {
	w := &window{s: &sensor{id: id}, start: 0, end: 60_000_000}
	w.acc.spectral = spectral
	for i := range 1125 {
		w.acc.add(int64(i)*53_333, 2+rng.NormFloat64())
	}
	return w
}

// BenchmarkVector measures computing one closed window's vector:
// statistics, and for a spectral type the sort and FFT of its samples.
func BenchmarkVector(b *testing.B) {
	for _, spectral := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "spectral"}[spectral], func(b *testing.B) {
			s, err := New(Config{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			w := benchWindow(rand.New(rand.NewPCG(1, 2)), "s", spectral)
			b.ReportAllocs()
			for b.Loop() {
				_ = s.vector(s.calcs[0], w)
			}
		})
	}
}

// BenchmarkCloseBurst measures the close of 10,000 sensors' windows at
// once, a quarter of them spectral (the bench's mix), on one goroutine and
// on two: the time from the watermark passing to the last vector.
func BenchmarkCloseBurst(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	ws := make([]*window, 10_000)
	for i := range ws {
		ws[i] = benchWindow(rng, "sensor-"+strconv.Itoa(i), i%4 == 1)
	}
	for _, workers := range []int{1, 2} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			s, err := New(Config{Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				_ = s.vectors(ws)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ws)), "ns/window")
		})
	}
}
