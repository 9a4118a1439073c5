package schemas

import (
	"testing"
	"time"
)

func TestHops(t *testing.T) {
	t0 := time.Unix(1.7e9, 0)
	s := time.Second
	// starts lists window starts (seconds after t0) of windows size long;
	// want is the overlap after the last.
	tests := []struct {
		name   string
		size   time.Duration
		starts []float64
		want   int
	}{
		{"first window", 60 * s, []float64{0}, 1},
		{"tumbling", 60 * s, []float64{0, 60, 120, 180}, 1},
		{"tumbling with gaps", 60 * s, []float64{0, 60, 300, 360, 900}, 1},
		{"hopping by a tenth", 60 * s, []float64{0, 6, 12, 18, 24, 30, 36}, 10},
		{"hopping by a third", 60 * s, []float64{0, 20, 40, 60}, 3},
		{"a hop not dividing the length", 30 * s, []float64{0, 7, 14, 21}, 4},
		{"a window missing", 60 * s, []float64{0, 6, 12, 24, 30, 36}, 10},
		{"two in a row missing", 60 * s, []float64{0, 6, 12, 18, 36, 42}, 10},
		{"a stray window a microsecond late", 60 * s, []float64{0, 60, 120, 120.000001, 180, 240}, 1},
		{"the same window again", 60 * s, []float64{0, 60, 120, 120, 120, 180}, 1},
		{"read less often than the hop", 60 * s, []float64{0, 30, 90, 120, 180, 210, 270, 300, 360}, 2},
		{"hop lengthened, five windows since", 60 * s, []float64{0, 6, 12, 18, 24, 30, 90, 150, 210, 270, 330}, 1},
		{"hop lengthened, four windows since", 60 * s, []float64{0, 6, 12, 18, 24, 30, 90, 150, 210, 270}, 10},
		{"hop shortened", 60 * s, []float64{0, 60, 120, 180, 240, 300, 306}, 10},
		{"a hop of a sixtieth", 60 * s, []float64{0, 1, 2, 3}, MaxOverlap},
		{"gaps under a sixtieth: strays", 60 * s, []float64{0, 0.1, 0.2, 0.3}, 1},
	}
	for _, tc := range tests {
		var h Hops
		got := 0
		for _, st := range tc.starts {
			start := t0.Add(time.Duration(st * float64(s)))
			got = h.Observe(start, start.Add(tc.size))
		}
		if got != tc.want || h.Overlap() != tc.want {
			t.Errorf("%s: Observe = %d, Overlap = %d, want %d", tc.name, got, h.Overlap(), tc.want)
		}
	}
	var h Hops
	if h.Overlap() != 1 || !h.Last().IsZero() {
		t.Errorf("zero Hops: Overlap %d, Last %v; want 1 and zero", h.Overlap(), h.Last())
	}
}
