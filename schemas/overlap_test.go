package schemas

import (
	"testing"
	"time"
)

func TestOverlap(t *testing.T) {
	t0 := time.Unix(1.7e9, 0)
	s := time.Second
	tests := []struct {
		name             string
		prev, start, end time.Duration
		want             int
	}{
		{"tumbling", 0, 30 * s, 60 * s, 1},
		{"hop of a tenth", 0, 3 * s, 33 * s, 10},
		{"hop of a third", 0, 20 * s, 80 * s, 3},
		{"hop not dividing the length", 0, 7 * s, 37 * s, 4},
		{"input missing in between", 0, 90 * s, 120 * s, 1},
		{"the same window again", 10 * s, 10 * s, 40 * s, 1},
	}
	for _, tc := range tests {
		if got := Overlap(t0.Add(tc.start), t0.Add(tc.end), t0.Add(tc.prev)); got != tc.want {
			t.Errorf("%s: Overlap = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := Overlap(t0, t0.Add(time.Minute), time.Time{}); got != 1 {
		t.Errorf("first window: Overlap = %d, want 1", got)
	}
}

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
