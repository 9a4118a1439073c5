package drift

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// KSTest is the two-sample Kolmogorov–Smirnov test of sorted samples ref
// and cur. The statistic D, the largest distance between their empirical
// CDFs, is gonum's; gonum has no p-value, so P is the asymptotic
// Kolmogorov distribution with Stephens' small-sample correction
// (Numerical Recipes §14.3): P = Q_KS((√Ne + 0.12 + 0.11/√Ne)·D) with
// Ne = n·m/(n+m). Empty samples give D = 0, P = 1.
func KSTest(ref, cur []float64) (d, p float64) {
	return KSTestSized(ref, cur, float64(len(ref)), float64(len(cur)))
}

// KSTestSized is KSTest with the samples counting as n and m independent
// values (see EffectiveSize) in the p-value.
func KSTestSized(ref, cur []float64, n, m float64) (d, p float64) {
	if len(ref) == 0 || len(cur) == 0 {
		return 0, 1
	}
	d = stat.KolmogorovSmirnov(ref, nil, cur, nil)
	ne := n * m / (n + m)
	sq := math.Sqrt(ne)
	return d, QKS((sq + 0.12 + 0.11/sq) * d)
}

// Lag1 is the lag-1 autocorrelation of xs, in the order given; 0 for
// fewer than 3 values or a constant series.
func Lag1(xs []float32) float64 {
	if len(xs) < 3 {
		return 0
	}
	var mean float64
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	var num, den float64
	for i, x := range xs {
		d := float64(x) - mean
		den += d * d
		if i > 0 {
			num += d * (float64(xs[i-1]) - mean)
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// EffectiveSize is how many independent values n values with lag-1
// autocorrelation rho are worth, n·(1−ρ)/(1+ρ) (the AR(1) variance
// inflation), between 2 and n. A sensor that moves slowly next to its
// sampling rate has consecutive values that say nearly the same thing:
// tested as if independent, any two of its windows would differ.
func EffectiveSize(n int, rho float64) float64 {
	if rho <= 0 {
		return float64(n)
	}
	return math.Min(float64(n), math.Max(2, float64(n)*(1-rho)/(1+rho)))
}

// QKS is the Kolmogorov distribution's complement,
// Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²), the probability that the
// scaled statistic exceeds λ.
func QKS(lambda float64) float64 {
	if lambda < 0.2 {
		return 1 // the series converges slowly here, and Q is 1 to 1e-7
	}
	var sum, prev float64
	sign := 1.0
	for j := 1; j <= 100; j++ {
		term := sign * 2 * math.Exp(-2*float64(j*j)*lambda*lambda)
		sum += term
		if math.Abs(term) <= 1e-12*math.Abs(sum) || math.Abs(term) <= 1e-16*prev {
			break
		}
		prev = math.Abs(term)
		sign = -sign
	}
	return math.Min(1, math.Max(0, sum))
}

// PSI is the population stability index of cur against ref (ref sorted)
// over bins at ref's quantiles (deciles for bins = 10):
// Σ (c_i − r_i)·ln(c_i/r_i) over the shares r_i, c_i of each sample in
// bin i, an empty bin counting as eps. The edge between bins i and i+1
// lies halfway between the reference values that rank k−1 and k, for
// k = round((i+1)·n/bins), so distinct reference values fill the bins
// evenly.
func PSI(ref, cur []float64, bins int, eps float64) float64 {
	if len(ref) < bins || len(cur) == 0 || bins < 2 {
		return 0
	}
	edges := make([]float64, bins-1)
	for i := range edges {
		k := int(math.Round(float64(i+1) * float64(len(ref)) / float64(bins)))
		edges[i] = (ref[k-1] + ref[k]) / 2
	}
	share := func(xs []float64) []float64 {
		out := make([]float64, bins)
		for _, x := range xs {
			// the number of edges at or below x: a value on an edge
			// belongs to the bin above it
			out[sort.Search(len(edges), func(i int) bool { return edges[i] > x })]++
		}
		for i := range out {
			out[i] /= float64(len(xs))
		}
		return out
	}
	r, c := share(ref), share(cur)
	var psi float64
	for i := range r {
		ri, ci := math.Max(r[i], eps), math.Max(c[i], eps)
		psi += (ci - ri) * math.Log(ci/ri)
	}
	return psi
}
