package drift_test

import "math"

func sin(turns float64) float64 { return math.Sin(2 * math.Pi * turns) }
