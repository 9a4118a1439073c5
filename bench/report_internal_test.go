package bench

import "testing"

func TestSILabel(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {250, "250"}, {2500, "2.5k"}, {300_000, "300k"}, {1_500_000, "1.5M"}, {-2000, "-2k"}} {
		if got := siLabel(tc.v); got != tc.want {
			t.Errorf("siLabel(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
