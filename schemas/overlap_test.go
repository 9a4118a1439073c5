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
