package features

import (
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
)

// spectrum computes band energies with gonum's FFT. It caches one FFT
// plan per length it has seen (bounded) and is used by one goroutine.
type spectrum struct {
	bands int
	plans map[int]*fourier.FFT
	buf   []complex128
}

func newSpectrum(bands int) *spectrum {
	return &spectrum{bands: bands, plans: map[int]*fourier.FFT{}}
}

// bandEnergies splits the one-sided power spectrum of xs (taken as evenly
// spaced in time, mean removed) into equal-width bands from 0 to the
// Nyquist frequency. Powers are scaled so the bands sum to the population
// variance of xs (Parseval), in value units squared. Fewer than 4 samples
// give all-zero bands.
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
	seq := make([]float64, n)
	for i, x := range xs {
		seq[i] = x - mean
	}
	plan := s.plans[n]
	if plan == nil {
		if len(s.plans) >= 64 {
			clear(s.plans)
		}
		plan = fourier.NewFFT(n)
		s.plans[n] = plan
	}
	if cap(s.buf) < n/2+1 {
		s.buf = make([]complex128, n/2+1)
	}
	s.buf = plan.Coefficients(s.buf[:n/2+1], seq)
	half := n / 2
	nn := float64(n) * float64(n)
	for k := 1; k <= half; k++ {
		p := cmplx.Abs(s.buf[k])
		p = p * p / nn
		if k != half || n%2 == 1 {
			p *= 2 // the mirrored negative frequency
		}
		b := (k - 1) * s.bands / half
		out[b] += p
	}
	return out
}
