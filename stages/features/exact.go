package features

import (
	"math"
	"math/big"
)

// xsum accumulates a sum of float64 values exactly, as a list of
// non-overlapping partials (Shewchuk's algorithm, as in Python's
// math.fsum). The exact value does not depend on the order of the adds,
// which is what makes window features independent of arrival order.
// The first few partials live inline; sums of real data rarely need more.
type xsum struct {
	inline [6]float64
	n      int       // partials in inline
	more   []float64 // used once inline is full
}

func (s *xsum) partials() []float64 {
	if s.more != nil {
		return s.more
	}
	return s.inline[:s.n]
}

func (s *xsum) add(x float64) {
	p := s.partials()
	i := 0
	for _, y := range p {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			p[i] = lo
			i++
		}
		x = hi
	}
	if s.more == nil && i < len(s.inline) {
		s.inline[i] = x
		s.n = i + 1
		return
	}
	if s.more == nil {
		s.more = append(make([]float64, 0, 2*len(s.inline)), s.inline[:i]...)
	} else {
		s.more = s.more[:i]
	}
	s.more = append(s.more, x)
}

// addProduct adds a*b exactly: the rounded product and its rounding error.
func (s *xsum) addProduct(a, b float64) {
	p := a * b
	s.add(p)
	if e := math.FMA(a, b, -p); e != 0 {
		s.add(e)
	}
}

// big returns the exact sum at a precision that holds it exactly.
func (s *xsum) big() *big.Float { return s.bigIn(&bigArena{}) }

// bigIn is big with its numbers taken from ar. Each partial is an integer
// of 53 bits times a power of two, so the sum is an integer sum scaled by
// the smallest of those powers: big.Int arithmetic in the arena's scratch
// integers, which allocates nothing once they have grown (big.Float
// addition allocates for every pair of exponents that differ).
func (s *xsum) bigIn(ar *bigArena) *big.Float {
	p := s.partials()
	lo, found := 0, false
	for _, v := range p {
		if v == 0 {
			continue
		}
		_, e := math.Frexp(v)
		if !found || e < lo {
			lo, found = e, true
		}
	}
	acc, term := &ar.ints[0], &ar.ints[1]
	acc.SetInt64(0)
	for _, v := range p {
		if v == 0 {
			continue
		}
		frac, e := math.Frexp(v) // v = frac·2^e, 0.5 ≤ |frac| < 1: 53 bits
		term.SetInt64(int64(frac * (1 << 53)))
		acc.Add(acc, term.Lsh(term, uint(e-lo)))
	}
	out := ar.get(uint(max(64, acc.BitLen())))
	out.SetInt(acc)
	return out.SetMantExp(out, lo-53)
}

// bigArena hands out big.Floats for one computation and takes them all
// back at reset, so that closing a window allocates nothing once the
// arena has grown. An arena is used by one goroutine.
type bigArena struct {
	fs   []*big.Float
	n    int
	ints [2]big.Int // scratch for bigIn and the time sums
}

// get returns a zero with precision prec, valid until the next reset.
func (ar *bigArena) get(prec uint) *big.Float {
	if ar.n == len(ar.fs) {
		ar.fs = append(ar.fs, new(big.Float))
	}
	f := ar.fs[ar.n]
	ar.n++
	return f.SetInt64(0).SetPrec(prec) // +0 first: no rounding of the old value
}

func (ar *bigArena) reset() { ar.n = 0 }

// float64 returns x rounded to the nearest float64. It rounds in an arena
// Float first, so that the conversion copies one word, not x's mantissa.
func (ar *bigArena) float64(x *big.Float) float64 {
	v, _ := ar.get(53).Set(x).Float64()
	return v
}
