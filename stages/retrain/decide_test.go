package retrain

import "testing"

func TestTooMany(t *testing.T) {
	for _, tc := range []struct {
		far  float64
		n    int
		want bool
	}{
		{0.1, 10, false},  // one of ten: no evidence against 5%
		{0.4, 10, true},   // four of ten (three: 1.2%, not quite)
		{0.04, 50, false}, // two of fifty
		{0.16, 50, true},  // eight of fifty: the demo's forest trained on a degradation
		{0.28, 25, true},
		{0, 0, false},
	} {
		if got := tooMany(tc.far, tc.n, 0.05); got != tc.want {
			t.Errorf("%.0f%% of %d: %v, want %v", 100*tc.far, tc.n, got, tc.want)
		}
	}
}
