package cycle_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/smaint/smaint/stages/cycle"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// learn feeds one window a minute of value(i) for n minutes, keeping the
// last hour as history, and returns the cycle and how often it changed.
func learn(l cycle.Learner, n int, value func(i int) float64) (*cycle.Cycle, int) {
	var c *cycle.Cycle
	var starts []int64
	var values []float64
	changes := 0
	for i := range n {
		start := t0.Add(time.Duration(i) * time.Minute)
		if c == nil {
			c = l.Start(start)
		} else if l.Advance(c, start, starts, values) {
			changes++
		}
		starts, values = append(starts, start.UnixMicro()), append(values, value(i))
		if len(values) > 60 {
			starts, values = starts[1:], values[1:]
		}
	}
	return c, changes
}

func Example() {
	l := cycle.New(24*time.Hour, 96)
	// Three days of a daily cycle of amplitude 3 peaking at 06:00 UTC.
	c, _ := learn(l, 3*1440, func(i int) float64 { return 50 + 3*math.Sin(2*math.Pi*float64(i)/1440) })
	fmt.Println("usable:", l.Usable(c))
	for _, h := range []int{0, 6, 12, 18} {
		off := math.Round(10*l.At(c, t0.Add(time.Duration(h)*time.Hour)))/10 + 0 // + 0: no -0
		fmt.Printf("%02d:00 %+.1f\n", h, off)
	}
	// Output:
	// usable: true
	// 00:00 +0.0
	// 06:00 +3.0
	// 12:00 +0.0
	// 18:00 -3.0
}

// A cycle changes once a slot, is not usable before two whole cycles,
// nor ever on a flat noisy series, and a gap skips the slots it covers.
func TestLearner(t *testing.T) {
	l := cycle.New(24*time.Hour, 96)
	sine := func(i int) float64 { return 3 * math.Sin(2*math.Pi*float64(i)/1440) }
	c, changes := learn(l, 2*1440-20, sine)
	if changes != 2*96-2 || l.Usable(c) {
		t.Fatalf("%d changes (want one a slot: %d), usable %v before two whole days", changes, 2*96-2, l.Usable(c))
	}
	flat := func(i int) float64 { return 7 + 0.1*math.Sin(float64(i*i)) } // noise of no period
	if c, _ := learn(l, 4*1440, flat); l.Usable(c) {
		t.Fatal("a flat series' cycle is usable")
	}
	// A gap of three days: no slot is folded twice, and learning goes on.
	c, _ = learn(l, 1440+30, sine)
	folds := c.Folds
	if !l.Advance(c, t0.Add(4*24*time.Hour), []int64{t0.Add(4*24*time.Hour - time.Minute).UnixMicro()}, []float64{1}) || c.Folds != folds+1 {
		t.Fatalf("after a gap: %d folds, want %d", c.Folds, folds+1)
	}
}

// A Cycle's entry reads back exactly, slots not yet seen (NaN) included.
func TestEntryRoundTrip(t *testing.T) {
	l := cycle.New(24*time.Hour, 96)
	for _, minutes := range []int{300, 3 * 1440} { // within the first cycle, and after
		c, _ := learn(l, minutes, func(i int) float64 { return float64(i%97) / 7 })
		var back cycle.Cycle
		if err := json.Unmarshal(c.Entry(), &back); err != nil {
			t.Fatal(err)
		}
		same := len(back.Offsets) == len(c.Offsets)
		for i := range c.Offsets {
			a, b := c.Offsets[i], back.Offsets[i]
			same = same && (a == b || math.IsNaN(a) && math.IsNaN(b))
		}
		back.Offsets, c.Offsets = nil, nil
		if !same || !reflect.DeepEqual(&back, c) {
			t.Fatalf("after %d minutes: %s read back as %+v", minutes, c.Entry(), back)
		}
	}
	if !l.Fits(&cycle.Cycle{Offsets: make([]float64, 96)}) || l.Fits(&cycle.Cycle{Offsets: make([]float64, 48)}) || l.Fits(nil) {
		t.Fatal("Fits")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		period time.Duration
		slots  int
		ok     bool
	}{
		{24 * time.Hour, 96, true},
		{168 * time.Hour, 96, true},
		{-1, 0, true}, // none
		{24 * time.Hour, 7, false},
		{24 * time.Hour, 1, false},
		{time.Hour, 20000, false},
		{time.Second, 3, false}, // slots of 333333.3 µs
	} {
		if err := cycle.Validate(tc.period, tc.slots); (err == nil) != tc.ok {
			t.Errorf("%v in %d: %v", tc.period, tc.slots, err)
		}
	}
	if cycle.New(-1, 96).On() || !cycle.New(time.Hour, 4).On() {
		t.Fatal("On")
	}
}
