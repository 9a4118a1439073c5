package features

import (
	"math"
	"math/big"
	"math/cmplx"
	"testing"
)

// reference computes the statistics the slow way: two passes in 512-bit
// floats over the values, an independent route to the same definitions.
func reference(ts []float64, xs []float64) stats {
	const prec = 512
	f := func(v float64) *big.Float { return new(big.Float).SetPrec(prec).SetFloat64(v) }
	n := len(xs)
	st := stats{count: int64(n), min: xs[0], max: xs[0]}
	sum := f(0)
	for _, x := range xs {
		sum.Add(sum, f(x))
		st.min, st.max = math.Min(st.min, x), math.Max(st.max, x)
	}
	nb := new(big.Float).SetPrec(prec).SetInt64(int64(n))
	mean := new(big.Float).SetPrec(prec).Quo(sum, nb)
	m := [5]*big.Float{f(0), f(0), f(0), f(0), f(0)}
	sq, maxAbs := f(0), 0.0
	for _, x := range xs {
		d := new(big.Float).SetPrec(prec).Sub(f(x), mean)
		p := f(1)
		for k := 1; k <= 4; k++ {
			p.Mul(p, d)
			m[k].Add(m[k], p)
		}
		sq.Add(sq, new(big.Float).SetPrec(prec).Mul(f(x), f(x)))
		maxAbs = math.Max(maxAbs, math.Abs(x))
	}
	for k := 2; k <= 4; k++ {
		m[k].Quo(m[k], nb)
	}
	st.mean, _ = mean.Float64()
	m2, _ := m[2].Float64()
	m3, _ := m[3].Float64()
	m4, _ := m[4].Float64()
	r, _ := sq.Quo(sq, nb).Float64()
	st.rms = math.Sqrt(r)
	st.peakToPeak = st.max - st.min
	if n >= 2 {
		st.std = math.Sqrt(m2 * float64(n) / float64(n-1))
		// slope by centred least squares
		var tm, xm float64
		for i := range ts {
			tm += ts[i]
			xm += xs[i]
		}
		tm /= float64(n)
		xm /= float64(n)
		var sxy, sxx float64
		for i := range ts {
			sxy += (ts[i] - tm) * (xs[i] - xm)
			sxx += (ts[i] - tm) * (ts[i] - tm)
		}
		if sxx > 0 {
			st.slope = sxy / sxx
		}
	}
	if m2 > 0 && n >= 3 {
		st.skewness = m3 / math.Pow(m2, 1.5)
	}
	if m2 > 0 && n >= 4 {
		st.kurtosis = m4/(m2*m2) - 3
	}
	if st.rms > 0 {
		st.crest = maxAbs / st.rms
	}
	return st
}

func close(a, b, scale float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(b), scale))
}

