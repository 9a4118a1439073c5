package score_test

import (
	"fmt"
	"math"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// The adaptive detector learns each sensor's normal windows, then scores
// how far a window departs from them and which features drove it.
func ExampleAdaptive() {
	det := score.NewAdaptive(score.AdaptiveConfig{}, func(string) float64 { return 0.5 })
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	window := func(i int, mean float64) *schemas.FeatureVector {
		wobble := 0.02 * math.Sin(float64(i)) // normal windows differ a little
		return &schemas.FeatureVector{SensorID: "pump-7-pressure", SensorType: "pressure",
			WindowStart: start.Add(time.Duration(i) * time.Minute), WindowEnd: start.Add(time.Duration(i+1) * time.Minute),
			Count: 120, Mean: mean + wobble, Std: 0.03 + wobble/10, Min: mean - 0.08, Max: mean + 0.08,
			RMS: mean + wobble, Kurtosis: -0.1, CrestFactor: 1.02, PeakToPeak: 0.16, Slope: wobble / 1000}
	}
	for i := range 10 {
		if v := det.Score(window(i, 4.2)); !v.OK {
			fmt.Println("window", i, "warming up")
		}
	}
	v := det.Score(window(10, 4.2))
	fmt.Printf("normal: score %.2f\n", v.Score)
	v = det.Score(window(11, 4.6)) // the level jumps
	fmt.Printf("jump:   score %.2f, mean share %.2f, mean deviation %+.0f spreads\n", v.Score, v.Shares["mean"], v.Deviations["mean"])
	// Output:
	// window 0 warming up
	// window 1 warming up
	// window 2 warming up
	// window 3 warming up
	// window 4 warming up
	// normal: score 0.00
	// jump:   score 1.00, mean share 0.50, mean deviation +12 spreads
}
