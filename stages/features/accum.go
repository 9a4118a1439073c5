package features

import (
	"cmp"
	"math"
	"math/big"
	"math/bits"
	"slices"
)

// accum holds what a window needs to compute its features in one pass:
// exact sums of the powers of the values and of the time products (so the
// result depends neither on arrival order nor on cancellation between a
// large mean and a small spread), extremes, and, for spectral sensor types
// only, the samples themselves.
type accum struct {
	n                int64
	s1, s2, s3, s4   xsum      // sums of x, x², x³, x⁴
	stx              xsum      // sum of t·x
	st               int64     // sum of t; t is in µs from the window's origin
	stt              [2]uint64 // sum of t², 128 bits (high, low)
	min, max, maxAbs float64
	samples          []sample // only when spectral
	sampleUnit       int64    // of samples' t, in µs (0 means 1)
	spectral         bool
	unsorted         bool // samples arrived out of (time, value) order
}

// sample is a reading kept for the spectrum, in 12 bytes instead of a
// time and value's 16: a spectral sensor read 20 times a second keeps
// 1,200 of them per minute window. The value is exact (its float64 bits
// in two halves, so that the struct needs only 4-byte alignment); the
// time is in the accum's sampleUnit, clamped to int32.
type sample struct {
	t int32     // from the window's origin, in sampleUnit
	x [2]uint32 // the value's float64 bits, low half first
}

func newSample(t int32, x float64) sample {
	b := math.Float64bits(x)
	return sample{t: t, x: [2]uint32{uint32(b), uint32(b >> 32)}}
}

func (s sample) value() float64 { return math.Float64frombits(uint64(s.x[1])<<32 | uint64(s.x[0])) }

// compareSamples orders samples by time, then value.
func compareSamples(p, q sample) int {
	if c := cmp.Compare(p.t, q.t); c != 0 {
		return c
	}
	return cmp.Compare(p.value(), q.value())
}

func (a *accum) add(tMicros int64, x float64) {
	if a.n == 0 {
		a.min, a.max = x, x
	}
	a.n++
	a.min = min(a.min, x)
	a.max = max(a.max, x)
	a.maxAbs = max(a.maxAbs, math.Abs(x))
	a.s1.add(x)
	// x², x³ and x⁴ exactly: x² = h + l by FMA, then products of those.
	h := x * x
	l := math.FMA(x, x, -h)
	a.s2.add(h)
	a.s2.add(l)
	a.s3.addProduct(h, x)
	a.s3.addProduct(l, x)
	a.s4.addProduct(h, h)
	a.s4.addProduct(h, 2*l)
	a.s4.addProduct(l, l)
	// Time sums in integer microseconds are exact and cheap; t·x is exact
	// as a float product (|t| < 2⁵³) plus its rounding error.
	a.st += tMicros
	at := uint64(tMicros)
	if tMicros < 0 { // count windows: a reading older than the first
		at = uint64(-tMicros)
	}
	hi, lo := bits.Mul64(at, at)
	var carry uint64
	a.stt[1], carry = bits.Add64(a.stt[1], lo, 0)
	a.stt[0] += hi + carry
	a.stx.addProduct(float64(tMicros), x)
	if a.spectral {
		t := tMicros
		if a.sampleUnit > 1 {
			t /= a.sampleUnit
		}
		s := newSample(int32(max(math.MinInt32, min(math.MaxInt32, t))), x)
		if n := len(a.samples); n > 0 && !a.unsorted && compareSamples(s, a.samples[n-1]) < 0 {
			a.unsorted = true
		}
		a.samples = append(a.samples, s)
	}
}

// stats are a window's features before the spectrum.
type stats struct {
	count                                        int64
	mean, std, min, max, rms, skewness, kurtosis float64
	crest, peakToPeak, slope                     float64
}

// compute derives the statistics. Degenerate windows get defined values,
// never NaN: std is 0 below 2 readings, skewness 0 below 3 and kurtosis 0
// below 4 readings or when the values do not vary, crest factor 0 when the
// rms is 0, slope 0 below 2 readings or when all share one timestamp.
func (a *accum) compute() stats { return a.computeIn(&bigArena{}) }