func TestStatisticsAgainstReference(t *testing.T) {
	ramp := func(n int, f func(i int) float64) ([]float64, []float64) {
		ts, xs := make([]float64, n), make([]float64, n)
		for i := range n {
			ts[i], xs[i] = float64(i)*0.5, f(i)
		}
		return ts, xs
	}
	tests := []struct {
		name string
		ts   []float64
		xs   []float64
		want *stats // documented values for degenerate windows; nil: the reference
	}{
		{name: "one reading", ts: []float64{0}, xs: []float64{4.5},
			want: &stats{count: 1, mean: 4.5, min: 4.5, max: 4.5, rms: 4.5, crest: 1}},
		{name: "two readings", ts: []float64{0, 1}, xs: []float64{1, 3},
			want: &stats{count: 2, mean: 2, std: math.Sqrt2, min: 1, max: 3, rms: math.Sqrt(5), crest: 3 / math.Sqrt(5), peakToPeak: 2, slope: 2}},
		{name: "constant", ts: []float64{0, 1, 2, 3, 4}, xs: []float64{-3, -3, -3, -3, -3},
			want: &stats{count: 5, mean: -3, min: -3, max: -3, rms: 3, crest: 1}},
		{name: "all zero", ts: []float64{0, 1, 2, 3}, xs: []float64{0, 0, 0, 0},
			want: &stats{count: 4}},
		{name: "same timestamp", ts: []float64{5, 5, 5}, xs: []float64{1, 2, 6}},
		{name: "textbook set", ts: []float64{0, 1, 2, 3, 4, 5, 6, 7}, xs: []float64{2, 4, 4, 4, 5, 5, 7, 9}},
		{name: "ramp", ts: nil, xs: nil},
		{name: "pascals: big level, small spread", ts: nil, xs: nil},
		{name: "sine", ts: nil, xs: nil},
		{name: "heavy tail", ts: nil, xs: nil},
	}
	tests[6].ts, tests[6].xs = ramp(50, func(i int) float64 { return 2*float64(i)*0.5 + 1 })
	tests[7].ts, tests[7].xs = ramp(600, func(i int) float64 { return 101325 + math.Sin(float64(i)*1.3)*0.7 + float64(i%7)*0.01 })
	tests[8].ts, tests[8].xs = ramp(1200, func(i int) float64 { return 2 * math.Sin(2*math.Pi*1.7*float64(i)*0.05) })
	tests[9].ts, tests[9].xs = ramp(300, func(i int) float64 {
		if i%50 == 0 {
			return 40
		}
		return math.Sin(float64(i))
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a accum
			for i := range tc.xs {
				a.add(int64(math.Round(tc.ts[i]*1e6)), tc.xs[i])
			}
			got := a.compute()
			want := reference(tc.ts, tc.xs)
			if tc.want != nil {
				want = *tc.want
			}
			check := func(name string, g, w float64) {
				if !close(g, w, math.Abs(want.mean)) || math.IsNaN(g) {
					t.Errorf("%s = %.15g, want %.15g", name, g, w)
				}
			}
			if got.count != want.count {
				t.Errorf("count %d, want %d", got.count, want.count)
			}
			check("mean", got.mean, want.mean)
			check("std", got.std, want.std)
			check("min", got.min, want.min)
			check("max", got.max, want.max)
			check("rms", got.rms, want.rms)
			check("skewness", got.skewness, want.skewness)
			check("kurtosis", got.kurtosis, want.kurtosis)
			check("crest", got.crest, want.crest)
			check("peak-to-peak", got.peakToPeak, want.peakToPeak)
			check("slope", got.slope, want.slope)
		})
	}
}

// Known values: for 2,4,4,4,5,5,7,9 the population std is exactly 2.
func TestTextbookValues(t *testing.T) {
	var a accum
	for i, x := range []float64{2, 4, 4, 4, 5, 5, 7, 9} {
		a.add(int64(i)*1e6, x)
	}
	st := a.compute()
	if st.mean != 5 || math.Abs(st.std-math.Sqrt(32.0/7)) > 1e-15 {
		t.Fatalf("mean %v std %v", st.mean, st.std)
	}
	// Deviations -3,-1,-1,-1,0,0,2,4: m2 = 32/8 = 4, m3 = 42/8, m4 = 356/8,
	// so skewness 5.25/8 = 0.65625 and excess kurtosis 44.5/16 - 3 = -0.21875.
	if math.Abs(st.skewness-0.65625) > 1e-15 || math.Abs(st.kurtosis+0.21875) > 1e-15 {
		t.Fatalf("skewness %v kurtosis %v", st.skewness, st.kurtosis)
	}
}

