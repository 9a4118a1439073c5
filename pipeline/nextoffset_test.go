package pipeline

import "testing"

func TestNextOffsetRoundTrips(t *testing.T) {
	tests := []struct {
		tag, checkpoint string
		want            int64
		ok              bool
	}{
		{"s1", NextOffset("s1", 42), 42, true},
		{"s1", NextOffset("s1", 0), 0, true},
		{"s1", NextOffset("a1", 42), 0, false}, // another stage's
		{"s1", "", 0, false},
		{"s1", "s1 forty", 0, false},
		{"s1", "s12 4", 0, false},
	}
	for _, tc := range tests {
		if got, ok := ParseNextOffset(tc.tag, tc.checkpoint); got != tc.want || ok != tc.ok {
			t.Errorf("ParseNextOffset(%q, %q) = %d, %v; want %d, %v", tc.tag, tc.checkpoint, got, ok, tc.want, tc.ok)
		}
	}
}