// computeIn is compute with its big numbers from ar, which it resets.
//
// The sums are exact, and so are the central moments scaled by powers of
// n, which need only products and differences of them:
//
//	n²·m2 = n·Σx² − (Σx)²
//	n³·m3 = n²·Σx³ − 3n·Σx·Σx² + 2(Σx)³
//	n⁴·m4 = n³·Σx⁴ − 4n²·Σx·Σx³ + 6n·(Σx)²·Σx² − 3(Σx)⁴
//
// each is rounded once to float64 and divided there by its power of n, so
// a statistic is off by at most a few units in the last place, never by
// cancellation, and does not depend on the order the readings came in.
// (Dividing in big.Float instead allocated on every window.)
func (a *accum) computeIn(ar *bigArena) stats {
	defer ar.reset()
	st := stats{count: a.n, min: a.min, max: a.max, peakToPeak: a.max - a.min}
	if a.n == 0 {
		return stats{}
	}
	sums := [5]*big.Float{a.s1.bigIn(ar), a.s2.bigIn(ar), a.s3.bigIn(ar), a.s4.bigIn(ar), a.stx.bigIn(ar)}
	s1, s2, s3, s4, sTX := sums[0], sums[1], sums[2], sums[3], sums[4]
	// Enough bits for every product below to be exact: four sums, or a
	// sum and three factors of n (64 bits each).
	prec := uint(256)
	for _, s := range sums {
		prec = max(prec, 4*s.MinPrec()+256)
	}
	f := func() *big.Float { return ar.get(prec) }
	k := func(v int64) *big.Float { return f().SetInt64(v) }
	n := k(a.n)
	nn := f().Mul(n, n)
	s1s1 := f().Mul(s1, s1)
	n2m2 := f().Sub(f().Mul(n, s2), s1s1)
	n3m3 := f().Sub(f().Mul(nn, s3), f().Mul(k(3), f().Mul(n, f().Mul(s1, s2))))
	n3m3 = f().Add(n3m3, f().Mul(k(2), f().Mul(s1s1, s1)))
	n4m4 := f().Sub(f().Mul(f().Mul(nn, n), s4), f().Mul(k(4), f().Mul(nn, f().Mul(s1, s3))))
	n4m4 = f().Add(n4m4, f().Mul(k(6), f().Mul(n, f().Mul(s1s1, s2))))
	n4m4 = f().Sub(n4m4, f().Mul(k(3), f().Mul(s1s1, s1s1)))

	nf := float64(a.n)
	st.mean = ar.float64(s1) / nf
	st.rms = math.Sqrt(ar.float64(s2) / nf)
	v := math.Max(0, ar.float64(n2m2)/(nf*nf)) // the population variance
	if a.n >= 2 {
		st.std = math.Sqrt(v * nf / (nf - 1))
	}
	if v > 0 {
		if a.n >= 3 {
			st.skewness = ar.float64(n3m3) / (nf * nf * nf) / math.Pow(v, 1.5)
		}
		if a.n >= 4 {
			st.kurtosis = ar.float64(n4m4)/(nf*nf*nf*nf)/(v*v) - 3
		}
	}
	if st.rms > 0 {
		st.crest = a.maxAbs / st.rms
	}
	if a.n >= 2 {
		// slope = (n·Σtx − Σt·Σx) / (n·Σt² − (Σt)²)
		sT := k(a.st)
		hi, lo := &ar.ints[0], &ar.ints[1]
		hi.SetUint64(a.stt[0])
		hi.Lsh(hi, 64).Or(hi, lo.SetUint64(a.stt[1]))
		sTT := f().SetInt(hi)
		num := f().Sub(f().Mul(n, sTX), f().Mul(sT, s1))
		den := f().Sub(f().Mul(n, sTT), f().Mul(sT, sT))
		if den.Sign() > 0 { // per µs, so times 10⁶ per second
			st.slope = ar.float64(num) / ar.float64(den) * 1_000_000
		}
	}
	return st
}

// sortedValues returns the samples' values ordered by time (then value,
// so equal timestamps still give one order), in buf's memory when it is
// large enough.
func (a *accum) sortedValues(buf []float64) []float64 {
	if a.unsorted { // most windows' readings arrive in order
		slices.SortFunc(a.samples, compareSamples)
		a.unsorted = false
	}
	out := buf[:0]
	for _, s := range a.samples {
		out = append(out, s.value())
	}
	return out
}