func TestBandEnergiesAgainstNaiveDFT(t *testing.T) {
	const n, fs, bands = 1200, 20.0, 8
	xs := make([]float64, n)
	for i := range xs {
		tt := float64(i) / fs
		xs[i] = 3 + 2*math.Sin(2*math.Pi*1.7*tt) + 0.8*math.Sin(2*math.Pi*6.4*tt) + 0.1*math.Cos(2*math.Pi*9.1*tt)
	}
	got := newSpectrum(bands).bandEnergies(xs)
	// Naive one-sided DFT power of the mean-removed signal.
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= n
	want := make([]float64, bands)
	var variance float64
	for _, x := range xs {
		variance += (x - mean) * (x - mean) / n
	}
	for k := 1; k <= n/2; k++ {
		var c complex128
		for j, x := range xs {
			c += complex(x-mean, 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/n))
		}
		p := cmplx.Abs(c) * cmplx.Abs(c) / (n * n)
		if k != n/2 {
			p *= 2
		}
		want[(k-1)*bands/(n/2)] += p
	}
	total := 0.0
	for b := range bands {
		total += got[b]
		if math.Abs(got[b]-want[b]) > 1e-9 {
			t.Errorf("band %d: %v, naive DFT %v", b, got[b], want[b])
		}
	}
	if math.Abs(total-variance) > 1e-9 {
		t.Errorf("bands sum to %v, variance %v", total, variance)
	}
	// 1.7 Hz of 10 Hz Nyquist is band 1; 6.4 Hz band 5; 9.1 Hz band 7.
	if got[1] < 1.9 || got[5] < 0.3 || got[7] < 0.004 || got[0] > 1e-6 {
		t.Errorf("energy not where the tones are: %v", got)
	}
	// A length with a large prime factor is zero-padded to a 5-smooth one:
	// the bands are the naive DFT of the padded sequence, and still sum to
	// the variance of the samples.
	const p = 1123 // prime; padded to 1125
	ys := xs[:p]
	got = newSpectrum(bands).bandEnergies(ys)
	mean, variance = 0, 0
	for _, y := range ys {
		mean += y
	}
	mean /= p
	for _, y := range ys {
		variance += (y - mean) * (y - mean) / p
	}
	const m = 1125
	want = make([]float64, bands)
	for k := 1; k <= m/2; k++ {
		var c complex128
		for j, y := range ys {
			c += complex(y-mean, 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/m))
		}
		pw := 2 * cmplx.Abs(c) * cmplx.Abs(c) / (m * p) // m is odd: no Nyquist bin
		want[(k-1)*bands/(m/2)] += pw
	}
	total = 0
	for b := range bands {
		total += got[b]
		if math.Abs(got[b]-want[b]) > 1e-9 {
			t.Errorf("padded, band %d: %v, naive DFT %v", b, got[b], want[b])
		}
	}
	if math.Abs(total-variance) > 1e-9 {
		t.Errorf("padded: bands sum to %v, variance %v", total, variance)
	}
	for _, c := range [][2]int{{1, 1}, {7, 8}, {1123, 1125}, {1024, 1024}, {1201, 1215}} {
		if got := smooth5(c[0]); got != c[1] {
			t.Errorf("smooth5(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	if z := newSpectrum(4).bandEnergies([]float64{1, 2, 3}); len(z) != 4 || z[0] != 0 {
		t.Errorf("three samples: %v", z)
	}
}

// Samples keep their time order whatever the span: windows long enough to
// overflow int32 microseconds keep milliseconds, and times beyond int32 of
// those are clamped to the ends.
func TestSampleOrderOverLongSpans(t *testing.T) {
	for _, tc := range []struct {
		unit int64
		ts   []int64 // µs, arrival order
		want []float64
	}{
		{1, []int64{3, -2, 1_000_000}, []float64{-2, 3, 1_000_000}},
		{1000, []int64{5_000_000_000, -7_000, 2_000_000_000, 1_000}, []float64{-7_000, 1_000, 2_000_000_000, 5_000_000_000}},
		{1000, []int64{1 << 50, 0, -(1 << 50)}, []float64{-(1 << 50), 0, 1 << 50}},
	} {
		a := accum{spectral: true, sampleUnit: tc.unit}
		for _, ts := range tc.ts {
			a.add(ts, float64(ts)) // the value names its time
		}
		got := a.sortedValues(nil)
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-6*math.Abs(tc.want[i]) {
				t.Errorf("unit %d: values in time order %v, want %v", tc.unit, got, tc.want)
				break
			}
		}
	}
}
