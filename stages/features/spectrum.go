package features

import "gonum.org/v1/gonum/dsp/fourier"

// spectrum computes band energies with gonum's FFT. It caches one FFT
// plan per length it has seen (bounded) and its work buffers, and is used
// by one goroutine.
type spectrum struct {
	bands int
	plans map[int]*fourier.FFT
	buf   []complex128
	seq   []float64 // the padded, mean-removed input
	vals  []float64 // a window's values in time order: the input
}

func newSpectrum(bands int) *spectrum {
	return &spectrum{bands: bands, plans: map[int]*fourier.FFT{}}
}

// bandEnergies splits the one-sided power spectrum of xs (taken as evenly
// spaced in time, mean removed) into equal-width bands from 0 to the
// Nyquist frequency. Powers are scaled so the bands sum to the population
// variance of xs (Parseval), in value units squared. Fewer than 4 samples
// give all-zero bands.
//
// The mean-removed samples are zero-padded to the next length whose only
// prime factors are 2, 3 and 5 (at most a few percent longer): an FFT of
// a length with a large prime factor costs O(n²), and a window's sample
// count is whatever arrived (a prime 1123 took a millisecond and stalled
// the stage when thousands of windows closed at once). Padding keeps the
// sum of the bands equal to the variance; it only samples the spectrum a
// little more finely.
func (s *spectrum) bandEnergies(xs []float64) []float64 {
	out := make([]float64, s.bands)
	n := len(xs)
	if n < 4 {
		return out
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	m := smooth5(n)
	if cap(s.seq) < m {
		s.seq = make([]float64, m)
	}
	seq := s.seq[:m]
	for i, x := range xs {
		seq[i] = x - mean
	}
	clear(seq[n:])
	plan := s.plans[m]
	if plan == nil {
		if len(s.plans) >= 64 {
			clear(s.plans)
		}
		plan = fourier.NewFFT(m)
		s.plans[m] = plan
	}
	if cap(s.buf) < m/2+1 {
		s.buf = make([]complex128, m/2+1)
	}
	s.buf = plan.Coefficients(s.buf[:m/2+1], seq)
	half := m / 2
	scale := float64(m) * float64(n)
	for k := 1; k <= half; k++ {
		c := s.buf[k]
		p := (real(c)*real(c) + imag(c)*imag(c)) / scale
		if k != half || m%2 == 1 {
			p *= 2 // the mirrored negative frequency
		}
		b := (k - 1) * s.bands / half
		out[b] += p
	}
	return out
}

// smooth5 returns the smallest n' >= n whose prime factors are all 2, 3
// or 5.
func smooth5(n int) int {
	for m := n; ; m++ {
		r := m
		for _, p := range []int{2, 3, 5} {
			for r%p == 0 {
				r /= p
			}
		}
		if r == 1 {
			return m
		}
	}
}
