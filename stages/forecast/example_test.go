package forecast_test

import (
	"fmt"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/forecast"
)

// Evaluate scores forecasts against what the sensor did at their
// horizon, and against the naive forecast (the last value).
func ExampleEvaluate() {
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var fs []schemas.Forecast
	for i, v := range []float64{10, 12, 11, 13, 12, 11} {
		fs = append(fs, schemas.Forecast{SensorID: "p1", SensorType: "pressure", IssuedAt: at.Add(time.Duration(i) * time.Minute),
			HorizonS: 60, Observed: v, Value: 11.5, Lower: 10, Upper: 13})
	}
	acc := forecast.Evaluate(fs)
	fmt.Printf("%d forecasts, MAE %.2f of naive, %.0f%% inside their intervals\n", acc.Forecasts, acc.RelMAE, 100*acc.Coverage)
	// Output: 5 forecasts, MAE 0.50 of naive, 100% inside their intervals
}
