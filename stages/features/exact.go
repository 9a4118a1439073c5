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

// bigIn is big with its numbers taken from ar.
func (s *xsum) bigIn(ar *bigArena) *big.Float {
	p := s.partials()
	lo, hi := 0, 0
	for i, v := range p {
		if v == 0 {
			continue
		}
		_, e := math.Frexp(v)
		if i == 0 || e < lo {
			lo = e
		}
		if i == 0 || e > hi {
			hi = e
		}
	}
	prec := uint(hi-lo+64) + 64
	out, term := ar.get(prec), ar.get(prec)
	for _, v := range p {
		out.Add(out, term.SetFloat64(v))
	}
	return out
}

// bigArena hands out big.Floats for one computation and takes them all
// back at reset, so that closing a window allocates nothing once the
// arena has grown. An arena is used by one goroutine.
type bigArena struct {
	fs []*big.Float
	n  int
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
