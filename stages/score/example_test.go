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

// The robust detector judges a window against how the sensor's windows
// vary from one to the next, so its scores mean the same on every sensor.
// A sensor read every few minutes gets one reading a window, and each
// reading is scored against the recent ones.
func ExampleRobust() {
	det := score.NewRobust(score.RobustConfig{}, func(string) float64 { return 0.5 })
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	reading := func(i int, v float64) *schemas.FeatureVector {
		return &schemas.FeatureVector{SensorID: "tank-3-level", SensorType: "level",
			WindowStart: start.Add(time.Duration(i) * 5 * time.Minute), WindowEnd: start.Add(time.Duration(i+1) * 5 * time.Minute),
			Count: 1, Mean: v}
	}
	for i := range 30 { // a slow daily cycle, read every 5 minutes
		det.Score(reading(i, 60+3*math.Sin(float64(i)/46)))
	}
	v := det.Score(reading(30, 60+3*math.Sin(30.0/46)))
	fmt.Printf("on the cycle: score %.2f\n", v.Score)
	v = det.Score(reading(31, 52))
	fmt.Printf("off it:       score %.2f, %+.0f robust spreads from the recent median\n", v.Score, v.Deviations["mean"])
	// Output:
	// on the cycle: score 0.00
	// off it:       score 0.83, -13 robust spreads from the recent median
}
